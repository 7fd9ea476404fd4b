/**
 * Generators and fixed samples shared by the protocol tests: msgpack-plain values, valid args for every op, and
 * byte mutations. Not a test file itself (vitest only collects `*.test.ts`).
 */
import fc from "fast-check";
import { IDENTITY_PATTERN } from "../../src/protocol/common.js";
import { MAX_TIMEOUT_MS } from "../../src/protocol/limits.js";
import type { OpArgs, OpName } from "../../src/protocol/ops.js";

/** msgpackr maps a `__proto__` key to `__proto_`, so round trips only hold without it (tested on its own). */
export const mapKey = fc.string({ unit: "binary", maxLength: 12 }).filter((key) => key !== "__proto__");

export const binary = (maxLength: number) => fc.uint8Array({ maxLength }).map((bytes) => Buffer.from(bytes));

const depthIdentifier = fc.createDepthIdentifier();

/**
 * Values made only of msgpack's standard types. -0 is left out: msgpackr writes it as the integer 0, which is the
 * same number on the wire but not `Object.is`-equal. Nesting stays well under the decoder's MAX_DEPTH.
 */
export const plainValue: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown; array: unknown[]; map: object }>(
  (tie) => ({
    value: fc.oneof(
      { maxDepth: 4, depthIdentifier },
      fc.constant(null),
      fc.boolean(),
      fc.integer(),
      fc.maxSafeInteger(),
      fc.double().filter((n) => !Object.is(n, -0)),
      fc.string({ unit: "binary", maxLength: 24 }),
      binary(24),
      tie("array"),
      tie("map"),
    ),
    array: fc.array(tie("value"), { maxLength: 4, depthIdentifier }),
    map: fc.dictionary(mapKey, tie("value"), { maxKeys: 4, noNullPrototype: true, depthIdentifier }),
  }),
).value;

export const plainMap = fc.dictionary(mapKey, plainValue, { maxKeys: 6, noNullPrototype: true });

export const requestId = fc.integer({ min: 0, max: 0xffff_ffff });

const idArb = fc.string({ unit: "binary", minLength: 1, maxLength: 40 });
const nameArb = fc.string({ unit: "binary", minLength: 1, maxLength: 40 });
const textArb = fc.string({ unit: "binary", maxLength: 80 });
const identityArb = fc.stringMatching(IDENTITY_PATTERN);
const urlArb = fc.webUrl({ withQueryParameters: true }).filter((url) => url.length <= 2048);
const mimeArb = fc.constantFrom("text/plain", "application/json", "application/x-api-key", "x");
const timeoutArb = fc.integer({ min: 1, max: MAX_TIMEOUT_MS });
const oauthClientArb = fc.record(
  {
    client_id: nameArb,
    client_secret: fc.string({ minLength: 1, maxLength: 60 }),
    authorization_endpoint: urlArb,
    token_endpoint: urlArb,
    scopes: fc.array(nameArb, { maxLength: 5 }),
    no_pkce: fc.boolean(),
  },
  { requiredKeys: ["client_id", "authorization_endpoint", "token_endpoint"] },
);

/** One generator of valid args per op; the mapped type makes a new op without a generator a compile error. */
export const ARGS_ARBITRARIES: { [Op in OpName]: fc.Arbitrary<OpArgs<Op>> } = {
  "room.list_participants": fc.constant({}),
  "room.set_attributes": fc.record({ attributes: plainMap }),
  "messaging.send": fc.record(
    { to_participant_id: idArb, type: nameArb, message: plainMap, attachment: binary(64) },
    { requiredKeys: ["to_participant_id", "type", "message"] },
  ),
  "messaging.broadcast": fc.record(
    { type: nameArb, message: plainMap, attachment: binary(64) },
    { requiredKeys: ["type", "message"] },
  ),
  "toolkits.register": fc.record({
    name: nameArb,
    tools: fc.array(fc.record({ name: nameArb, description: textArb }, { requiredKeys: ["name"] }), {
      maxLength: 4,
    }),
  }),
  "toolkits.list": fc.constant({}),
  "toolkits.invoke": fc.record(
    { participant_id: idArb, toolkit: nameArb, tool: nameArb, arguments: plainMap, timeout_ms: timeoutArb },
    { requiredKeys: ["participant_id", "toolkit", "tool", "arguments"] },
  ),
  "toolkits.respond": fc.record(
    { call_id: idArb, result: plainValue, error: fc.record({ message: textArb }) },
    { requiredKeys: ["call_id"] },
  ),
  "secrets.list_secrets": fc.record({ for_identity: identityArb }, { requiredKeys: [] }),
  "secrets.set_secret": fc.record(
    {
      secret_id: idArb,
      type: mimeArb,
      name: nameArb,
      data: binary(128),
      delegated_to: identityArb,
      for_identity: identityArb,
      if_version: fc.nat(),
    },
    { requiredKeys: ["data"] },
  ),
  "secrets.get_secret": fc.record(
    { secret_id: idArb, delegated_to: identityArb, delegated_by: identityArb, for_identity: identityArb },
    { requiredKeys: ["secret_id"] },
  ),
  "secrets.exists": fc.record(
    { secret_id: idArb, delegated_to: identityArb, for_identity: identityArb },
    { requiredKeys: ["secret_id"] },
  ),
  "secrets.delete_secret": fc.record(
    { secret_id: idArb, delegated_to: identityArb, for_identity: identityArb },
    { requiredKeys: ["secret_id"] },
  ),
  "secrets.delete_requested_secret": fc.record(
    { url: urlArb, type: mimeArb, delegated_to: identityArb, for_identity: identityArb },
    { requiredKeys: ["url", "type"] },
  ),
  "secrets.revoke_oauth_token": fc.record(
    { authorization_endpoint: urlArb, client_id: idArb, delegated_to: identityArb, owner: identityArb, for_identity: identityArb },
    { requiredKeys: ["authorization_endpoint", "client_id"] },
  ),
  "secrets.get_requested_secret": fc.record(
    { url: urlArb, type: mimeArb, delegated_to: identityArb, delegated_by: identityArb, for_identity: identityArb },
    { requiredKeys: ["url"] },
  ),
  "secrets.request_secret": fc.record(
    {
      participant_id: idArb,
      url: urlArb,
      type: mimeArb,
      delegate_to: identityArb,
      prompt: textArb,
      timeout_ms: timeoutArb,
      refresh: fc.boolean(),
    },
    { requiredKeys: ["participant_id", "url"] },
  ),
  "secrets.provide_secret": fc.record({ request_id: idArb, data: binary(128) }),
  "secrets.reject_secret": fc.record({ request_id: idArb, reason: textArb }, { requiredKeys: ["request_id"] }),
  "secrets.request_oauth_token": fc.record(
    {
      participant_id: idArb,
      oauth: oauthClientArb,
      redirect_uri: urlArb,
      delegate_to: identityArb,
      timeout_ms: timeoutArb,
      refresh: fc.boolean(),
    },
    { requiredKeys: ["participant_id", "oauth"] },
  ),
  "secrets.provide_oauth_authorization": fc.record(
    { request_id: idArb, code: fc.string({ minLength: 1, maxLength: 80 }), state: fc.string({ maxLength: 40 }) },
    { requiredKeys: ["request_id", "code"] },
  ),
  "secrets.reject_oauth_authorization": fc.record({ request_id: idArb, error: textArb }, { requiredKeys: ["request_id"] }),
  "secrets.get_offline_oauth_token": fc.record(
    { oauth: oauthClientArb, delegated_to: identityArb, delegated_by: identityArb },
    { requiredKeys: ["oauth"] },
  ),
};

const OAUTH_CLIENT = {
  client_id: "roombus-test",
  client_secret: "s3cr3t",
  authorization_endpoint: "https://auth.example/authorize",
  token_endpoint: "https://auth.example/token",
  scopes: ["read"],
  no_pkce: false,
};

/**
 * One valid args value per op, with every optional field present so that limit tests reach each field. Free maps
 * (`message`, `attributes`, `arguments`) and `toolkits.respond`'s `result` hold no strings: their values are
 * unconstrained by design.
 */
export const VALID_ARGS: { [Op in OpName]: OpArgs<Op> } = {
  "room.list_participants": {},
  "room.set_attributes": { attributes: { online: true } },
  "messaging.send": { to_participant_id: "p-1", type: "chat", message: { n: 1 }, attachment: Buffer.from([1]) },
  "messaging.broadcast": { type: "chat", message: { n: 1 }, attachment: Buffer.from([1]) },
  "toolkits.register": { name: "calc", tools: [{ name: "add", description: "adds" }] },
  "toolkits.list": {},
  "toolkits.invoke": { participant_id: "p-1", toolkit: "calc", tool: "add", arguments: { a: 1 }, timeout_ms: 1000 },
  "toolkits.respond": { call_id: "c-1", result: 3, error: { message: "failed" } },
  "secrets.list_secrets": { for_identity: "bob" },
  "secrets.set_secret": {
    secret_id: "s-1",
    type: "text/plain",
    name: "api key",
    data: Buffer.from("value"),
    delegated_to: "bob",
    for_identity: "carol",
    if_version: 0,
  },
  "secrets.get_secret": { secret_id: "s-1", delegated_to: "bob", delegated_by: "carol", for_identity: "dave" },
  "secrets.exists": { secret_id: "s-1", delegated_to: "bob", for_identity: "carol" },
  "secrets.delete_secret": { secret_id: "s-1", delegated_to: "bob", for_identity: "carol" },
  "secrets.delete_requested_secret": { url: "https://api.example", type: "text/plain", delegated_to: "bob" },
  "secrets.get_requested_secret": { url: "https://api.example", type: "text/plain", delegated_by: "bob" },
  "secrets.revoke_oauth_token": { authorization_endpoint: "https://as.example/authorize", client_id: "app", owner: "agent" },
  "secrets.request_secret": {
    participant_id: "p-1",
    url: "https://api.example",
    type: "text/plain",
    delegate_to: "bob",
    prompt: "please",
    timeout_ms: 1000,
    refresh: true,
  },
  "secrets.provide_secret": { request_id: "r-1", data: Buffer.from("value") },
  "secrets.reject_secret": { request_id: "r-1", reason: "no" },
  "secrets.request_oauth_token": {
    participant_id: "p-1",
    oauth: OAUTH_CLIENT,
    redirect_uri: "https://app.example/cb",
    delegate_to: "bob",
    timeout_ms: 1000,
    refresh: false,
  },
  "secrets.provide_oauth_authorization": { request_id: "r-1", code: "code", state: "state" },
  "secrets.reject_oauth_authorization": { request_id: "r-1", error: "access_denied" },
  "secrets.get_offline_oauth_token": { oauth: OAUTH_CLIENT, delegated_to: "bob", delegated_by: "carol" },
};

/** Fields whose values are free (z.unknown inside): limit tests do not descend into them. */
export const FREE_FIELDS = new Set(["message", "attributes", "arguments", "result"]);

export type Mutation =
  | { kind: "flip"; at: number; bit: number }
  | { kind: "truncate"; at: number }
  | { kind: "insert"; at: number; bytes: Uint8Array }
  | { kind: "delete"; at: number; count: number }
  | { kind: "overwrite"; at: number; byte: number };

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 6 }) }),
  fc.record({ kind: fc.constant("delete" as const), at: fc.nat(), count: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ kind: fc.constant("overwrite" as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
);

/** Applies a mutation at a position taken modulo the length, so every generated mutation lands in the bytes. */
export function applyMutation(bytes: Uint8Array, m: Mutation): Uint8Array {
  const at = bytes.length === 0 ? 0 : m.at % (bytes.length + 1);
  switch (m.kind) {
    case "flip": {
      if (bytes.length === 0) return bytes;
      const copy = Uint8Array.from(bytes);
      const index = at % bytes.length;
      copy[index] = copy[index]! ^ (1 << m.bit);
      return copy;
    }
    case "truncate":
      return bytes.subarray(0, at);
    case "insert":
      return Uint8Array.from([...bytes.subarray(0, at), ...m.bytes, ...bytes.subarray(at)]);
    case "delete":
      return Uint8Array.from([...bytes.subarray(0, at), ...bytes.subarray(at + m.count)]);
    case "overwrite": {
      if (bytes.length === 0) return bytes;
      const copy = Uint8Array.from(bytes);
      copy[at % bytes.length] = m.byte;
      return copy;
    }
  }
}
