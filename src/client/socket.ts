/**
 * One WebSocket interface for Node and browsers (PROTOCOL.md §1). Browsers can't set headers, so there the token
 * travels in the subprotocol list; in Node the `ws` package sends it as a Bearer header and, unlike a browser,
 * can tell us the HTTP status of a refused upgrade. `ws` is imported lazily so this folder bundles for browsers.
 */

/** The subprotocol every roombus server speaks; the server answers with it when the token came as a subprotocol. */
export const SUBPROTOCOL = "roombus.v1";
export const TOKEN_SUBPROTOCOL_PREFIX = "roombus.token.";

/** What the SDK needs from a WebSocket object: the part browsers' `WebSocket` and the `ws` package share. */
export interface WebSocketLike {
  binaryType: string;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: "open" | "message" | "close" | "error", listener: (event: never) => void): void;
}

/**
 * A WebSocket constructor: the browser's global `WebSocket`, or the `ws` package's (which also takes options). The
 * instance type is left open because the DOM's and `ws`'s event typings don't unify; it must behave like WebSocketLike.
 */
export type WebSocketConstructor = new (
  url: string,
  protocols?: string | string[],
  // Only `ws`-compatible constructors read this; it is how the Bearer header is passed.
  options?: { headers?: Record<string, string>; perMessageDeflate?: boolean },
) => object;

/** How the token reaches the server: an `Authorization` header (Node) or the subprotocol list (browsers). */
export type TokenTransport = "header" | "subprotocol";

/** Extra surface of a `ws` socket, used only when present. */
interface NodeWsExtras {
  on(event: "unexpected-response", listener: (request: unknown, response: HttpResponseLike) => void): unknown;
  terminate(): void;
}

interface HttpResponseLike {
  statusCode?: number;
  on(event: "data", listener: (chunk: Uint8Array) => void): unknown;
  on(event: "end" | "close" | "error", listener: () => void): unknown;
}

/** The HTTP answer that refused the upgrade (known only with `ws`). */
export interface Refusal {
  status: number;
  /** The start of the response body, one line, when the server sent one. */
  body: string | undefined;
}

/** A socket whose event handlers the owner swaps as it moves from the handshake to the open room client. */
export interface Socket {
  send(bytes: Uint8Array): void;
  close(code: number, reason?: string): void;
  /** `bytes` is undefined for a frame that was not binary. */
  onMessage: (bytes: Uint8Array | undefined) => void;
  onClose: (code: number, reason: string) => void;
  onError: (message: string | undefined) => void;
  /** Set before `onClose` runs when the server answered the upgrade with an HTTP error. */
  refusal: Refusal | undefined;
}

export interface OpenOptions {
  WebSocket?: WebSocketConstructor | undefined;
  via?: TokenTransport | undefined;
}

const MAX_REFUSAL_BODY_BYTES = 1024;
const MAX_REFUSAL_BODY_CHARS = 200;

function runningInNode(): boolean {
  const proc = (globalThis as { process?: { versions?: { node?: unknown } } }).process;
  return typeof proc?.versions?.node === "string";
}

function globalWebSocket(): WebSocketConstructor | undefined {
  return (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
}

async function importWs(): Promise<WebSocketConstructor> {
  const module = await import("ws");
  return module.default;
}

/**
 * Starts opening a socket to `url` carrying `token`. Resolves as soon as the socket object exists (not when it is
 * open); the caller installs its handlers synchronously, before any event can be delivered.
 */
export async function openSocket(url: string, token: string, options: OpenOptions): Promise<Socket> {
  // Node defaults to the header (and so to `ws`) even where a global WebSocket exists, because only `ws` reports the
  // HTTP status of a refused upgrade.
  const via: TokenTransport = options.via ?? (runningInNode() ? "header" : "subprotocol");
  let Ctor = options.WebSocket;
  let isWsPackage = false;
  if (Ctor === undefined) {
    const global = via === "subprotocol" ? globalWebSocket() : undefined;
    if (global !== undefined) {
      Ctor = global;
    } else {
      Ctor = await importWs();
      isWsPackage = true;
    }
  }

  const raw = (
    via === "header"
      ? new Ctor(url, [], { headers: { Authorization: `Bearer ${token}` }, perMessageDeflate: false })
      : new Ctor(url, [SUBPROTOCOL, TOKEN_SUBPROTOCOL_PREFIX + token], { perMessageDeflate: false })
  ) as WebSocketLike;
  raw.binaryType = isWsPackage ? "nodebuffer" : "arraybuffer";

  const socket: Socket = {
    send: (bytes) => raw.send(bytes),
    close: (code, reason) => raw.close(code, reason),
    onMessage: () => undefined,
    onClose: () => undefined,
    onError: () => undefined,
    refusal: undefined,
  };

  raw.addEventListener("message", (event: { data: unknown }) => socket.onMessage(bytesOf(event.data)));
  raw.addEventListener("close", (event: { code: number; reason: string }) => socket.onClose(event.code, event.reason));
  raw.addEventListener("error", (event: { message?: unknown }) =>
    socket.onError(typeof event.message === "string" ? event.message : undefined),
  );

  const extras = raw as unknown as Partial<NodeWsExtras>;
  if (typeof extras.on === "function" && typeof extras.terminate === "function") {
    const ws = raw as unknown as NodeWsExtras;
    // With a listener here `ws` leaves the refused handshake to us: keep the status, read a little of the body for
    // the error message, then abort (which makes `ws` emit "close").
    ws.on("unexpected-response", (_request, response) => {
      const chunks: Uint8Array[] = [];
      let size = 0;
      let finished = false;
      const finish = () => {
        if (finished) return;
        finished = true;
        socket.refusal = { status: response.statusCode ?? 0, body: bodyLine(chunks) };
        ws.terminate();
      };
      response.on("data", (chunk) => {
        chunks.push(chunk);
        size += chunk.byteLength;
        if (size >= MAX_REFUSAL_BODY_BYTES) finish();
      });
      response.on("end", finish);
      response.on("close", finish);
      response.on("error", finish);
    });
  }
  return socket;
}

function bytesOf(data: unknown): Uint8Array | undefined {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return undefined;
}

function bodyLine(chunks: Uint8Array[]): string | undefined {
  if (chunks.length === 0) return undefined;
  const joined = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0));
  let offset = 0;
  for (const chunk of chunks) {
    joined.set(chunk, offset);
    offset += chunk.byteLength;
  }
  const text = oneLine(new TextDecoder().decode(joined.subarray(0, MAX_REFUSAL_BODY_BYTES)));
  if (text.length === 0) return undefined;
  return text.length > MAX_REFUSAL_BODY_CHARS ? `${text.slice(0, MAX_REFUSAL_BODY_CHARS)}…` : text;
}

/** Collapses whitespace and drops control characters, so server text can't break a log line or a terminal. */
export function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, " ").replace(/\s+/g, " ").trim();
}
