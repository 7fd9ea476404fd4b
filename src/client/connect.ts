/** Opening a room session: the upgrade with the token, then waiting for `room.ready` (PROTOCOL.md §1). */
import { ROOM_NAME_PATTERN } from "../protocol/common.js";
import type { EventData } from "../protocol/events.js";
import { decodeServerFrame } from "../protocol/frames.js";
import { DEFAULT_MAX_FRAME_BYTES } from "../protocol/limits.js";
import { ConnectError, connectErrorFrom } from "./errors.js";
import { RoomClient } from "./room-client.js";
import { openSocket, type Socket, type TokenTransport, type WebSocketConstructor } from "./socket.js";

export interface ConnectOptions {
  /** Default deadline of every request, in ms (default 30 000). */
  requestTimeoutMs?: number;
  /** How long to wait for `room.ready`, in ms (default 30 000). */
  connectTimeoutMs?: number;
  /** Larger requests fail locally with `too_large` instead of making the server close the socket (default 256 KiB). */
  maxFrameBytes?: number;
  /** A WebSocket constructor to use instead of the default (`ws` in Node, the global one in browsers). */
  WebSocket?: WebSocketConstructor;
  /** How the token is sent: `header` (default in Node; needs `ws` or a compatible constructor) or `subprotocol`. */
  via?: TokenTransport;
}

const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
const DEFAULT_CONNECT_TIMEOUT_MS = 30_000;
/** Three base64url parts: anything else can't be a JWT, and some characters would not even fit in a header. */
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/**
 * Joins a room: resolves with the client once the server's `room.ready` has arrived, or rejects with a ConnectError
 * that says what to do (its `status` is the HTTP status of a refused upgrade, when known).
 * @example const client = await connect("ws://127.0.0.1:8765/rooms/demo", process.env.ROOMBUS_TOKEN!);
 */
export async function connect(url: string, token: string, options: ConnectOptions = {}): Promise<RoomClient> {
  const jwt = token.trim();
  if (!JWT_SHAPE.test(jwt)) {
    throw new ConnectError(
      "invalid",
      jwt.length === 0 ? "no token given: mint one with `roombus token`" : "the token is not a JWT: mint one with `roombus token`",
    );
  }
  const settings = {
    requestTimeoutMs: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
    maxFrameBytes: options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
  };
  const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;

  let socket: Socket;
  try {
    socket = await openSocket(url, jwt, { WebSocket: options.WebSocket, via: options.via });
  } catch (error) {
    // Constructors throw on a URL they can't use (bad scheme, unparsable).
    const detail = error instanceof Error ? `: ${error.message}` : "";
    throw new ConnectError("invalid", `cannot open ${url}${detail}; use ws://HOST:PORT/rooms/ROOM`);
  }

  return new Promise<RoomClient>((resolve, reject) => {
    let settled = false;
    let errorMessage: string | undefined;
    const fail = (error: ConnectError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(error);
    };
    const timer = setTimeout(() => {
      fail(new ConnectError("timeout", `no answer from ${url} within ${connectTimeoutMs} ms: is the server overloaded or the address wrong?`));
      try {
        socket.close(1000);
      } catch {
        // Already closing; the close event finds the promise settled.
      }
    }, connectTimeoutMs);

    socket.onError = (message) => {
      errorMessage ??= message;
      // Browsers follow a failed handshake's error with a close event, but not every WebSocket does (Node 20's
      // built-in one stays CONNECTING), so the error settles it. `ws` has recorded any HTTP refusal by now.
      fail(connectErrorFrom(url, { refusal: socket.refusal, errorMessage, closeCode: undefined, closeReason: "" }));
      try {
        socket.close(1000);
      } catch {
        // Already closing.
      }
    };
    socket.onClose = (code, reason) =>
      fail(connectErrorFrom(url, { refusal: socket.refusal, errorMessage, closeCode: code, closeReason: reason }));
    socket.onMessage = (bytes) => {
      if (settled) return;
      const frame = bytes === undefined ? undefined : decodeServerFrame(bytes);
      if (frame === undefined || frame.t !== "evt" || frame.ev !== "room.ready") {
        fail(new ConnectError("protocol", `${url} did not start with room.ready: is it a roombus server speaking protocol v1?`));
        socket.close(4400, "expected room.ready");
        return;
      }
      settled = true;
      clearTimeout(timer);
      // The client takes over the socket's handlers synchronously, so no later frame can slip past it.
      resolve(new RoomClient(socket, frame.data as EventData<"room.ready">, settings));
    };
  });
}

/**
 * Turns a server address and a room name into the room's WebSocket URL (http(s) becomes ws(s)).
 * @example roomUrl("ws://127.0.0.1:8765", "demo") // "ws://127.0.0.1:8765/rooms/demo"
 */
export function roomUrl(baseUrl: string, room: string): string {
  if (!ROOM_NAME_PATTERN.test(room)) {
    throw new TypeError(
      "invalid room name: use letters, digits, '.', '_' or '-' (at most 128, starting with a letter or digit)",
    );
  }
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new TypeError(`not a URL: ${baseUrl} (expected ws://HOST:PORT)`);
  }
  if (url.protocol === "http:") url.protocol = "ws:";
  else if (url.protocol === "https:") url.protocol = "wss:";
  if (url.protocol !== "ws:" && url.protocol !== "wss:") {
    throw new TypeError(`not a WebSocket URL: ${baseUrl} (expected ws://HOST:PORT or wss://HOST:PORT)`);
  }
  url.pathname = `${url.pathname.replace(/\/+$/, "")}/rooms/${room}`;
  return url.toString();
}
