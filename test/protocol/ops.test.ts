import { describe, expect, it } from "vitest";
import type { z } from "zod";
import { decodeRequest, encodeRequest } from "../../src/protocol/frames.js";
import {
  DEFAULT_MAX_FRAME_BYTES,
  MAX_ATTRIBUTE_KEYS,
  MAX_NAME_CHARS,
  MAX_SECRET_BYTES,
  MAX_TEXT_CHARS,
  MAX_TIMEOUT_MS,
  MAX_TOOLS,
} from "../../src/protocol/limits.js";
import { isOpName, OP_NAMES, OPS, type OpName } from "../../src/protocol/ops.js";
import { FREE_FIELDS, VALID_ARGS } from "./arbitraries.js";

type Path = (string | number)[];

const argsSchema = (op: OpName): z.ZodType => OPS[op].args;
const accepts = (op: OpName, args: unknown) => argsSchema(op).safeParse(args).success;

/** Paths of every string inside `value`, not descending into free maps (`error.message` is text, not a map). */
function stringLeaves(value: unknown, path: Path = []): Path[] {
  if (typeof value === "string") return [path];
  if (value instanceof Uint8Array || value === null || typeof value !== "object") return [];
  return Object.entries(value).flatMap(([key, inner]) =>
    FREE_FIELDS.has(key) && typeof inner === "object" ? [] : stringLeaves(inner, [...path, Array.isArray(value) ? Number(key) : key]),
  );
}

/** A copy of `value` with the item at `path` replaced. */
function withValueAt(value: unknown, path: Path, replacement: unknown): unknown {
  if (path.length === 0) return replacement;
  const [head, ...rest] = path as [string | number, ...Path];
  if (Array.isArray(value)) return (value as unknown[]).map((item, i) => (i === head ? withValueAt(item, rest, replacement) : item));
  const record = value as Record<string, unknown>;
  return { ...record, [head]: withValueAt(record[head], rest, replacement) };
}

/** The field a path names: `["oauth", "scopes", 0]` → "scopes". */
const fieldOf = (path: Path): string => String([...path].reverse().find((part) => typeof part === "string"));

const IDENTITY_FIELDS = new Set(["for_identity", "delegated_to", "delegated_by", "delegate_to", "owner"]);
/** Longest accepted string per field; a field not listed is a name (PROTOCOL.md §2: names ≤ 256 chars). */
const STRING_LIMITS: Record<string, number> = {
  for_identity: 128,
  delegated_to: 128,
  delegated_by: 128,
  delegate_to: 128,
  owner: 128,
  url: 2048,
  authorization_endpoint: 2048,
  token_endpoint: 2048,
  redirect_uri: 2048,
  client_secret: 2048,
  description: MAX_TEXT_CHARS,
  message: MAX_TEXT_CHARS,
  prompt: MAX_TEXT_CHARS,
  reason: MAX_TEXT_CHARS,
  error: MAX_TEXT_CHARS,
  code: 4096,
  state: 512,
};
const limitOf = (path: Path) => STRING_LIMITS[fieldOf(path)] ?? MAX_NAME_CHARS;

const STRING_CASES: [OpName, string, Path][] = OP_NAMES.flatMap((op) =>
  stringLeaves(VALID_ARGS[op]).map((path): [OpName, string, Path] => [op, path.join("."), path]),
);

describe("OPS: the table covers the protocol", () => {
  it("has exactly the ops of PROTOCOL.md §5–§6, plus the documented additions", () => {
    expect([...OP_NAMES].sort()).toEqual(
      [
        "room.list_participants",
        "room.set_attributes",
        "messaging.send",
        "messaging.broadcast",
        "toolkits.register",
        "toolkits.list",
        "toolkits.invoke",
        "toolkits.respond",
        "secrets.list_secrets",
        "secrets.set_secret",
        "secrets.get_secret",
        "secrets.exists",
        "secrets.delete_secret",
        "secrets.delete_requested_secret",
        "secrets.request_secret",
        "secrets.provide_secret",
        "secrets.reject_secret",
        "secrets.request_oauth_token",
        "secrets.provide_oauth_authorization",
        "secrets.reject_oauth_authorization",
        "secrets.get_offline_oauth_token",
        // Additions recorded in docs/decisions.md:
        "secrets.get_requested_secret",
        "secrets.revoke_oauth_token",
      ].sort(),
    );
  });

  it("recognises op names only as own keys", () => {
    expect(isOpName("messaging.send")).toBe(true);
    expect(isOpName("toString")).toBe(false);
    expect(isOpName("__proto__")).toBe(false);
    expect(isOpName("messaging.unknown")).toBe(false);
  });
});

describe("OPS: valid args are accepted, also after crossing the wire", () => {
  it.each(OP_NAMES)("%s", (op) => {
    expect(argsSchema(op).safeParse(VALID_ARGS[op]).error).toBeUndefined();
    const decoded = decodeRequest(encodeRequest(1, op, VALID_ARGS[op]));
    expect(decoded.ok && accepts(op, decoded.frame.args)).toBe(true);
  });
});

describe("OPS: every args schema refuses unknown keys", () => {
  it.each(OP_NAMES)("%s refuses an extra top-level key", (op) => {
    const result = argsSchema(op).safeParse({ ...VALID_ARGS[op], unexpected: 1 });
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((issue) => issue.code)).toContain("unrecognized_keys");
  });

  it.each(OP_NAMES)("%s refuses an extra key whose value is null", (op) => {
    expect(accepts(op, { ...VALID_ARGS[op], unexpected: null })).toBe(false);
  });

  it.each([
    ["secrets.request_oauth_token", ["oauth"]],
    ["secrets.get_offline_oauth_token", ["oauth"]],
    ["toolkits.register", ["tools", 0]],
    ["toolkits.respond", ["error"]],
  ] as [OpName, Path][])("%s refuses an extra key inside %j", (op, path) => {
    const args = VALID_ARGS[op] as Record<string, unknown>;
    let inner: unknown = args;
    for (const part of path) inner = (inner as Record<string | number, unknown>)[part];
    expect(accepts(op, withValueAt(args, path, { ...(inner as object), unexpected: 1 }))).toBe(false);
  });

  it.each(OP_NAMES)("%s refuses args that are not a map", (op) => {
    for (const notAMap of [null, [], "x", 1, new Uint8Array(1)]) expect(accepts(op, notAMap)).toBe(false);
  });
});

describe("OPS: every string in args has an upper bound", () => {
  it("finds string fields to check in every op that has one", () => {
    expect(STRING_CASES.length).toBeGreaterThan(40);
  });

  it.each(STRING_CASES)("%s refuses an oversize %s", (op, _, path) => {
    expect(accepts(op, withValueAt(VALID_ARGS[op], path, "x".repeat(MAX_TEXT_CHARS * 2 + 1)))).toBe(false);
  });
});

describe("OPS: string limits per field (names ≤ 256 chars, identities ≤ 128, urls ≤ 2048, text ≤ 4096)", () => {
  it.each(STRING_CASES)("%s accepts %s at its limit and refuses one char more", (op, _, path) => {
    const limit = limitOf(path);
    expect(accepts(op, withValueAt(VALID_ARGS[op], path, "a".repeat(limit)))).toBe(true);
    expect(accepts(op, withValueAt(VALID_ARGS[op], path, "a".repeat(limit + 1)))).toBe(false);
  });

  it.each(STRING_CASES.filter(([, , path]) => limitOf(path) === MAX_NAME_CHARS))(
    "%s refuses an empty %s",
    (op, _, path) => {
      expect(accepts(op, withValueAt(VALID_ARGS[op], path, ""))).toBe(false);
    },
  );
});

describe("OPS: identity fields follow the identity pattern", () => {
  const identityCases = STRING_CASES.filter(([, , path]) => IDENTITY_FIELDS.has(fieldOf(path)));

  it("has identity fields to check", () => {
    expect(identityCases.length).toBeGreaterThanOrEqual(12);
  });

  it.each(identityCases)("%s accepts a well-formed %s", (op, _, path) => {
    for (const good of ["alice", "agent:42", "a.b@example.com", "Z9_-x"]) {
      expect(accepts(op, withValueAt(VALID_ARGS[op], path, good))).toBe(true);
    }
  });

  it.each(identityCases)("%s refuses a malformed %s", (op, _, path) => {
    for (const bad of ["", "-alice", ".alice", "has space", "new\nline", "ünïcode", "a/b"]) {
      expect(accepts(op, withValueAt(VALID_ARGS[op], path, bad))).toBe(false);
    }
  });
});

describe("OPS: secret values are binary and at most 64 KiB", () => {
  it.each(["secrets.set_secret", "secrets.provide_secret"] as const)("%s", (op) => {
    const withData = (data: unknown) => ({ ...VALID_ARGS[op], data });
    expect(accepts(op, withData(new Uint8Array(MAX_SECRET_BYTES)))).toBe(true);
    expect(accepts(op, withData(Buffer.alloc(MAX_SECRET_BYTES)))).toBe(true);
    expect(accepts(op, withData(new Uint8Array(MAX_SECRET_BYTES + 1)))).toBe(false);
    expect(accepts(op, withData("not binary"))).toBe(false);
    expect(accepts(op, withData([1, 2, 3]))).toBe(false);
    expect(accepts(op, withData(new Uint16Array(2)))).toBe(false);
    expect(accepts(op, { ...VALID_ARGS[op], data: undefined })).toBe(false);
  });

  it("keeps 64 KiB of secret data intact across the wire", () => {
    const data = Buffer.alloc(MAX_SECRET_BYTES, 0xab);
    const decoded = decodeRequest(encodeRequest(1, "secrets.set_secret", { data }));
    expect(decoded.ok && accepts("secrets.set_secret", decoded.frame.args)).toBe(true);
    expect(decoded.ok && Buffer.compare(decoded.frame.args.data as Uint8Array, data)).toBe(0);
  });
});

describe("OPS: attachments are bounded by the default frame size", () => {
  it.each(["messaging.send", "messaging.broadcast"] as const)("%s", (op) => {
    expect(accepts(op, { ...VALID_ARGS[op], attachment: new Uint8Array(DEFAULT_MAX_FRAME_BYTES) })).toBe(true);
    expect(accepts(op, { ...VALID_ARGS[op], attachment: new Uint8Array(DEFAULT_MAX_FRAME_BYTES + 1) })).toBe(false);
    expect(accepts(op, { ...VALID_ARGS[op], attachment: "text" })).toBe(false);
  });
});

describe("OPS: arrays and maps are bounded", () => {
  it("toolkits.register takes at most MAX_TOOLS tools", () => {
    const tools = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `t${i}` }));
    expect(accepts("toolkits.register", { name: "kit", tools: tools(MAX_TOOLS) })).toBe(true);
    expect(accepts("toolkits.register", { name: "kit", tools: tools(MAX_TOOLS + 1) })).toBe(false);
  });

  it("an OAuth client takes at most 64 scopes", () => {
    const args = (n: number) =>
      withValueAt(VALID_ARGS["secrets.get_offline_oauth_token"], ["oauth", "scopes"], Array<string>(n).fill("s"));
    expect(accepts("secrets.get_offline_oauth_token", args(64))).toBe(true);
    expect(accepts("secrets.get_offline_oauth_token", args(65))).toBe(false);
  });

  it("room.set_attributes takes at most MAX_ATTRIBUTE_KEYS attributes", () => {
    const attributes = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]));
    expect(accepts("room.set_attributes", { attributes: attributes(MAX_ATTRIBUTE_KEYS) })).toBe(true);
    expect(accepts("room.set_attributes", { attributes: attributes(MAX_ATTRIBUTE_KEYS + 1) })).toBe(false);
  });

  it("free maps refuse keys longer than a name", () => {
    const message = (keyLength: number) => ({ ...VALID_ARGS["messaging.broadcast"], message: { ["k".repeat(keyLength)]: 1 } });
    expect(accepts("messaging.broadcast", message(MAX_NAME_CHARS))).toBe(true);
    expect(accepts("messaging.broadcast", message(MAX_NAME_CHARS + 1))).toBe(false);
  });

  it("free maps must be maps", () => {
    for (const message of [null, [], "x", new Uint8Array(1)]) {
      expect(accepts("messaging.broadcast", { ...VALID_ARGS["messaging.broadcast"], message })).toBe(false);
    }
  });
});

describe("OPS: numbers and booleans are type-checked", () => {
  const invoke = (timeout_ms: unknown) => ({ ...VALID_ARGS["toolkits.invoke"], timeout_ms });

  it.each([1, MAX_TIMEOUT_MS])("accepts timeout_ms %d", (timeout) => {
    expect(accepts("toolkits.invoke", invoke(timeout))).toBe(true);
  });

  it.each([0, -1, MAX_TIMEOUT_MS + 1, 1.5, "1000", Number.NaN, Number.POSITIVE_INFINITY])(
    "refuses timeout_ms %s",
    (timeout) => {
      expect(accepts("toolkits.invoke", invoke(timeout))).toBe(false);
    },
  );

  it("refuses a negative or fractional if_version", () => {
    const args = (v: unknown) => ({ ...VALID_ARGS["secrets.set_secret"], if_version: v });
    expect(accepts("secrets.set_secret", args(0))).toBe(true);
    expect(accepts("secrets.set_secret", args(-1))).toBe(false);
    expect(accepts("secrets.set_secret", args(0.5))).toBe(false);
  });

  it("refuses a boolean written as a string", () => {
    expect(accepts("secrets.request_secret", { ...VALID_ARGS["secrets.request_secret"], refresh: "true" })).toBe(false);
    const oauth = withValueAt(VALID_ARGS["secrets.request_oauth_token"], ["oauth", "no_pkce"], 1);
    expect(accepts("secrets.request_oauth_token", oauth)).toBe(false);
  });
});

describe("OPS: schema error messages do not repeat input values", () => {
  const CANARY = "canary-53cr37-value";
  it.each(STRING_CASES)("%s: an invalid %s", (op, _, path) => {
    for (const bad of [`${CANARY}${"x".repeat(MAX_TEXT_CHARS * 2)}`, ` ${CANARY} bad identity`, 12345]) {
      const result = argsSchema(op).safeParse(withValueAt(VALID_ARGS[op], path, bad));
      if (result.success) continue;
      expect(JSON.stringify(result.error.issues.map((issue) => issue.message))).not.toContain(CANARY);
      expect(JSON.stringify(result.error.issues.map((issue) => issue.message))).not.toContain("12345");
    }
  });
});

describe("OPS: results that may be empty", () => {
  it("secrets.get_secret answers a record or null", () => {
    const result = OPS["secrets.get_secret"].result;
    expect(result.safeParse(null).success).toBe(true);
    expect(result.safeParse({ id: "s", type: "text/plain", version: 1, data: Buffer.from("v") }).success).toBe(true);
    expect(result.safeParse({ id: "s", type: "text/plain", version: 1, data: Buffer.from("v"), extra: 1 }).success).toBe(false);
  });

  it("secrets.get_offline_oauth_token answers a token or null", () => {
    const result = OPS["secrets.get_offline_oauth_token"].result;
    expect(result.safeParse(null).success).toBe(true);
    expect(result.safeParse({ access_token: "a", token_type: "Bearer", scopes: [] }).success).toBe(true);
  });
});
