export * from "./bus.js";
export * from "./memory-bus.js";
export * from "./presence.js";
export * from "./redis-bus.js";
export { redactRedisUrl, type RedisLogger } from "../redis/connection.js";
export * from "./redis-presence.js";
