/**
 * Property tests of the codec and the request decoder. numRuns is set on every property; together they make
 * 13,500 generated cases per run (see RUNS).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeMsgpackMap, encodeMsgpack, scanStandardMsgpack } from "../../src/protocol/codec.js";
import { decodeRequest, encodeRequest, isRequestId } from "../../src/protocol/frames.js";
import { OP_NAMES, OPS, type OpName } from "../../src/protocol/ops.js";
import {
  applyMutation,
  ARGS_ARBITRARIES,
  binary,
  mutation,
  plainMap,
  plainValue,
  requestId,
} from "./arbitraries.js";
import { CODEC_REASONS, REQUEST_REASONS } from "./reasons.js";

const RUNS = {
  plainRoundTrip: 1_500,
  requestRoundTrip: 1_500,
  randomBytes: 2_000,
  mapHeadedBytes: 2_000,
  tokenSoup: 2_500,
  mutations: 2_500,
  requestModel: 1_000,
  rawStrings: 500,
} as const;

/** A valid op and args, as `{op, args}`, drawn across every op of OPS. */
const validRequest = fc.oneof(
  ...OP_NAMES.map((op) =>
    fc.record({ id: requestId, op: fc.constant<OpName>(op), args: ARGS_ARBITRARIES[op] as fc.Arbitrary<object> }),
  ),
);

/** What every decode must satisfy, whatever the bytes: a typed answer, never a throw, never an echoed value. */
function checkDecodeOutcome(bytes: Uint8Array): void {
  const decoded = decodeMsgpackMap(bytes);
  if (decoded.ok) {
    expect(typeof decoded.value).toBe("object");
    expect(Array.isArray(decoded.value)).toBe(false);
    expect(Object.getPrototypeOf(decoded.value)).toBe(Object.prototype);
  } else {
    // The scan and msgpackr must agree: bytes the scan lets through are decodable ("undecodable msgpack" is the
    // catch-all that should never be reached).
    expect(CODEC_REASONS.has(decoded.reason), decoded.reason).toBe(true);
  }
  expect(scanStandardMsgpack(bytes) === undefined).toBe(decoded.ok);

  const request = decodeRequest(bytes);
  if (request.ok) {
    expect(request.frame.t).toBe("req");
    expect(isRequestId(request.frame.id)).toBe(true);
    // A schema check on whatever came through must not throw either.
    const op = request.frame.op;
    if (Object.hasOwn(OPS, op)) OPS[op as OpName].args.safeParse(request.frame.args);
  } else {
    expect(REQUEST_REASONS.has(request.reason), request.reason).toBe(true);
    expect(request.id === undefined || isRequestId(request.id)).toBe(true);
  }
}

describe("plain msgpack maps round-trip through encode and decode", () => {
  it("decodes to an equal value and passes the scan", () => {
    fc.assert(
      fc.property(plainMap, (map) => {
        const bytes = encodeMsgpack(map);
        expect(scanStandardMsgpack(bytes)).toBeUndefined();
        expect(decodeMsgpackMap(bytes)).toEqual({ ok: true, value: map });
      }),
      { numRuns: RUNS.plainRoundTrip },
    );
  });
});

describe("valid request frames round-trip and satisfy their op schema", () => {
  it("decodes every generated request back to itself, and its args parse to the same value", () => {
    fc.assert(
      fc.property(validRequest, ({ id, op, args }) => {
        const decoded = decodeRequest(encodeRequest(id, op, args));
        expect(decoded).toEqual({ ok: true, frame: { t: "req", id, op, args } });
        if (!decoded.ok) return;
        const parsed = OPS[op].args.safeParse(decoded.frame.args);
        expect(parsed.error).toBeUndefined();
        expect(parsed.data).toEqual(args);
      }),
      { numRuns: RUNS.requestRoundTrip },
    );
  });
});

describe("random bytes never make the decoders throw", () => {
  it("gives a typed failure or a plain map for any bytes", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 96 }), checkDecodeOutcome), { numRuns: RUNS.randomBytes });
  });

  it("gives a typed failure or a plain map for random bytes behind a map header", () => {
    const mapHeader = fc.oneof(
      fc.integer({ min: 0x80, max: 0x8f }).map((b) => [b]),
      fc.tuple(fc.constant(0xde), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 })),
      fc.tuple(fc.constant(0xdf), fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 })),
    );
    fc.assert(
      fc.property(mapHeader, fc.uint8Array({ maxLength: 96 }), (header, rest) => {
        checkDecodeOutcome(Uint8Array.from([...header, ...rest]));
      }),
      { numRuns: RUNS.mapHeadedBytes },
    );
  });
});

/**
 * Sequences of msgpack tokens (headers with small counts, strings, numbers, extension and reserved bytes) reach far
 * deeper into the scan than uniform random bytes, which mostly fail on their first byte.
 */
describe("sequences of msgpack tokens never make the decoders throw", () => {
  const u8 = fc.integer({ min: 0, max: 255 });
  const small = fc.integer({ min: 0, max: 5 });
  const token = fc.oneof(
    { weight: 3, arbitrary: fc.integer({ min: 0x80, max: 0x84 }).map((b) => [b]) }, // fixmap
    { weight: 3, arbitrary: fc.integer({ min: 0x90, max: 0x94 }).map((b) => [b]) }, // fixarray
    { weight: 4, arbitrary: fc.string({ maxLength: 4 }).map((s) => [...encodeMsgpack(s)]) }, // a whole string
    { weight: 3, arbitrary: fc.oneof(fc.integer(), fc.double(), fc.boolean(), fc.constant(null)).map((v) => [...encodeMsgpack(v)]) },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom(0xdc, 0xde), fc.constant(0), small) }, // array16/map16
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom(0xd9, 0xc4), small) }, // str8/bin8 header
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom(0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd3)) }, // bare number headers
    { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 0xd4, max: 0xd8 }), u8, u8) }, // fixext
    { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 0xc7, max: 0xc9 }), u8, u8) }, // ext8/16/32
    { weight: 1, arbitrary: fc.constant([0xc1]) },
    { weight: 1, arbitrary: u8.map((b) => [b]) },
  );
  it("gives a typed failure or a plain map", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0x81, max: 0x84 }), fc.array(token, { maxLength: 24 }), (header, tokens) => {
        checkDecodeOutcome(Uint8Array.from([header, ...tokens.flat()]));
      }),
      { numRuns: RUNS.tokenSoup },
    );
  });
});

/**
 * Keys and values whose bytes are not valid UTF-8, long enough (≥ 16 bytes) that msgpackr hands them to its native
 * string extractor: the scan accepts the structure, so decoding must succeed and give strings.
 */
describe("strings of arbitrary bytes decode without throwing", () => {
  const rawString = (maxLength: number) =>
    fc.uint8Array({ maxLength }).map((content) => [0xd9, content.length, ...content]);
  const rawString16 = fc.uint8Array({ minLength: 16, maxLength: 400 }).map((content) => [
    0xda,
    content.length >> 8,
    content.length & 0xff,
    ...content,
  ]);
  it("decodes maps whose keys and values are arbitrary bytes", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(rawString(80), fc.oneof(rawString(255), rawString16)), { minLength: 1, maxLength: 6 }),
        (entries) => {
          const bytes = Uint8Array.from([0x80 | entries.length, ...entries.flat(2)]);
          const decoded = decodeMsgpackMap(bytes);
          expect(decoded.ok).toBe(true);
          if (!decoded.ok) return;
          expect(Object.keys(decoded.value).length).toBeLessThanOrEqual(entries.length);
          for (const value of Object.values(decoded.value)) expect(typeof value).toBe("string");
          checkDecodeOutcome(bytes);
        },
      ),
      { numRuns: RUNS.rawStrings },
    );
  });
});

describe("mutated valid frames never make the decoders throw", () => {
  it("gives a typed failure or a plain map after bit flips, truncation, insertion, deletion and overwrites", () => {
    const framed = fc.oneof(
      validRequest.map(({ id, op, args }) => encodeRequest(id, op, args)),
      fc.tuple(requestId, fc.string(), plainMap).map(([id, op, args]) => encodeRequest(id, op, args)),
      fc.record({ x: plainValue, y: plainValue }).map((v) => encodeMsgpack(v)),
    );
    fc.assert(
      fc.property(framed, fc.array(mutation, { minLength: 1, maxLength: 4 }), (bytes, mutations) => {
        checkDecodeOutcome(mutations.reduce(applyMutation, new Uint8Array(bytes)));
      }),
      { numRuns: RUNS.mutations },
    );
  });
});

/** The id outcome of decodeRequest, restated independently of the code under test (PROTOCOL.md §2). */
function modelOutcome(frame: Record<string, unknown>): "ok" | number | undefined {
  const idUsable = Number.isInteger(frame.id) && (frame.id as number) >= 0 && (frame.id as number) <= 0xffff_ffff;
  const argsIsMap =
    typeof frame.args === "object" && frame.args !== null && !Array.isArray(frame.args) && !(frame.args instanceof Uint8Array);
  const onlyKnownKeys = Object.keys(frame).every((key) => ["t", "id", "op", "args"].includes(key));
  if (frame.t === "req" && idUsable && typeof frame.op === "string" && argsIsMap && onlyKnownKeys) return "ok";
  return idUsable ? (frame.id as number) : undefined;
}

describe("decodeRequest answers to the id exactly when one can be read", () => {
  // -0 is left out: it crosses the wire as 0, so the model would expect an id the decoder cannot see.
  const double = fc.double().filter((n) => !Object.is(n, -0));
  const anyScalar = fc.oneof(fc.constant(null), fc.boolean(), fc.string({ maxLength: 6 }), binary(4), double);
  const frameLike = fc.record(
    {
      t: fc.oneof({ weight: 4, arbitrary: fc.constant("req") }, fc.constantFrom("res", "evt", "REQ", ""), anyScalar),
      id: fc.oneof(
        { weight: 4, arbitrary: requestId },
        fc.constantFrom(-1, 0x1_0000_0000, 1.5, Number.MAX_SAFE_INTEGER, -0x8000_0000),
        anyScalar,
      ),
      op: fc.oneof({ weight: 4, arbitrary: fc.string({ maxLength: 12 }) }, anyScalar, fc.array(fc.integer())),
      args: fc.oneof({ weight: 4, arbitrary: plainMap }, anyScalar, fc.array(fc.integer())),
      extra: anyScalar,
    },
    { requiredKeys: [] },
  );
  it("matches the model for frames with any mix of present, absent, wrong and extra fields", () => {
    fc.assert(
      fc.property(frameLike, (frame) => {
        const result = decodeRequest(encodeMsgpack(frame));
        const expected = modelOutcome(frame);
        if (expected === "ok") expect(result.ok).toBe(true);
        else expect(result).toMatchObject({ ok: false, id: expected });
        if (!result.ok) expect(REQUEST_REASONS.has(result.reason), result.reason).toBe(true);
      }),
      { numRuns: RUNS.requestModel },
    );
  });
});

describe("the generated case count", () => {
  it("is at least 10,000 per run", () => {
    const total = Object.values(RUNS).reduce((sum, n) => sum + n, 0);
    expect(total).toBeGreaterThanOrEqual(10_000);
  });
});
