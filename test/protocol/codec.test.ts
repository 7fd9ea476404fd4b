import { describe, expect, it } from "vitest";
import { decodeMsgpackMap, encodeMsgpack, scanStandardMsgpack } from "../../src/protocol/codec.js";
import { decodeServerFrame, encodeEvent, encodeRequest, encodeResult } from "../../src/protocol/frames.js";
import { MAX_DEPTH } from "../../src/protocol/limits.js";

const bytes = (...parts: (number | readonly number[] | Uint8Array)[]): Uint8Array =>
  Uint8Array.from(parts.flatMap((part) => (typeof part === "number" ? [part] : [...part])));
const str = (s: string): number[] => {
  const utf8 = [...Buffer.from(s, "utf8")];
  if (utf8.length > 31) throw new Error("fixstr only");
  return [0xa0 | utf8.length, ...utf8];
};
/** A one-entry map `{a: <value bytes>}`. */
const inMap = (...value: (number | readonly number[] | Uint8Array)[]) => bytes(0x81, str("a"), ...value);

function reasonOf(input: Uint8Array): string | undefined {
  const result = decodeMsgpackMap(input);
  return result.ok ? undefined : result.reason;
}

describe("decodeMsgpackMap: extension types are refused", () => {
  const extensions: [string, number[]][] = [
    ["fixext 1 (0xd4)", [0xd4, 0x01, 0x00]],
    ["fixext 2 (0xd5)", [0xd5, 0x01, 0x00, 0x00]],
    ["fixext 4 (0xd6)", [0xd6, 0x01, ...Array<number>(4).fill(0)]],
    ["fixext 8 (0xd7)", [0xd7, 0x01, ...Array<number>(8).fill(0)]],
    ["fixext 16 (0xd8)", [0xd8, 0x01, ...Array<number>(16).fill(0)]],
    ["ext 8 (0xc7)", [0xc7, 0x02, 0x01, 0x00, 0x00]],
    ["ext 16 (0xc8)", [0xc8, 0x00, 0x02, 0x01, 0x00, 0x00]],
    ["ext 32 (0xc9)", [0xc9, 0x00, 0x00, 0x00, 0x02, 0x01, 0x00, 0x00]],
    ["timestamp 32 (ext -1)", [0xd6, 0xff, 0x00, 0x00, 0x00, 0x01]],
    ["timestamp 64 (ext -1)", [0xd7, 0xff, ...Array<number>(7).fill(0), 0x01]],
    ["timestamp 96 (ext -1)", [0xc7, 0x0c, 0xff, ...Array<number>(11).fill(0), 0x01]],
    ["msgpackr undefined (fixext 0)", [0xd4, 0x00, 0x00]],
  ];

  it.each(extensions)("refuses %s as a map value", (_, ext) => {
    expect(reasonOf(inMap(ext))).toBe("msgpack extension types are not accepted");
  });

  it.each(extensions)("refuses %s nested in an array", (_, ext) => {
    expect(reasonOf(inMap(0x92, 0x01, ext))).toBe("msgpack extension types are not accepted");
  });

  it.each(extensions)("refuses %s at the top level", (_, ext) => {
    expect(decodeMsgpackMap(bytes(ext)).ok).toBe(false);
  });

  it("refuses the timestamp msgpackr writes for a Date", () => {
    expect(reasonOf(encodeMsgpack({ at: new Date(0) }))).toBe("msgpack extension types are not accepted");
  });
});

describe("decodeMsgpackMap: the reserved byte 0xc1 is refused", () => {
  it.each([
    ["as a value", inMap(0xc1)],
    ["as a key", bytes(0x81, 0xc1, 0xc0)],
    ["at the top level", bytes(0xc1)],
  ])("refuses 0xc1 %s", (_, input) => {
    expect(decodeMsgpackMap(input).ok).toBe(false);
  });

  it("names the reserved byte as the reason inside a map", () => {
    expect(reasonOf(inMap(0xc1))).toBe("reserved msgpack byte");
  });
});

describe("decodeMsgpackMap: deep nesting is refused without overflowing the stack", () => {
  const nestedArrays = (levels: number) => inMap(Array<number>(levels).fill(0x91), 0xc0);

  it("refuses 100,000 nested arrays inside a map", () => {
    expect(reasonOf(nestedArrays(100_000))).toBe("nesting too deep");
  });

  it("refuses 100,000 nested maps", () => {
    const nestedMaps = bytes(...Array.from({ length: 100_000 }, () => [0x81, ...str("a")]), 0xc0);
    expect(reasonOf(nestedMaps)).toBe("nesting too deep");
  });

  it("refuses 100,000 nested empty-terminated arrays", () => {
    expect(reasonOf(inMap(Array<number>(100_000).fill(0x91), 0x90))).toBe("nesting too deep");
  });

  it(`accepts ${MAX_DEPTH} levels of containers counting the top-level map, and refuses one more`, () => {
    const accepted = decodeMsgpackMap(nestedArrays(MAX_DEPTH - 1));
    expect(accepted.ok).toBe(true);
    let value: unknown = accepted.ok ? accepted.value.a : undefined;
    for (let level = 1; level < MAX_DEPTH - 1; level++) value = (value as unknown[])[0];
    expect(value).toEqual([null]);
    expect(reasonOf(nestedArrays(MAX_DEPTH))).toBe("nesting too deep");
  });
});

describe("decodeMsgpackMap: length claims larger than the frame are refused before any allocation", () => {
  const max32 = [0xff, 0xff, 0xff, 0xff];
  const cases: [string, Uint8Array][] = [
    ["map32 at the top level", bytes(0xdf, max32)],
    ["map32 as a value", inMap(0xdf, max32)],
    ["array32", inMap(0xdd, max32)],
    ["str32", inMap(0xdb, max32, 0x61)],
    ["bin32", inMap(0xc6, max32, 0x00)],
    ["map16", inMap(0xde, 0xff, 0xff)],
    ["array16", inMap(0xdc, 0xff, 0xff)],
    ["str16", inMap(0xda, 0xff, 0xff)],
    ["bin16", inMap(0xc5, 0xff, 0xff)],
    ["str8", inMap(0xd9, 0xff)],
    ["bin8", inMap(0xc4, 0xff)],
    ["fixarray", inMap(0x9f)],
    ["fixmap", inMap(0x8f)],
    ["fixstr", inMap(0xbf, 0x61)],
  ];

  it.each(cases)("refuses a %s claiming more than the bytes that follow", (_, input) => {
    expect(reasonOf(input)).toBe("length claim exceeds frame");
  });

  it("refuses all of them quickly", () => {
    const started = performance.now();
    for (let i = 0; i < 100; i++) for (const [, input] of cases) decodeMsgpackMap(input);
    // 1,400 decodes of a few bytes each; an allocation of 4 GiB per case would take far longer.
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it.each([
    ["str32", inMap(0xdb, 0xff, 0xff)],
    ["map16", bytes(0xde, 0x00)],
    ["float64", inMap(0xcb, 0x00, 0x00)],
    ["uint32", inMap(0xce, 0x00)],
  ])("refuses a %s whose length or value bytes are cut off", (_, input) => {
    expect(decodeMsgpackMap(input).ok).toBe(false);
  });
});

describe("decodeMsgpackMap: __proto__ keys do not pollute prototypes", () => {
  const protoPayload = bytes(0x81, str("__proto__"), 0x81, str("polluted"), 0xc3);

  it("leaves Object.prototype unchanged and gives the decoded map the ordinary prototype", () => {
    const result = decodeMsgpackMap(protoPayload);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(Object.getPrototypeOf(result.value)).toBe(Object.prototype);
    expect((result.value as { polluted?: unknown }).polluted).toBeUndefined();
    expect(Object.hasOwn(Object.prototype, "polluted")).toBe(false);
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
  });

  it("does not pollute through a nested __proto__ or constructor.prototype", () => {
    const nested = inMap(0x82, str("__proto__"), 0x81, str("polluted"), 0xc3, str("constructor"), 0x81, str("prototype"), 0x81, str("polluted"), 0xc3);
    const result = decodeMsgpackMap(nested);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const inner = result.value.a as Record<string, unknown>;
    expect(Object.getPrototypeOf(inner)).toBe(Object.prototype);
    expect(inner.polluted).toBeUndefined();
    expect(Object.hasOwn(Object.prototype, "polluted")).toBe(false);
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
  });
});

describe("decodeMsgpackMap: map keys must be strings", () => {
  it.each([
    ["a positive fixint", [0x01]],
    ["a negative fixint", [0xff]],
    ["nil", [0xc0]],
    ["true", [0xc3]],
    ["a float64", [0xcb, 0, 0, 0, 0, 0, 0, 0, 0]],
    ["a uint32", [0xce, 0, 0, 0, 1]],
    ["bin", [0xc4, 0x01, 0x61]],
    ["an array", [0x91, 0x01]],
    ["an empty array", [0x90]],
    ["a map", [0x81, ...str("k"), 0x01]],
    ["an empty map", [0x80]],
  ])("refuses %s as a key", (_, key) => {
    expect(reasonOf(bytes(0x81, key, 0xc0))).toBe("map keys must be strings");
  });

  it("refuses a non-string key in a nested map", () => {
    expect(reasonOf(inMap(0x81, 0x01, 0x02))).toBe("map keys must be strings");
  });

  it("refuses a non-string key after a valid entry", () => {
    expect(reasonOf(bytes(0x82, str("a"), 0x01, 0x02, 0x03))).toBe("map keys must be strings");
  });

  it("accepts str8, str16 and str32 keys", () => {
    for (const key of [[0xd9, 0x01, 0x6b], [0xda, 0x00, 0x01, 0x6b], [0xdb, 0x00, 0x00, 0x00, 0x01, 0x6b]]) {
      expect(decodeMsgpackMap(bytes(0x81, key, 0x01))).toEqual({ ok: true, value: { k: 1 } });
    }
  });
});

describe("decodeMsgpackMap: the top-level value must be a map", () => {
  it.each([
    ["nothing", bytes()],
    ["an array", encodeMsgpack([1, 2])],
    ["an array16", bytes(0xdc, 0x00, 0x00)],
    ["a string", encodeMsgpack("hello")],
    ["an integer", encodeMsgpack(7)],
    ["nil", encodeMsgpack(null)],
    ["binary", encodeMsgpack(new Uint8Array([1]))],
  ])("refuses %s", (_, input) => {
    const result = decodeMsgpackMap(input);
    expect(result.ok).toBe(false);
  });

  it("names the problem", () => {
    expect(reasonOf(bytes())).toBe("empty frame");
    expect(reasonOf(encodeMsgpack([1]))).toBe("frame is not a map");
  });

  it("accepts fixmap, map16 and map32 headers", () => {
    expect(decodeMsgpackMap(bytes(0x80))).toEqual({ ok: true, value: {} });
    expect(decodeMsgpackMap(bytes(0xde, 0x00, 0x01, str("a"), 0x01))).toEqual({ ok: true, value: { a: 1 } });
    expect(decodeMsgpackMap(bytes(0xdf, 0x00, 0x00, 0x00, 0x01, str("a"), 0x01))).toEqual({ ok: true, value: { a: 1 } });
  });
});

describe("decodeMsgpackMap: trailing bytes are refused", () => {
  it.each([
    ["one zero byte", bytes(encodeMsgpack({ a: 1 }), 0x00)],
    ["a second map", bytes(encodeMsgpack({ a: 1 }), encodeMsgpack({ b: 2 }))],
    ["after an empty map", bytes(0x80, 0xc0)],
  ])("refuses %s after the frame", (_, input) => {
    expect(reasonOf(input)).toBe("trailing bytes after the frame");
  });
});

describe("decodeMsgpackMap: input is read within its own view", () => {
  it("decodes a Uint8Array that is a window into a larger buffer", () => {
    const frame = encodeMsgpack({ a: [1, "two", new Uint8Array([3])], b: { c: null } });
    const backing = new Uint8Array(frame.length + 20).fill(0xc1);
    backing.set(frame, 7);
    const view = backing.subarray(7, 7 + frame.length);
    expect(decodeMsgpackMap(view)).toEqual(decodeMsgpackMap(Uint8Array.from(frame)));
    expect(decodeMsgpackMap(view).ok).toBe(true);
  });

  it("does not read past the end of its window", () => {
    const frame = encodeMsgpack({ a: "xyz" });
    const backing = new Uint8Array([...frame, 0x00, 0x00]);
    expect(reasonOf(backing.subarray(0, frame.length - 1))).toBe("length claim exceeds frame");
  });
});

describe("encodeMsgpack: undefined fields are omitted, never written as an extension", () => {
  it("leaves undefined object fields out at every depth", () => {
    const encoded = encodeMsgpack({ a: undefined, b: 1, nested: { c: undefined, d: "x" } });
    expect(scanStandardMsgpack(encoded)).toBeUndefined();
    const decoded = decodeMsgpackMap(encoded);
    expect(decoded.ok).toBe(true);
    if (!decoded.ok) return;
    expect(Object.keys(decoded.value).sort()).toEqual(["b", "nested"]);
    expect(Object.keys(decoded.value.nested as object)).toEqual(["d"]);
  });

  it("writes undefined array items as nil", () => {
    const encoded = encodeMsgpack({ list: [undefined, 1] });
    expect(decodeMsgpackMap(encoded)).toEqual({ ok: true, value: { list: [null, 1] } });
  });

  it("writes a top-level undefined as nil", () => {
    expect([...encodeMsgpack(undefined)]).toEqual([0xc0]);
  });

  it("omits undefined optional args in a request frame", () => {
    const encoded = encodeRequest(1, "secrets.get_secret", { secret_id: "s", delegated_to: undefined });
    expect(scanStandardMsgpack(encoded)).toBeUndefined();
    const decoded = decodeMsgpackMap(encoded);
    expect(decoded.ok && Object.keys(decoded.value.args as object)).toEqual(["secret_id"]);
  });

  it("writes an undefined result as null", () => {
    expect(decodeServerFrame(encodeResult(5, undefined))).toEqual({ t: "res", id: 5, ok: true, result: null });
  });

  it("omits an undefined optional field of an event", () => {
    const encoded = encodeEvent("messaging.message", {
      from_participant_id: "p",
      from_identity: "alice",
      type: "chat",
      message: {},
      attachment: undefined,
    });
    expect(scanStandardMsgpack(encoded)).toBeUndefined();
    const frame = decodeServerFrame(encoded);
    expect(frame?.t === "evt" && Object.keys(frame.data).sort()).toEqual(["from_identity", "from_participant_id", "message", "type"]);
  });
});

describe("encodeMsgpack: binary values are msgpack bin", () => {
  it("writes a Uint8Array as bin and reads it back as bytes", () => {
    const encoded = encodeMsgpack({ data: new Uint8Array([1, 2, 3]) });
    expect([...encoded]).toEqual([0x81, ...str("data"), 0xc4, 0x03, 1, 2, 3]);
    const decoded = decodeMsgpackMap(encoded);
    expect(decoded.ok && decoded.value.data instanceof Uint8Array).toBe(true);
    expect(decoded.ok && [...(decoded.value.data as Uint8Array)]).toEqual([1, 2, 3]);
  });
});
