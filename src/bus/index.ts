export * from "./bus.js";
export * from "./memory-bus.js";
export * from "./presence.js";
