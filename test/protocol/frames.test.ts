import { describe, expect, it } from "vitest";
import { encodeMsgpack } from "../../src/protocol/codec.js";
import { EVENTS } from "../../src/protocol/events.js";
import {
  decodeRequest,
  decodeServerFrame,
  encodeError,
  encodeEvent,
  encodeRequest,
  encodeResult,
  isRequestId,
} from "../../src/protocol/frames.js";
import { REQUEST_REASONS } from "./reasons.js";

/** fixstr bytes of a short ASCII string. */
const str = (s: string): number[] => [0xa0 | s.length, ...Buffer.from(s, "latin1")];
const VALID = { t: "req", id: 7, op: "room.list_participants", args: {} };
const frame = (changes: Record<string, unknown>, drop: string[] = []) => {
  const out: Record<string, unknown> = { ...VALID, ...changes };
  for (const key of drop) delete out[key];
  return encodeMsgpack(out);
};

describe("decodeRequest: a well-formed request decodes", () => {
  it("returns the frame", () => {
    expect(decodeRequest(encodeRequest(7, "room.list_participants", {}))).toEqual({ ok: true, frame: VALID });
  });

  it("accepts an op it does not know (the router answers unknown ops)", () => {
    expect(decodeRequest(frame({ op: "no.such_op" })).ok).toBe(true);
  });

  it.each([0, 1, 0x7fff_ffff, 0xffff_ffff])("accepts the id %d", (id) => {
    expect(decodeRequest(frame({ id }))).toMatchObject({ ok: true, frame: { id } });
  });

  it("accepts an id written as a uint64 that fits in 32 bits", () => {
    const bytes = Uint8Array.from([
      0x84, ...str("t"), ...str("req"), ...str("op"), ...str("x"), ...str("args"), 0x80,
      ...str("id"), 0xcf, 0, 0, 0, 0, 0, 0, 0, 9,
    ]);
    expect(decodeRequest(bytes)).toMatchObject({ ok: true, frame: { id: 9 } });
  });
});

describe("decodeRequest: a frame with a readable id is answered to that id (1002)", () => {
  it.each([
    ["unknown t", frame({ t: "res" })],
    ["t of another case", frame({ t: "REQ" })],
    ["t of the wrong type", frame({ t: 1 })],
    ["missing t", frame({}, ["t"])],
    ["missing op", frame({}, ["op"])],
    ["op of the wrong type", frame({ op: 42 })],
    ["op as binary", frame({ op: new Uint8Array([1]) })],
    ["missing args", frame({}, ["args"])],
    ["args as an array", frame({ args: [] })],
    ["args as nil", frame({ args: null })],
    ["args as a string", frame({ args: "x" })],
    ["args as binary", frame({ args: new Uint8Array(2) })],
    ["an extra field", frame({ extra: 1 })],
    ["an extra __proto__ field", Uint8Array.from([0x85, ...frame({}).subarray(1), ...str("__proto__"), 0x80])],
  ])("%s", (_, bytes) => {
    const result = decodeRequest(bytes);
    expect(result).toMatchObject({ ok: false, id: 7 });
    expect(result.ok || REQUEST_REASONS.has(result.reason)).toBe(true);
  });
});

describe("decodeRequest: a frame without a readable id closes the socket (4400)", () => {
  it.each([
    ["missing id", frame({}, ["id"])],
    ["negative id", frame({ id: -1 })],
    ["id of 2^32", frame({ id: 0x1_0000_0000 })],
    ["id beyond safe integers", frame({ id: 2 ** 60 })],
    ["fractional id", frame({ id: 1.5 })],
    ["id as a string", frame({ id: "7" })],
    ["id as nil", frame({ id: null })],
    ["id as a boolean", frame({ id: true })],
    ["id as NaN", frame({ id: Number.NaN })],
    ["id as infinity", frame({ id: Number.POSITIVE_INFINITY })],
    ["id as an array", frame({ id: [7] })],
    ["missing id and unknown t", frame({ t: "evt" }, ["id"])],
    ["bad id and an extra field", frame({ id: -7, extra: 1 })],
    ["a top-level array", encodeMsgpack([VALID])],
    ["undecodable bytes", Uint8Array.from([0x84, 0xc1])],
    ["no bytes", new Uint8Array(0)],
  ])("%s", (_, bytes) => {
    const result = decodeRequest(bytes);
    expect(result.ok).toBe(false);
    expect(result).toHaveProperty("id", undefined);
    expect(result.ok || REQUEST_REASONS.has(result.reason)).toBe(true);
  });
});

describe("decodeRequest: reasons never contain input values", () => {
  const CANARY = "canary-7f3a9c-secret-value";
  const canaryBytes = [...Buffer.from(CANARY)];
  const cases: [string, Uint8Array][] = [
    ["in t", frame({ t: CANARY })],
    ["in t without an id", frame({ t: CANARY }, ["id"])],
    ["as the id", frame({ id: CANARY })],
    ["as op of the wrong type", frame({ op: [CANARY] })],
    ["as args", frame({ args: CANARY })],
    ["as an extra field's name", frame({ [CANARY]: 1 })],
    ["as an extra field's value", frame({ extra: CANARY })],
    ["in a top-level string", encodeMsgpack(CANARY)],
    ["in a top-level array", encodeMsgpack([CANARY])],
    ["before trailing bytes", Uint8Array.from([...frame({ args: { v: CANARY } }), 0x00])],
    [
      "in extension data",
      Uint8Array.from([0x84, ...frame({}, ["args"]).subarray(1), ...str("args"), 0xc7, canaryBytes.length, 0x01, ...canaryBytes]),
    ],
    ["in a map key that is not a string", Uint8Array.from([0x81, 0xc4, canaryBytes.length, ...canaryBytes, 0xc0])],
    ["in a string whose length claim is a lie", Uint8Array.from([0x81, ...str("a"), 0xd9, 0xff, ...canaryBytes])],
  ];

  it.each(cases)("leaves out a canary %s", (_, bytes) => {
    const result = decodeRequest(bytes);
    expect(result.ok).toBe(false);
    expect(JSON.stringify(result)).not.toContain(CANARY);
    expect(JSON.stringify(result)).not.toContain(CANARY.slice(0, 8));
  });
});

describe("isRequestId", () => {
  it.each([
    [0, true],
    [0xffff_ffff, true],
    [-1, false],
    [0x1_0000_0000, false],
    [0.5, false],
    [Number.NaN, false],
    ["1", false],
    [undefined, false],
  ])("%s → %s", (value, expected) => {
    expect(isRequestId(value)).toBe(expected);
  });
});

describe("server frames round-trip through decodeServerFrame", () => {
  it("decodes a success response", () => {
    expect(decodeServerFrame(encodeResult(3, { participants: [] }))).toEqual({
      t: "res",
      id: 3,
      ok: true,
      result: { participants: [] },
    });
  });

  it("decodes an error response", () => {
    const error = { code: 1002, name: "invalid_request", message: "bad" };
    expect(decodeServerFrame(encodeError(4, error))).toEqual({ t: "res", id: 4, ok: false, error });
  });

  it("decodes an event whose data satisfies its schema", () => {
    const data = {
      participant_id: "p-1",
      identity: "alice",
      room: "lobby",
      session_id: "s-1",
      participants: [{ id: "p-1", identity: "alice", role: "user" as const, attributes: {} }],
    };
    const decoded = decodeServerFrame(encodeEvent("room.ready", data));
    expect(decoded).toEqual({ t: "evt", ev: "room.ready", data });
    expect(decoded?.t === "evt" && EVENTS["room.ready"].safeParse(decoded.data).success).toBe(true);
  });

  it.each([
    ["a request", encodeRequest(1, "x", {})],
    ["a response with a bad id", encodeMsgpack({ t: "res", id: -1, ok: true, result: null })],
    ["a response without ok", encodeMsgpack({ t: "res", id: 1, result: null })],
    ["an event without a name", encodeMsgpack({ t: "evt", data: {} })],
    ["an event whose data is not a map", encodeMsgpack({ t: "evt", ev: "room.ready", data: [] })],
    ["an extension type", Uint8Array.from([0x81, ...str("t"), 0xd4, 0x01, 0x00])],
    ["garbage", Uint8Array.from([0xc1, 0x00])],
  ])("refuses %s", (_, bytes) => {
    expect(decodeServerFrame(bytes)).toBeUndefined();
  });
});

describe("decodeRequest with a readable id before a refused value", () => {
  // {t:"req", id:7, op:"x", args:{m: <ext -1 timestamp>}}: the id precedes the refused bytes.
  const prefix = [0x84, 0xa1, 0x74, 0xa3, 0x72, 0x65, 0x71, 0xa2, 0x69, 0x64];
  const rest = [0xa2, 0x6f, 0x70, 0xa1, 0x78, 0xa4, 0x61, 0x72, 0x67, 0x73, 0x81, 0xa1, 0x6d, 0xd6, 0xff, 0, 0, 0, 1];

  it.each([
    ["fixint", [0x07], 7],
    ["uint8", [0xcc, 0xc8], 200],
    ["uint16", [0xcd, 0x12, 0x34], 0x1234],
    ["uint32", [0xce, 0xff, 0xff, 0xff, 0xff], 0xffffffff],
  ])("answers to an id written as %s", (_kind, idBytes, expected) => {
    const result = decodeRequest(Uint8Array.from([...prefix, ...idBytes, ...rest]));
    expect(result).toEqual({ ok: false, id: expected, reason: "msgpack extension types are not accepted" });
  });

  it("has no id to answer when the refused value comes first", () => {
    const bytes = Uint8Array.from([0x82, 0xa1, 0x6d, 0xd6, 0xff, 0, 0, 0, 1, 0xa2, 0x69, 0x64, 0x07]);
    expect(decodeRequest(bytes)).toMatchObject({ ok: false, id: undefined });
  });

  it("does not take an id from a nested map", () => {
    const bytes = Uint8Array.from([0x82, 0xa1, 0x61, 0x81, 0xa2, 0x69, 0x64, 0x07, 0xa1, 0x6d, 0xd6, 0xff, 0, 0, 0, 1]);
    expect(decodeRequest(bytes)).toMatchObject({ ok: false, id: undefined });
  });
});
