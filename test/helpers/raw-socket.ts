/**
 * A bare `ws` client that speaks frames by hand, for the tests that must misbehave (text frames, garbage, never
 * answering pings, never reading) or inspect the HTTP answer to a refused upgrade.
 */
import WebSocket, { type ClientOptions } from "ws";
import { decodeServerFrame, encodeRequest, type ServerFrame } from "../../src/protocol/frames.js";

export interface RawSocket {
  ws: WebSocket;
  frames: ServerFrame[];
  /** Resolves with the first frame (already received or not) that matches. */
  waitFor(match: (frame: ServerFrame) => boolean, timeoutMs?: number): Promise<ServerFrame>;
  request(id: number, op: string, args: object): void;
  closed: Promise<{ code: number; reason: string }>;
}

export function openRaw(url: string, token: string | undefined, options: ClientOptions = {}): Promise<RawSocket> {
  const headers: Record<string, string> = token === undefined ? {} : { authorization: `Bearer ${token}` };
  const ws = new WebSocket(url, { headers, perMessageDeflate: false, ...options });
  const frames: ServerFrame[] = [];
  const waiters = new Set<() => void>();
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.once("close", (code, reason) => resolve({ code, reason: reason.toString() }));
  });
  ws.on("message", (data) => {
    const frame = decodeServerFrame(data as Buffer);
    if (frame !== undefined) frames.push(frame);
    for (const wake of waiters) wake();
  });
  const socket: RawSocket = {
    ws,
    frames,
    closed,
    request: (id, op, args) => ws.send(encodeRequest(id, op, args)),
    waitFor(match, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = frames.find(match);
          if (found === undefined) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(found);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error("no matching frame in time"));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
  };
  return new Promise((resolve, reject) => {
    ws.once("open", () => resolve(socket));
    ws.once("unexpected-response", (_request, response) => {
      let body = "";
      response.on("data", (chunk: Buffer) => (body += chunk.toString()));
      response.on("end", () => reject(new UpgradeRefused(response.statusCode ?? 0, body.trim())));
    });
    ws.once("error", reject);
  });
}

export class UpgradeRefused extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`upgrade refused with ${status}: ${body}`);
  }
}

export function isResponse(id: number) {
  return (frame: ServerFrame) => frame.t === "res" && frame.id === id;
}

export function isEvent(ev: string) {
  return (frame: ServerFrame) => frame.t === "evt" && frame.ev === ev;
}
