/**
 * Who may touch which record (PROTOCOL.md §4, §6), as a table over real sockets.
 *
 * Every row of the main table starts a fresh node in which the owner "alice" has stored
 *   - "private": her own secret,
 *   - "shared": a secret delegated to "bob",
 *   - two requested secrets for TOKEN_URL (one of them requested with `delegate_to: "bob"`),
 * then runs one op as one actor, and checks both the answer and what alice's records look like afterwards.
 * Reads of what the actor may not see must look exactly like nothing is there (null / false / absent).
 */
import { describe, expect, it } from "vitest";
import type { ApiName } from "../../src/auth/grants.js";
import type { RoomClient } from "../../src/client/index.js";
import { RoombusError } from "../../src/protocol/errors.js";
import { OPS, type OpArgs, type OpName } from "../../src/protocol/ops.js";
import { openRaw, isResponse } from "../helpers/raw-socket.js";
import { startTestNode, TEST_ROOM, type TestNode } from "../helpers/start-test-node.js";

const TOKEN_URL = "https://api.example.test/token";
const TEXT = "text/plain";

const bytes = (value: string) => new TextEncoder().encode(value);
const text = (value: Uint8Array) => Buffer.from(value).toString("utf8");

// ---- actors ----

const ACTORS = {
  owner: { identity: "alice", api: ["secrets"] },
  delegatee: { identity: "bob", api: ["secrets"] },
  stranger: { identity: "carol", api: ["secrets"] },
  admin: { identity: "root", api: ["secrets", "admin"] },
  "owner in another room": { identity: "alice", api: ["secrets"], room: "other-room" },
  "delegatee in another room": { identity: "bob", api: ["secrets"], room: "other-room" },
} satisfies Record<string, { identity: string; api: ApiName[]; room?: string }>;
type Actor = keyof typeof ACTORS;

// ---- calls and answers ----

type RecordOp = Extract<
  OpName,
  | "secrets.list_secrets"
  | "secrets.set_secret"
  | "secrets.get_secret"
  | "secrets.exists"
  | "secrets.delete_secret"
  | "secrets.delete_requested_secret"
>;
type Call = { [Op in RecordOp]: { op: Op; args: OpArgs<Op> } }[RecordOp];

const list = (args: OpArgs<"secrets.list_secrets"> = {}): Call => ({ op: "secrets.list_secrets", args });
const set = (args: OpArgs<"secrets.set_secret">): Call => ({ op: "secrets.set_secret", args });
const get = (args: OpArgs<"secrets.get_secret">): Call => ({ op: "secrets.get_secret", args });
const exists = (args: OpArgs<"secrets.exists">): Call => ({ op: "secrets.exists", args });
const del = (args: OpArgs<"secrets.delete_secret">): Call => ({ op: "secrets.delete_secret", args });
const delRequested = (args: OpArgs<"secrets.delete_requested_secret">): Call => ({
  op: "secrets.delete_requested_secret",
  args,
});

type Outcome = { result: unknown } | { error: number };
const gives = (result: unknown): Outcome => ({ result });
const DENIED: Outcome = { error: 1001 };
const NOTHING = gives(null);

interface Info {
  kind: "secret" | "requested" | "oauth";
  id?: string;
  url?: string;
  type: string;
  name?: string;
  delegated_to?: string;
  delegated_by?: string;
  version: number;
}
const infoOrder = (info: Info) =>
  [info.kind, info.id ?? "", info.url ?? "", info.delegated_to ?? "", info.delegated_by ?? ""].join("|");
const listing = (...infos: Info[]) => gives({ secrets: [...infos].sort((a, b) => infoOrder(a).localeCompare(infoOrder(b))) });

// What alice has after seeding, as list_secrets shows it to her, and as it shows to bob.
const PRIVATE: Info = { kind: "secret", id: "private", type: TEXT, name: "Alice's key", version: 1 };
const SHARED: Info = { kind: "secret", id: "shared", type: TEXT, delegated_to: "bob", version: 1 };
const REQUESTED: Info = { kind: "requested", url: TOKEN_URL, type: TEXT, version: 1 };
const REQUESTED_FOR_BOB: Info = { kind: "requested", url: TOKEN_URL, type: TEXT, delegated_to: "bob", version: 1 };
const OWNER_LIST = listing(PRIVATE, SHARED, REQUESTED, REQUESTED_FOR_BOB);
const DELEGATEE_LIST = listing(
  { ...SHARED, delegated_by: "alice" },
  { ...REQUESTED_FOR_BOB, delegated_by: "alice" },
);
const EMPTY_LIST = listing();

const PRIVATE_VALUE = gives({ id: "private", name: "Alice's key", type: TEXT, version: 1, data: "alice-private" });
const SHARED_VALUE = gives({ id: "shared", type: TEXT, version: 1, data: "for-bob" });

// Alice's records, one line each: kind, key, version and (for secrets) the value.
const UNTOUCHED = [
  "requested https://api.example.test/token v1",
  "requested https://api.example.test/token→bob v1",
  "secret private v1 alice-private",
  "secret shared→bob v1 for-bob",
];
const without = (line: string) => UNTOUCHED.filter((other) => other !== line);
const replacing = (line: string, by: string) => UNTOUCHED.map((other) => (other === line ? by : other));

interface Row {
  as: Actor;
  call: Call;
  answers: Outcome;
  /** Alice's records afterwards; untouched unless the row says otherwise. */
  leaves?: string[];
}

// ---- the world of one row ----

interface World {
  node: TestNode;
  alice: RoomClient;
  actor(name: Actor): Promise<RoomClient>;
}

async function seededWorld(node: TestNode): Promise<World> {
  const alice = await node.connect("alice", { api: ["secrets"] });
  const person = await node.connect("person", { api: ["secrets"] });
  await alice.secrets.setSecret({ secret_id: "private", type: TEXT, name: "Alice's key", data: bytes("alice-private") });
  await alice.secrets.setSecret({ secret_id: "shared", type: TEXT, delegated_to: "bob", data: bytes("for-bob") });
  for (const delegateTo of [undefined, "bob"]) {
    const asked = person.next("secrets.request_secret");
    const call = alice.secrets.requestSecret({
      participant_id: person.participantId,
      url: TOKEN_URL,
      type: TEXT,
      delegate_to: delegateTo,
    });
    const { request_id } = await asked;
    await person.secrets.provideSecret({ request_id, data: bytes(`requested for ${delegateTo ?? "alice"}`) });
    await call;
  }
  const clients = new Map<Actor, RoomClient>([["owner", alice]]);
  return {
    node,
    alice,
    async actor(name) {
      let client = clients.get(name);
      if (client === undefined) {
        const { identity, ...options } = ACTORS[name];
        client = await node.connect(identity, options);
        clients.set(name, client);
      }
      return client;
    },
  };
}

/** Runs a call and reports its result (values as text, list entries without `updated_at`) or its error code. */
async function attempt(client: RoomClient, call: Call): Promise<Outcome> {
  let raw: unknown;
  try {
    raw = await client.request(call.op, call.args);
  } catch (error) {
    if (error instanceof RoombusError) return { error: error.code };
    throw error;
  }
  // Every answer also conforms to the op's result schema (strict: no extra fields such as a value in a listing).
  OPS[call.op].result.parse(raw);
  return { result: plain(raw) };
}

function plain(value: unknown): unknown {
  if (value instanceof Uint8Array) return text(value);
  if (value === null || typeof value !== "object") return value;
  if ("secrets" in value && Array.isArray(value.secrets)) {
    const infos = (value.secrets as (Info & { updated_at: unknown })[]).map(({ updated_at, ...info }) => {
      expect(typeof updated_at).toBe("number");
      return info;
    });
    return { secrets: infos.sort((a, b) => infoOrder(a).localeCompare(infoOrder(b))) };
  }
  return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, plain(inner)]));
}

async function recordsOf(alice: RoomClient): Promise<string[]> {
  const { secrets } = await alice.secrets.listSecrets();
  const lines: string[] = [];
  for (const info of secrets) {
    if (info.delegated_by !== undefined) continue;
    const to = info.delegated_to === undefined ? "" : `→${info.delegated_to}`;
    if (info.kind === "secret") {
      const secret = await alice.secrets.getSecret({ secret_id: info.id!, delegated_to: info.delegated_to });
      lines.push(`secret ${info.id}${to} v${info.version} ${secret === null ? "(unreadable)" : text(secret.data)}`);
    } else {
      lines.push(`${info.kind} ${info.url}${to} v${info.version}`);
    }
  }
  return lines.sort();
}

function title(row: Row): string {
  const args = Object.entries(row.call.args)
    .map(([key, value]) => `${key}: ${value instanceof Uint8Array ? "…" : JSON.stringify(value)}`)
    .join(", ");
  const answer = "error" in row.answers ? `error ${row.answers.error}` : JSON.stringify(row.answers.result);
  const leaves = row.leaves === undefined ? "" : "; alice's records change";
  return `${row.as}: ${row.call.op.slice("secrets.".length)}({${args}}) → ${answer.slice(0, 100)}${leaves}`;
}

function runTable(rows: Row[]) {
  it.each(rows.map((row) => [title(row), row] as const))("%s", async (_title, row) => {
    await using node = await startTestNode();
    const world = await seededWorld(node);
    expect(await recordsOf(world.alice)).toEqual(UNTOUCHED);
    const client = await world.actor(row.as);
    expect(await attempt(client, row.call)).toEqual(row.answers);
    expect(await recordsOf(world.alice)).toEqual(row.leaves ?? UNTOUCHED);
  });
}

// ---- the table ----

describe("the owner: everything", () => {
  runTable([
    { as: "owner", call: get({ secret_id: "private" }), answers: PRIVATE_VALUE },
    { as: "owner", call: get({ secret_id: "shared", delegated_to: "bob" }), answers: SHARED_VALUE },
    // delegated_to is part of the key: without it, this is another (absent) record.
    { as: "owner", call: get({ secret_id: "shared" }), answers: NOTHING },
    { as: "owner", call: exists({ secret_id: "private" }), answers: gives({ exists: true }) },
    { as: "owner", call: exists({ secret_id: "shared", delegated_to: "bob" }), answers: gives({ exists: true }) },
    { as: "owner", call: exists({ secret_id: "shared" }), answers: gives({ exists: false }) },
    { as: "owner", call: list(), answers: OWNER_LIST },
    {
      as: "owner",
      call: set({ secret_id: "private", type: TEXT, name: "Alice's key", data: bytes("changed") }),
      answers: gives({ id: "private", version: 2 }),
      leaves: replacing("secret private v1 alice-private", "secret private v2 changed"),
    },
    {
      as: "owner",
      call: set({ secret_id: "shared", delegated_to: "bob", type: TEXT, data: bytes("changed") }),
      answers: gives({ id: "shared", version: 2 }),
      leaves: replacing("secret shared→bob v1 for-bob", "secret shared→bob v2 changed"),
    },
    {
      as: "owner",
      call: del({ secret_id: "private" }),
      answers: gives({ deleted: true }),
      leaves: without("secret private v1 alice-private"),
    },
    {
      as: "owner",
      call: del({ secret_id: "shared", delegated_to: "bob" }),
      answers: gives({ deleted: true }),
      leaves: without("secret shared→bob v1 for-bob"),
    },
    { as: "owner", call: del({ secret_id: "shared" }), answers: gives({ deleted: false }) },
    {
      as: "owner",
      call: delRequested({ url: TOKEN_URL, type: TEXT }),
      answers: gives({ deleted: true }),
      leaves: without("requested https://api.example.test/token v1"),
    },
    {
      as: "owner",
      call: delRequested({ url: TOKEN_URL, type: TEXT, delegated_to: "bob" }),
      answers: gives({ deleted: true }),
      leaves: without("requested https://api.example.test/token→bob v1"),
    },
    { as: "owner", call: delRequested({ url: TOKEN_URL, type: "application/json" }), answers: gives({ deleted: false }) },
  ]);
});

describe("a non-admin naming itself in for_identity: allowed, as if it were left out", () => {
  runTable([
    { as: "owner", call: list({ for_identity: "alice" }), answers: OWNER_LIST },
    { as: "owner", call: get({ secret_id: "private", for_identity: "alice" }), answers: PRIVATE_VALUE },
    { as: "owner", call: exists({ secret_id: "private", for_identity: "alice" }), answers: gives({ exists: true }) },
    {
      as: "owner",
      call: set({ secret_id: "private", type: TEXT, name: "Alice's key", data: bytes("changed"), for_identity: "alice" }),
      answers: gives({ id: "private", version: 2 }),
      leaves: replacing("secret private v1 alice-private", "secret private v2 changed"),
    },
    {
      as: "owner",
      call: del({ secret_id: "private", for_identity: "alice" }),
      answers: gives({ deleted: true }),
      leaves: without("secret private v1 alice-private"),
    },
    { as: "delegatee", call: get({ secret_id: "shared", delegated_by: "alice", for_identity: "bob" }), answers: SHARED_VALUE },
    { as: "delegatee", call: list({ for_identity: "bob" }), answers: DELEGATEE_LIST },
  ]);
});

describe("the delegatee: read only, and only by naming delegated_by", () => {
  runTable([
    { as: "delegatee", call: get({ secret_id: "shared", delegated_by: "alice" }), answers: SHARED_VALUE },
    {
      as: "delegatee",
      call: get({ secret_id: "shared", delegated_by: "alice", delegated_to: "bob" }),
      answers: SHARED_VALUE,
    },
    { as: "delegatee", call: get({ secret_id: "shared" }), answers: NOTHING },
    { as: "delegatee", call: get({ secret_id: "shared", delegated_to: "bob" }), answers: NOTHING },
    { as: "delegatee", call: get({ secret_id: "private", delegated_by: "alice" }), answers: NOTHING },
    { as: "delegatee", call: exists({ secret_id: "shared" }), answers: gives({ exists: false }) },
    { as: "delegatee", call: exists({ secret_id: "shared", delegated_to: "bob" }), answers: gives({ exists: false }) },
    { as: "delegatee", call: exists({ secret_id: "shared", delegated_by: "alice" }), answers: gives({ exists: true }) },
    { as: "delegatee", call: exists({ secret_id: "private", delegated_by: "alice" }), answers: gives({ exists: false }) },
    { as: "delegatee", call: list(), answers: DELEGATEE_LIST },
    // Writing "shared" makes bob's own record (version 1); alice's stays as it was.
    { as: "delegatee", call: set({ secret_id: "shared", data: bytes("bob's") }), answers: gives({ id: "shared", version: 1 }) },
    {
      as: "delegatee",
      call: set({ secret_id: "shared", delegated_to: "bob", data: bytes("bob's") }),
      answers: gives({ id: "shared", version: 1 }),
    },
    { as: "delegatee", call: del({ secret_id: "shared" }), answers: gives({ deleted: false }) },
    { as: "delegatee", call: del({ secret_id: "shared", delegated_to: "bob" }), answers: gives({ deleted: false }) },
    { as: "delegatee", call: delRequested({ url: TOKEN_URL, type: TEXT }), answers: gives({ deleted: false }) },
    { as: "delegatee", call: delRequested({ url: TOKEN_URL, type: TEXT, delegated_to: "bob" }), answers: gives({ deleted: false }) },
  ]);
});

describe("a stranger: nothing, and it looks like nothing is there", () => {
  runTable([
    { as: "stranger", call: get({ secret_id: "private" }), answers: NOTHING },
    { as: "stranger", call: get({ secret_id: "private", delegated_by: "alice" }), answers: NOTHING },
    { as: "stranger", call: get({ secret_id: "shared", delegated_by: "alice" }), answers: NOTHING },
    {
      as: "stranger",
      call: get({ secret_id: "shared", delegated_by: "alice", delegated_to: "bob" }),
      answers: NOTHING,
    },
    { as: "stranger", call: exists({ secret_id: "private" }), answers: gives({ exists: false }) },
    { as: "stranger", call: exists({ secret_id: "shared", delegated_to: "bob" }), answers: gives({ exists: false }) },
    { as: "stranger", call: list(), answers: EMPTY_LIST },
    { as: "stranger", call: del({ secret_id: "private" }), answers: gives({ deleted: false }) },
    { as: "stranger", call: del({ secret_id: "shared", delegated_to: "bob" }), answers: gives({ deleted: false }) },
    { as: "stranger", call: delRequested({ url: TOKEN_URL, type: TEXT }), answers: gives({ deleted: false }) },
    // A create-only write succeeds: the stranger's "private" is its own record, and nothing hints at alice's.
    {
      as: "stranger",
      call: set({ secret_id: "private", data: bytes("carol's"), if_version: 0 }),
      answers: gives({ id: "private", version: 1 }),
    },
  ]);
});

describe("an admin without for_identity: acts as itself only", () => {
  runTable([
    { as: "admin", call: get({ secret_id: "private" }), answers: NOTHING },
    { as: "admin", call: get({ secret_id: "shared", delegated_by: "alice" }), answers: NOTHING },
    { as: "admin", call: exists({ secret_id: "private" }), answers: gives({ exists: false }) },
    { as: "admin", call: list(), answers: EMPTY_LIST },
    { as: "admin", call: del({ secret_id: "private" }), answers: gives({ deleted: false }) },
    { as: "admin", call: delRequested({ url: TOKEN_URL, type: TEXT }), answers: gives({ deleted: false }) },
    { as: "admin", call: set({ secret_id: "private", data: bytes("root's") }), answers: gives({ id: "private", version: 1 }) },
  ]);
});

describe("an admin with for_identity: acts fully as that identity", () => {
  runTable([
    { as: "admin", call: get({ secret_id: "private", for_identity: "alice" }), answers: PRIVATE_VALUE },
    { as: "admin", call: get({ secret_id: "shared", delegated_to: "bob", for_identity: "alice" }), answers: SHARED_VALUE },
    { as: "admin", call: exists({ secret_id: "private", for_identity: "alice" }), answers: gives({ exists: true }) },
    { as: "admin", call: list({ for_identity: "alice" }), answers: OWNER_LIST },
    {
      as: "admin",
      call: delRequested({ url: TOKEN_URL, type: TEXT, for_identity: "alice" }),
      answers: gives({ deleted: true }),
      leaves: without("requested https://api.example.test/token v1"),
    },
    {
      as: "admin",
      call: set({ secret_id: "private", type: TEXT, name: "Alice's key", data: bytes("by root"), for_identity: "alice" }),
      answers: gives({ id: "private", version: 2 }),
      leaves: replacing("secret private v1 alice-private", "secret private v2 by root"),
    },
    {
      as: "admin",
      call: set({ secret_id: "from-root", data: bytes("by root"), for_identity: "alice" }),
      answers: gives({ id: "from-root", version: 1 }),
      leaves: [...UNTOUCHED, "secret from-root v1 by root"].sort(),
    },
    {
      as: "admin",
      call: del({ secret_id: "private", for_identity: "alice" }),
      answers: gives({ deleted: true }),
      leaves: without("secret private v1 alice-private"),
    },
    // As bob, the admin is the delegatee: it reads what was delegated to bob, and can't delete it.
    { as: "admin", call: get({ secret_id: "shared", delegated_by: "alice", for_identity: "bob" }), answers: SHARED_VALUE },
    { as: "admin", call: list({ for_identity: "bob" }), answers: DELEGATEE_LIST },
    { as: "admin", call: del({ secret_id: "shared", delegated_to: "bob", for_identity: "bob" }), answers: gives({ deleted: false }) },
    // As a third identity, it sees nothing of alice's.
    { as: "admin", call: get({ secret_id: "private", for_identity: "carol" }), answers: NOTHING },
  ]);
});

describe("a non-admin naming someone else in for_identity: 1001", () => {
  const someoneElse = (as: Actor, forIdentity: string): Row[] => [
    { as, call: list({ for_identity: forIdentity }), answers: DENIED },
    { as, call: set({ secret_id: "private", data: bytes("x"), for_identity: forIdentity }), answers: DENIED },
    { as, call: get({ secret_id: "private", for_identity: forIdentity }), answers: DENIED },
    { as, call: exists({ secret_id: "private", for_identity: forIdentity }), answers: DENIED },
    { as, call: del({ secret_id: "private", for_identity: forIdentity }), answers: DENIED },
  ];
  runTable([...someoneElse("stranger", "alice"), ...someoneElse("delegatee", "alice"), ...someoneElse("owner", "bob")]);
});

describe("the same identity in another room: sees nothing of this room's records", () => {
  runTable([
    { as: "owner in another room", call: get({ secret_id: "private" }), answers: NOTHING },
    { as: "owner in another room", call: exists({ secret_id: "private" }), answers: gives({ exists: false }) },
    { as: "owner in another room", call: list(), answers: EMPTY_LIST },
    { as: "owner in another room", call: del({ secret_id: "private" }), answers: gives({ deleted: false }) },
    { as: "owner in another room", call: del({ secret_id: "shared", delegated_to: "bob" }), answers: gives({ deleted: false }) },
    { as: "owner in another room", call: delRequested({ url: TOKEN_URL, type: TEXT }), answers: gives({ deleted: false }) },
    {
      as: "owner in another room",
      call: set({ secret_id: "private", data: bytes("elsewhere"), if_version: 0 }),
      answers: gives({ id: "private", version: 1 }),
    },
    { as: "delegatee in another room", call: get({ secret_id: "shared", delegated_by: "alice" }), answers: NOTHING },
    { as: "delegatee in another room", call: list(), answers: EMPTY_LIST },
  ]);
});

// ---- the grant ----

/** Valid args for every secrets op, so that nothing but the grant can be the reason for a refusal. */
type SecretsOp = Extract<OpName, `secrets.${string}`>;
const OAUTH = { client_id: "app", authorization_endpoint: "https://idp.example.test/authorize", token_endpoint: "https://idp.example.test/token" };
const VALID_ARGS: { [Op in SecretsOp]: (participantId: string) => OpArgs<Op> } = {
  "secrets.list_secrets": () => ({}),
  "secrets.set_secret": () => ({ secret_id: "k", data: bytes("v") }),
  "secrets.get_secret": () => ({ secret_id: "k" }),
  "secrets.exists": () => ({ secret_id: "k" }),
  "secrets.delete_secret": () => ({ secret_id: "k" }),
  "secrets.delete_requested_secret": () => ({ url: TOKEN_URL, type: TEXT }),
  "secrets.get_requested_secret": () => ({ url: TOKEN_URL, type: TEXT }),
  "secrets.request_secret": (participant_id) => ({ participant_id, url: TOKEN_URL, timeout_ms: 200 }),
  "secrets.provide_secret": () => ({ request_id: "rq_unknown", data: bytes("v") }),
  "secrets.reject_secret": () => ({ request_id: "rq_unknown", reason: "no" }),
  "secrets.request_oauth_token": (participant_id) => ({ participant_id, oauth: OAUTH, timeout_ms: 200 }),
  "secrets.provide_oauth_authorization": () => ({ request_id: "rq_unknown", code: "code", state: "state" }),
  "secrets.reject_oauth_authorization": () => ({ request_id: "rq_unknown", error: "access_denied" }),
  "secrets.get_offline_oauth_token": () => ({ oauth: OAUTH }),
  "secrets.revoke_oauth_token": () => ({ authorization_endpoint: OAUTH.authorization_endpoint, client_id: OAUTH.client_id }),
};
const SECRETS_OPS = Object.keys(VALID_ARGS) as SecretsOp[];

async function codeOf(promise: Promise<unknown>): Promise<number | "ok"> {
  try {
    await promise;
    return "ok";
  } catch (error) {
    if (error instanceof RoombusError) return error.code;
    throw error;
  }
}

describe("no secrets grant: 1001 for every secrets op", () => {
  const withoutSecrets: [string, ApiName[]][] = [
    ["no grant at all", []],
    ["messaging and toolkits", ["messaging", "toolkits"]],
    ["admin but not secrets", ["messaging", "toolkits", "admin"]],
  ];
  it.each(withoutSecrets)("a token with %s", async (_name, api) => {
    await using node = await startTestNode();
    const refused = await node.connect("alice", { api });
    const granted = await node.connect("alice", { api: ["secrets"] });
    // A participant that exists, so that a request with the grant would reach the exchange and not stop at 1003.
    const other = await node.connect("person", { api: ["secrets"] });
    for (const op of SECRETS_OPS) {
      const args = VALID_ARGS[op](other.participantId);
      expect([op, await codeOf(refused.request(op, args))]).toEqual([op, 1001]);
    }
    // The refused set_secret stored nothing.
    expect(await granted.secrets.getSecret({ secret_id: "k" })).toBeNull();
    expect((await granted.secrets.listSecrets()).secrets).toEqual([]);
  });

  it("the same calls with the grant are not refused with 1001 (so the refusal above is the grant's)", async () => {
    await using node = await startTestNode();
    const granted = await node.connect("alice", { api: ["secrets"] });
    for (const op of SECRETS_OPS) {
      // An unknown participant: the request ops fail fast (1003) instead of asking someone.
      const args = VALID_ARGS[op]("p_nobody");
      const code = await codeOf(granted.request(op, args));
      expect([op, code]).not.toEqual([op, 1001]);
    }
  });

  it("covers every secrets op the protocol defines", () => {
    const defined = Object.keys(OPS).filter((op) => op.startsWith("secrets."));
    expect([...SECRETS_OPS].sort()).toEqual(defined.sort());
  });
});

// ---- writes, ids and what listings show ----

describe("if_version", () => {
  it("0 creates only; a stale version is a conflict; the current one writes the next version", async () => {
    await using node = await startTestNode();
    const alice = await node.connect("alice", { api: ["secrets"] });
    const value = async () => {
      const secret = await alice.secrets.getSecret({ secret_id: "k" });
      return secret === null ? null : `v${secret.version} ${text(secret.data)}`;
    };
    const write = (data: string, if_version?: number) =>
      codeOf(alice.secrets.setSecret({ secret_id: "k", data: bytes(data), if_version }));

    // On an absent record: any version but 0 is a conflict.
    expect(await write("a", 1)).toBe(1014);
    expect(await value()).toBeNull();
    await expect(alice.secrets.setSecret({ secret_id: "k", data: bytes("a"), if_version: 0 })).resolves.toEqual({
      id: "k",
      version: 1,
    });
    expect(await write("b", 0)).toBe(1004);
    expect(await value()).toBe("v1 a");
    await expect(alice.secrets.setSecret({ secret_id: "k", data: bytes("b"), if_version: 1 })).resolves.toEqual({
      id: "k",
      version: 2,
    });
    expect(await write("c", 1)).toBe(1014);
    expect(await write("c", 3)).toBe(1014);
    expect(await value()).toBe("v2 b");
    await expect(alice.secrets.setSecret({ secret_id: "k", data: bytes("c"), if_version: 2 })).resolves.toEqual({
      id: "k",
      version: 3,
    });
    // Without if_version, a write always goes through.
    await expect(alice.secrets.setSecret({ secret_id: "k", data: bytes("d") })).resolves.toEqual({ id: "k", version: 4 });
    expect(await value()).toBe("v4 d");
  });

  it("applies to the exact key: a delegated record has its own versions", async () => {
    await using node = await startTestNode();
    const alice = await node.connect("alice", { api: ["secrets"] });
    await alice.secrets.setSecret({ secret_id: "k", data: bytes("mine"), if_version: 0 });
    await expect(
      alice.secrets.setSecret({ secret_id: "k", delegated_to: "bob", data: bytes("bob's"), if_version: 0 }),
    ).resolves.toEqual({ id: "k", version: 1 });
    expect(await codeOf(alice.secrets.setSecret({ secret_id: "k", delegated_to: "bob", data: bytes("x"), if_version: 0 }))).toBe(
      1004,
    );
  });

  it("is checked against the identity acted for", async () => {
    await using node = await startTestNode();
    const alice = await node.connect("alice", { api: ["secrets"] });
    const root = await node.connect("root", { api: ["secrets", "admin"] });
    await alice.secrets.setSecret({ secret_id: "k", data: bytes("a") });
    expect(await codeOf(root.secrets.setSecret({ secret_id: "k", data: bytes("r"), if_version: 0, for_identity: "alice" }))).toBe(
      1004,
    );
    await expect(
      root.secrets.setSecret({ secret_id: "k", data: bytes("r"), if_version: 1, for_identity: "alice" }),
    ).resolves.toEqual({ id: "k", version: 2 });
    expect(text((await alice.secrets.getSecret({ secret_id: "k" }))!.data)).toBe("r");
  });
});

describe("generated ids", () => {
  it("makes a distinct, usable id whenever secret_id is left out", async () => {
    await using node = await startTestNode();
    const alice = await node.connect("alice", { api: ["secrets"] });
    const made = await Promise.all(
      Array.from({ length: 20 }, (_, i) => alice.secrets.setSecret({ data: bytes(`value ${i}`) })),
    );
    const ids = made.map((answer) => answer.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const [i, answer] of made.entries()) {
      expect(answer.version).toBe(1);
      expect(answer.id.length).toBeGreaterThan(0);
      const secret = await alice.secrets.getSecret({ secret_id: answer.id });
      expect(secret).not.toBeNull();
      expect(secret!.id).toBe(answer.id);
      expect(text(secret!.data)).toBe(`value ${i}`);
    }
    const listed = (await alice.secrets.listSecrets()).secrets.map((info) => info.id);
    expect(listed.sort()).toEqual([...ids].sort());
  });

  it("makes the id for the identity acted for", async () => {
    await using node = await startTestNode();
    const alice = await node.connect("alice", { api: ["secrets"] });
    const root = await node.connect("root", { api: ["secrets", "admin"] });
    const { id } = await root.secrets.setSecret({ data: bytes("for alice"), for_identity: "alice" });
    expect(text((await alice.secrets.getSecret({ secret_id: id }))!.data)).toBe("for alice");
    expect(await root.secrets.getSecret({ secret_id: id })).toBeNull();
  });
});

describe("type and name", () => {
  it("round-trip through set, get and list; an update replaces them", async () => {
    await using node = await startTestNode();
    const alice = await node.connect("alice", { api: ["secrets"] });
    await alice.secrets.setSecret({ secret_id: "k", type: "application/json", name: "Deploy key", data: bytes("{}") });
    expect(await alice.secrets.getSecret({ secret_id: "k" })).toMatchObject({
      id: "k",
      type: "application/json",
      name: "Deploy key",
      version: 1,
    });
    expect((await alice.secrets.listSecrets()).secrets).toEqual([
      { kind: "secret", id: "k", type: "application/json", name: "Deploy key", version: 1, updated_at: expect.any(Number) as unknown },
    ]);
    await alice.secrets.setSecret({ secret_id: "k", type: "text/plain", name: "Renamed", data: bytes("x") });
    expect(await alice.secrets.getSecret({ secret_id: "k" })).toMatchObject({ type: "text/plain", name: "Renamed", version: 2 });
  });

  it("without a type or name: a default type, and no name field at all", async () => {
    await using node = await startTestNode();
    const alice = await node.connect("alice", { api: ["secrets"] });
    await alice.secrets.setSecret({ secret_id: "k", data: bytes("x") });
    const secret = await alice.secrets.getSecret({ secret_id: "k" });
    expect(secret).not.toBeNull();
    expect(secret!.type).toBe("application/octet-stream");
    expect(Object.keys(secret!)).not.toContain("name");
    const [info] = (await alice.secrets.listSecrets()).secrets;
    expect(info).toBeDefined();
    expect(Object.keys(info!)).not.toContain("name");
  });

  it("are what the delegatee sees too", async () => {
    await using node = await startTestNode();
    const alice = await node.connect("alice", { api: ["secrets"] });
    const bob = await node.connect("bob", { api: ["secrets"] });
    await alice.secrets.setSecret({ secret_id: "k", type: "text/csv", name: "Report", delegated_to: "bob", data: bytes("a,b") });
    expect(await bob.secrets.getSecret({ secret_id: "k", delegated_by: "alice" })).toMatchObject({
      id: "k",
      type: "text/csv",
      name: "Report",
      version: 1,
    });
    expect((await bob.secrets.listSecrets()).secrets).toEqual([
      {
        kind: "secret",
        id: "k",
        type: "text/csv",
        name: "Report",
        delegated_to: "bob",
        delegated_by: "alice",
        version: 1,
        updated_at: expect.any(Number) as unknown,
      },
    ]);
  });
});

describe("list_secrets never carries a value", () => {
  it("has no data field, and the response bytes hold none of the values", async () => {
    await using node = await startTestNode();
    const alice = await node.connect("alice", { api: ["secrets"] });
    const person = await node.connect("person", { api: ["secrets"] });
    const values = ["CANARY-own-9f2c", "CANARY-delegated-41ab", "CANARY-requested-77de"];
    await alice.secrets.setSecret({ secret_id: "own", name: "own", data: bytes(values[0]!) });
    await alice.secrets.setSecret({ secret_id: "del", delegated_to: "bob", data: bytes(values[1]!) });
    const asked = person.next("secrets.request_secret");
    const call = alice.secrets.requestSecret({ participant_id: person.participantId, url: TOKEN_URL });
    await person.secrets.provideSecret({ request_id: (await asked).request_id, data: bytes(values[2]!) });
    await call;

    for (const identity of ["alice", "bob"]) {
      const raw = await openRaw(node.server.roomUrl(TEST_ROOM), await node.token(identity, { api: ["secrets"] }));
      try {
        const received: Buffer[] = [];
        raw.ws.on("message", (data: Buffer) => received.push(data));
        raw.request(1, "secrets.list_secrets", {});
        const response = await raw.waitFor(isResponse(1));
        expect(response).toMatchObject({ ok: true });
        const secrets = (response as { result: { secrets: Record<string, unknown>[] } }).result.secrets;
        expect(secrets.length).toBe(identity === "alice" ? 3 : 1);
        for (const info of secrets) expect(Object.keys(info)).not.toContain("data");
        const all = Buffer.concat(received);
        for (const value of values) expect(all.includes(Buffer.from(value))).toBe(false);
      } finally {
        raw.ws.close();
        await raw.closed;
      }
    }
  });
});

// ---- the exchange: who may answer ----

const ANSWERERS = {
  "the asked participant": { identity: "person", api: ["secrets"] },
  "another session of the asked identity": { identity: "person", api: ["secrets"] },
  "the requester": { identity: "agent", api: ["secrets"] },
  "the delegate_to identity": { identity: "bob", api: ["secrets"] },
  "a stranger": { identity: "carol", api: ["secrets"] },
  "an admin": { identity: "root", api: ["secrets", "admin"] },
  "the asked identity without the secrets grant": { identity: "person", api: ["messaging"] },
  "the asked identity in another room": { identity: "person", api: ["secrets"], room: "other-room" },
} satisfies Record<string, { identity: string; api: ApiName[]; room?: string }>;
type Answerer = keyof typeof ANSWERERS;

describe("who may answer a secret request (provide_secret / reject_secret)", () => {
  const rows: [Answerer, "provide" | "reject", number | "ok"][] = [
    ["the asked participant", "provide", "ok"],
    ["the asked participant", "reject", "ok"],
    ["another session of the asked identity", "provide", "ok"],
    ["another session of the asked identity", "reject", "ok"],
    ["the requester", "provide", 1001],
    ["the requester", "reject", 1001],
    ["the delegate_to identity", "provide", 1001],
    ["the delegate_to identity", "reject", 1001],
    ["a stranger", "provide", 1001],
    ["a stranger", "reject", 1001],
    ["an admin", "provide", 1001],
    ["an admin", "reject", 1001],
    ["the asked identity without the secrets grant", "provide", 1001],
    ["the asked identity without the secrets grant", "reject", 1001],
    // The request belongs to this room; from another room it is not found.
    ["the asked identity in another room", "provide", 1003],
    ["the asked identity in another room", "reject", 1003],
  ];
  it.each(rows)("%s: %s → %s", async (who, how, expected) => {
    await using node = await startTestNode();
    const agent = await node.connect("agent", { api: ["secrets"], role: "agent" });
    const person = await node.connect("person", { api: ["secrets"] });
    const { identity, ...options } = ANSWERERS[who];
    const answerer =
      who === "the asked participant" ? person : who === "the requester" ? agent : await node.connect(identity, options);
    const asked = person.next("secrets.request_secret");
    const call = agent.secrets.requestSecret({ participant_id: person.participantId, url: TOKEN_URL, delegate_to: "bob" });
    call.catch(() => undefined);
    const { request_id } = await asked;

    const answer =
      how === "provide"
        ? answerer.secrets.provideSecret({ request_id, data: bytes(`from ${who}`) })
        : answerer.secrets.rejectSecret({ request_id, reason: `no, says ${who}` });
    expect(await codeOf(answer)).toBe(expected);

    if (expected === "ok") {
      if (how === "provide") expect(text((await call).data)).toBe(`from ${who}`);
      else await expect(call).rejects.toMatchObject({ code: 1001, message: expect.stringContaining(`no, says ${who}`) as unknown });
      return;
    }
    // A refused answer changes nothing: the asked participant still can, and its value is what the requester gets.
    await person.secrets.provideSecret({ request_id, data: bytes("from the asked participant") });
    expect(text((await call).data)).toBe("from the asked participant");
    // And the answer stored a value for the requester only.
    expect((await agent.secrets.listSecrets()).secrets).toEqual([
      expect.objectContaining({ kind: "requested", url: TOKEN_URL, delegated_to: "bob", version: 1 }),
    ]);
  });
});
