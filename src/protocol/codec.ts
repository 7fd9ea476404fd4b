/**
 * The frame codec: one msgpack map per WebSocket message, msgpack's standard types only (PROTOCOL.md §2).
 *
 * Decoding never throws. Before msgpackr builds any object, `scanStandardMsgpack` walks the bytes once and refuses
 * extension types, non-string map keys, nesting deeper than MAX_DEPTH, length claims larger than the bytes that
 * follow, trailing bytes, and a top-level value that is not a map. msgpackr then decodes bytes that are known to be
 * plain, so none of its extensions (records, timestamps, structured clone) can be reached from the wire.
 */
import { Packr, Unpackr, type Options } from "msgpackr";
import { MAX_DEPTH } from "./limits.js";

// `skipValues` is a msgpackr option its type declarations do not list yet.
const packr = new Packr({
  useRecords: false,
  structuredClone: false,
  moreTypes: false,
  // Absent optional fields are left out, as a client written from PROTOCOL.md expects; never msgpackr's ext 0.
  skipValues: [undefined],
  encodeUndefinedAsNil: true,
} as Options);

const unpackr = new Unpackr({
  useRecords: false,
  mapsAsObjects: true,
  structuredClone: false,
  moreTypes: false,
  int64AsType: "number",
});

export type DecodeResult<T> = { ok: true; value: T } | { ok: false; reason: string; requestId?: number | undefined };

/** Encodes any plain value (maps, arrays, strings, numbers, booleans, null, Uint8Array) as msgpack. */
export function encodeMsgpack(value: unknown): Buffer {
  return packr.pack(value);
}

/** Decodes one msgpack map of standard types; anything else gives `{ok: false}` with a reason that holds no input. */
export function decodeMsgpackMap(bytes: Uint8Array): DecodeResult<Record<string, unknown>> {
  const scan = scanFrame(bytes);
  if (scan.problem !== undefined) return { ok: false, reason: scan.problem, requestId: scan.requestId };
  try {
    const value: unknown = unpackr.unpack(bytes);
    return { ok: true, value: value as Record<string, unknown> };
  } catch {
    // The scan makes this unreachable in practice; the catch keeps "never throws" true regardless.
    return { ok: false, reason: "undecodable msgpack" };
  }
}

interface Container {
  /** Items (for maps: keys and values counted separately) still to read. */
  remaining: number;
  isMap: boolean;
}

/** Returns undefined when `bytes` hold exactly one msgpack map of standard types, else why not. */
export function scanStandardMsgpack(bytes: Uint8Array): string | undefined {
  return scanFrame(bytes).problem;
}

export interface FrameScan {
  /** Why the bytes are refused; undefined when they are one map of standard types. */
  problem: string | undefined;
  /**
   * The top-level `id` when it was read before the problem: a request with a readable id gets a 1002 answer
   * instead of a closed socket (PROTOCOL.md §2).
   */
  requestId: number | undefined;
}

/** ASCII "id": the one top-level key the scan watches for. */
const ID_KEY_FIXSTR = 0xa2;

export function scanFrame(bytes: Uint8Array): FrameScan {
  let requestId: number | undefined;
  let nextValueIsId = false;
  const fail = (problem: string): FrameScan => ({ problem, requestId });
  const length = bytes.length;
  if (length === 0) return fail("empty frame");
  const first = bytes[0]!;
  if (!((first >= 0x80 && first <= 0x8f) || first === 0xde || first === 0xdf)) return fail("frame is not a map");

  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: Container[] = [];
  let pos = 0;
  let done = false;

  while (!done) {
    if (pos >= length) return fail("truncated frame");
    const top = stack[stack.length - 1];
    const expectingKey = top !== undefined && top.isMap && top.remaining % 2 === 0;
    const byte = bytes[pos++]!;
    let skip = 0;
    let open: Container | undefined;
    let isString = false;

    if (byte <= 0x7f || byte >= 0xe0) {
      // fixint
    } else if (byte <= 0x8f) {
      open = { remaining: (byte & 0x0f) * 2, isMap: true };
    } else if (byte <= 0x9f) {
      open = { remaining: byte & 0x0f, isMap: false };
    } else if (byte <= 0xbf) {
      skip = byte & 0x1f;
      isString = true;
    } else {
      switch (byte) {
        case 0xc0:
        case 0xc2:
        case 0xc3:
          break;
        case 0xc4:
          skip = readLength(view, pos, 1);
          pos += 1;
          break;
        case 0xc5:
          skip = readLength(view, pos, 2);
          pos += 2;
          break;
        case 0xc6:
          skip = readLength(view, pos, 4);
          pos += 4;
          break;
        case 0xca:
          skip = 4;
          break;
        case 0xcb:
          skip = 8;
          break;
        case 0xcc:
        case 0xd0:
          skip = 1;
          break;
        case 0xcd:
        case 0xd1:
          skip = 2;
          break;
        case 0xce:
        case 0xd2:
          skip = 4;
          break;
        case 0xcf:
        case 0xd3:
          skip = 8;
          break;
        case 0xd9:
          skip = readLength(view, pos, 1);
          pos += 1;
          isString = true;
          break;
        case 0xda:
          skip = readLength(view, pos, 2);
          pos += 2;
          isString = true;
          break;
        case 0xdb:
          skip = readLength(view, pos, 4);
          pos += 4;
          isString = true;
          break;
        case 0xdc:
          open = { remaining: readLength(view, pos, 2), isMap: false };
          pos += 2;
          break;
        case 0xdd:
          open = { remaining: readLength(view, pos, 4), isMap: false };
          pos += 4;
          break;
        case 0xde:
          open = { remaining: readLength(view, pos, 2) * 2, isMap: true };
          pos += 2;
          break;
        case 0xdf:
          open = { remaining: readLength(view, pos, 4) * 2, isMap: true };
          pos += 4;
          break;
        default:
          // 0xc1 (never used), 0xc7-0xc9 and 0xd4-0xd8 (extension types)
          return fail(byte === 0xc1 ? "reserved msgpack byte" : "msgpack extension types are not accepted");
      }
    }

    if (pos > length) return fail("truncated frame");
    if (expectingKey && !isString) return fail("map keys must be strings");
    if (skip > length - pos) return fail("length claim exceeds frame");
    if (stack.length === 1 && open === undefined) {
      if (expectingKey) {
        nextValueIsId = byte === ID_KEY_FIXSTR && bytes[pos] === 0x69 && bytes[pos + 1] === 0x64;
      } else if (nextValueIsId) {
        requestId = readUnsigned(view, byte, pos);
        nextValueIsId = false;
      }
    }
    pos += skip;

    if (open !== undefined) {
      // Every item takes at least one byte, so a count larger than what is left is a lie.
      if (open.remaining > length - pos) return fail("length claim exceeds frame");
      if (stack.length >= MAX_DEPTH) return fail("nesting too deep");
      if (top !== undefined) top.remaining--;
      if (open.remaining > 0) {
        stack.push(open);
        continue;
      }
    } else if (top !== undefined) {
      top.remaining--;
    }
    // Close every container that this value completed.
    while (stack.length > 0 && stack[stack.length - 1]!.remaining === 0) stack.pop();
    if (stack.length === 0) done = true;
  }
  return pos === length ? { problem: undefined, requestId } : fail("trailing bytes after the frame");
}

/** The value of an unsigned integer token (fixint, uint8/16/32), else undefined. */
function readUnsigned(view: DataView, byte: number, pos: number): number | undefined {
  if (byte <= 0x7f) return byte;
  if (byte === 0xcc) return view.getUint8(pos);
  if (byte === 0xcd) return view.getUint16(pos);
  if (byte === 0xce) return view.getUint32(pos);
  return undefined;
}

function readLength(view: DataView, pos: number, width: 1 | 2 | 4): number {
  if (pos + width > view.byteLength) return Number.MAX_SAFE_INTEGER;
  if (width === 1) return view.getUint8(pos);
  if (width === 2) return view.getUint16(pos);
  return view.getUint32(pos);
}
