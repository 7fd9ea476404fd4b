/**
 * The roombus client SDK, for Node and browsers.
 *
 * @example
 * const client = await connect(roomUrl("ws://127.0.0.1:8765", "demo"), token);
 * client.on("messaging.message", (m) => console.log(m.from_identity, m.message));
 * await client.broadcast("chat", { text: "hello" });
 */
export { connect, roomUrl, type ConnectOptions } from "./connect.js";
export { ConnectError, type ConnectFailure } from "./errors.js";
export {
  RoomClient,
  type CloseInfo,
  type EventListener,
  type NextOptions,
  type RequestOptions,
  type ToolCall,
  type ToolDefinition,
} from "./room-client.js";
export { SecretsClient, type SecretRequest } from "./secrets.js";
export type { TokenTransport, WebSocketConstructor } from "./socket.js";
export { RoombusError, isRoombusError, ERROR_CODES, CLOSE_CODES, type ErrorName, type ErrorCode } from "../protocol/errors.js";
export type { EventData, EventName } from "../protocol/events.js";
export type { OpArgs, OpName, OpResult, SecretInfo, OAuthClient } from "../protocol/ops.js";
export type { Participant, Role } from "../protocol/common.js";
export {
  ProjectApi,
  ProjectApiError,
  type DockerConfig,
  type KeyCollection,
  type ProjectSecret,
  type PullSecret,
  type ResolvedEnvironment,
} from "./project-api.js";
