/**
 * Load-generator clients: raw `ws` sockets speaking the wire protocol through src/protocol's own encoder and decoder
 * (no SDK in the way). Every socket is registered so a phase can drop all of its sockets at once, whatever happened.
 */
import WebSocket from "ws";
import { decodeServerFrame, type ServerFrame } from "../../src/protocol/frames.js";

export class SocketSet {
  private readonly sockets = new Set<WebSocket>();

  add(ws: WebSocket): WebSocket {
    this.sockets.add(ws);
    ws.once("close", () => this.sockets.delete(ws));
    return ws;
  }

  get size(): number {
    return this.sockets.size;
  }

  /** Drops every socket now (no closing handshake). */
  terminateAll(): void {
    for (const ws of this.sockets) ws.terminate();
    this.sockets.clear();
  }
}

const CLIENT_OPTIONS = { perMessageDeflate: false, handshakeTimeout: 10_000 } as const;

/** Opens a plain socket and resolves once it is open. */
export function openSocket(url: string, set: SocketSet, timeoutMs = 10_000): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = set.add(new WebSocket(url, CLIENT_OPTIONS));
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error("socket did not open in time"));
    }, timeoutMs);
    // A listener stays for the socket's life: an 'error' event without one would crash the load generator.
    ws.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    ws.once("open", () => {
      clearTimeout(timer);
      resolve(ws);
    });
  });
}

export interface RoombusConnection {
  ws: WebSocket;
  participantId: string;
  /** The `room.ready` data. */
  ready: Record<string, unknown>;
}

/** Connects to a room with a Bearer token and resolves on `room.ready` (PROTOCOL.md §1). */
export function connectRoombus(url: string, token: string, set: SocketSet, timeoutMs = 10_000): Promise<RoombusConnection> {
  return new Promise((resolve, reject) => {
    const ws = set.add(new WebSocket(url, { ...CLIENT_OPTIONS, headers: { authorization: `Bearer ${token}` } }));
    const fail = (error: Error): void => {
      clearTimeout(timer);
      reject(error);
    };
    const timer = setTimeout(() => {
      ws.terminate();
      fail(new Error("no room.ready in time"));
    }, timeoutMs);
    ws.on("error", fail);
    ws.once("close", (code) => fail(new Error(`socket closed (${code}) before room.ready`)));
    ws.once("message", (data: Buffer) => {
      const frame = decodeServerFrame(data);
      if (frame?.t !== "evt" || frame.ev !== "room.ready") {
        ws.terminate();
        fail(new Error("the first frame was not room.ready"));
        return;
      }
      clearTimeout(timer);
      resolve({ ws, participantId: frame.data.participant_id as string, ready: frame.data });
    });
  });
}

/** Decodes every frame on a socket and hands it to `onFrame`; undecodable frames are reported as errors. */
export function onFrames(ws: WebSocket, onFrame: (frame: ServerFrame) => void, onError: (error: Error) => void): void {
  ws.on("message", (data: Buffer) => {
    const frame = decodeServerFrame(data);
    if (frame === undefined) onError(new Error("undecodable server frame"));
    else onFrame(frame);
  });
}

export interface OpenManyResult {
  opened: number;
  failed: number;
  firstError: string | undefined;
  seconds: number;
}

/**
 * Opens connections `from` to `to` - 1 (`open(index)` each) through a pool of `concurrency` handshakes in flight,
 * logging progress every `progressMs`; stops starting new ones once `signal` aborts. A failed open is counted, not
 * thrown: the caller decides whether the run can go on.
 */
export async function openMany(
  range: { from?: number; to: number },
  options: { label: string; concurrency: number; log: (line: string) => void; signal: AbortSignal; progressMs?: number },
  open: (index: number) => Promise<unknown>,
): Promise<OpenManyResult> {
  const from = range.from ?? 0;
  let next = from;
  let opened = 0;
  let failed = 0;
  let firstError: string | undefined;
  const started = performance.now();
  const count = (value: number): string => value.toLocaleString("en-US");
  const progress = setInterval(
    () => options.log(`${options.label}: ${count(from + opened)}/${count(range.to)} connected, ${count(failed)} failed`),
    options.progressMs ?? 1000,
  );
  const worker = async (): Promise<void> => {
    while (next < range.to && !options.signal.aborted) {
      const index = next++;
      try {
        await open(index);
        opened++;
      } catch (error) {
        failed++;
        firstError ??= error instanceof Error ? error.message : String(error);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(0, Math.min(options.concurrency, range.to - from)) }, worker));
  } finally {
    clearInterval(progress);
  }
  return { opened, failed, firstError, seconds: (performance.now() - started) / 1000 };
}
