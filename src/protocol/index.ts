export * from "./codec.js";
export * from "./common.js";
export * from "./errors.js";
export * from "./events.js";
export * from "./frames.js";
export * from "./limits.js";
export * from "./ops.js";
