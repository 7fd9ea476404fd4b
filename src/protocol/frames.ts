/**
 * The three frame kinds of PROTOCOL.md §2. Requests are checked by hand (four fields, on every message) and their
 * args by the op's zod schema; responses and events are built here so every sender makes the same bytes.
 */
import { decodeMsgpackMap, encodeMsgpack } from "./codec.js";
import type { WireError } from "./errors.js";
import type { EventData, EventName } from "./events.js";

const MAX_REQUEST_ID = 0xffff_ffff;

export interface RequestFrame {
  t: "req";
  id: number;
  op: string;
  args: Record<string, unknown>;
}

export type RequestDecodeResult =
  | { ok: true; frame: RequestFrame }
  /** The frame is a map with a usable `id`: answer 1002 to that id. */
  | { ok: false; id: number; reason: string }
  /** Nothing to answer to: close the socket with 4400. */
  | { ok: false; id: undefined; reason: string };

export function isRequestId(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 0 && value <= MAX_REQUEST_ID;
}

function isPlainMap(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    return false;
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** Decodes a client → server frame. Never throws; reasons never contain input values. */
export function decodeRequest(bytes: Uint8Array): RequestDecodeResult {
  const decoded = decodeMsgpackMap(bytes);
  if (!decoded.ok) {
    return decoded.requestId === undefined
      ? { ok: false, id: undefined, reason: decoded.reason }
      : { ok: false, id: decoded.requestId, reason: decoded.reason };
  }
  const frame = decoded.value;
  const id = isRequestId(frame.id) ? frame.id : undefined;
  const fail = (reason: string): RequestDecodeResult =>
    id === undefined ? { ok: false, id: undefined, reason } : { ok: false, id, reason };

  if (frame.t !== "req") return fail("unknown frame kind: `t` must be \"req\"");
  if (id === undefined) return fail("`id` must be an unsigned 32-bit integer");
  if (typeof frame.op !== "string") return fail("`op` must be a string");
  if (!isPlainMap(frame.args)) return fail("`args` must be a map");
  for (const key in frame) {
    if (key !== "t" && key !== "id" && key !== "op" && key !== "args") return fail("unexpected field in request frame");
  }
  return { ok: true, frame: frame as unknown as RequestFrame };
}

export function encodeRequest(id: number, op: string, args: object): Buffer {
  return encodeMsgpack({ t: "req", id, op, args });
}

export function encodeResult(id: number, result: unknown): Buffer {
  return encodeMsgpack({ t: "res", id, ok: true, result: result ?? null });
}

export function encodeError(id: number, error: WireError): Buffer {
  return encodeMsgpack({ t: "res", id, ok: false, error });
}

export function encodeEvent<Ev extends EventName>(ev: Ev, data: EventData<Ev>): Buffer {
  return encodeMsgpack({ t: "evt", ev, data });
}

export type ServerFrame =
  | { t: "res"; id: number; ok: true; result: unknown }
  | { t: "res"; id: number; ok: false; error: WireError }
  | { t: "evt"; ev: string; data: Record<string, unknown> };

/** Decodes a server → client frame (client side). */
export function decodeServerFrame(bytes: Uint8Array): ServerFrame | undefined {
  const decoded = decodeMsgpackMap(bytes);
  if (!decoded.ok) return undefined;
  const frame = decoded.value;
  if (frame.t === "res" && isRequestId(frame.id) && typeof frame.ok === "boolean") return frame as ServerFrame;
  if (frame.t === "evt" && typeof frame.ev === "string" && isPlainMap(frame.data)) return frame as ServerFrame;
  return undefined;
}
