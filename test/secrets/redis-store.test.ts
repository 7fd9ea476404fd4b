import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { RecordKey } from "../../src/secrets/record-key.js";
import { createRedisStore, escapeKeyPart, type RedisStore } from "../../src/secrets/redis-store.js";
import { REQUEST_TOMBSTONE_MS } from "../../src/secrets/secret-store.js";
import { requestRecord, storeContract } from "../contract/store.contract.js";
import { startTestRedis, type TestRedis } from "../helpers/redis-server.js";

let redis: TestRedis;

beforeAll(async () => {
  redis = await startTestRedis();
});

afterAll(async () => {
  await redis?.[Symbol.asyncDispose]();
});

const freshPrefix = () => `test:${randomBytes(6).toString("hex")}:`;

/** Every key under `prefix` (the prefix is random hex and ":", so it holds no glob characters). */
async function keysUnder(prefix: string): Promise<string[]> {
  const client = redis.client();
  const keys: string[] = [];
  let cursor = "0";
  do {
    const [next, batch] = await client.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 500);
    keys.push(...batch);
    cursor = next;
  } while (cursor !== "0");
  return keys;
}

/** The part of a key Redis Cluster hashes: between the first "{" and the next "}", if not empty. */
function hashTag(key: string): string {
  const open = key.indexOf("{");
  const close = open < 0 ? -1 : key.indexOf("}", open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : key;
}

async function openStore(prefix = freshPrefix(), url = redis.url): Promise<RedisStore> {
  return createRedisStore({ url, prefix });
}

storeContract("RedisStore", () => {
  const prefix = freshPrefix();
  return {
    open: () => openStore(prefix),
    dispose: async () => {
      const keys = await keysUnder(prefix);
      if (keys.length > 0) await redis.client().unlink(...keys);
    },
  };
});


describe("RedisStore request keys", () => {
  it("gives every pending request key a TTL of its deadline plus the tombstone, kept when it finishes", async () => {
    const store = await openStore();
    try {
      const now = Date.now();
      const deadlines = { past: 1_000, soon: now + 1_000, later: now + 30 * 60_000 };
      for (const [id, expiresAt] of Object.entries(deadlines)) await store.createRequest(requestRecord(id, expiresAt));
      const client = redis.client();
      for (const [id, expiresAt] of Object.entries(deadlines)) {
        const ttl = await client.pttl(store.keys.request(id));
        const expected = Math.max(0, expiresAt - now) + REQUEST_TOMBSTONE_MS;
        expect(ttl, id).toBeGreaterThan(0);
        expect(ttl, id).toBeLessThanOrEqual(expected);
        expect(ttl, id).toBeGreaterThan(expected - 5_000);
      }
      // Nothing under the prefix is a request without a TTL.
      const requestKeys = (await keysUnder(store.keys.prefix)).filter((key) => key.startsWith(`${store.keys.prefix}{req:`));
      expect(requestKeys).toHaveLength(3);
      for (const key of requestKeys) expect(await client.pttl(key)).toBeGreaterThan(0);

      expect((await store.finishRequest("later", "answered")).won).toBe(true);
      expect(await client.pttl(store.keys.request("later"))).toBeGreaterThan(30 * 60_000);
      expect(await store.createRequest(requestRecord("later", now + 1)).then(() => "created", () => "refused")).toBe("refused");
    } finally {
      await store.close();
    }
  });
});

describe("RedisStore bytes", () => {
  it("stores sealed values and wrapped data keys as the given bytes, all 256 values", async () => {
    const store = await openStore();
    try {
      const all = Uint8Array.from({ length: 256 }, (_, i) => i);
      // A view into a larger buffer: only its own bytes may be stored.
      const backing = new Uint8Array(600).fill(0xee);
      backing.set(all, 100);
      const view = backing.subarray(100, 356);
      const key: RecordKey = { kind: "secret", room: "bytes", owner: "alice", id: "blob" };
      await store.putRecord(key, { type: "application/octet-stream", sealed: view });

      const raw = await redis.client().hgetBuffer(store.keys.record(key), "sealed");
      expect(raw).toEqual(Buffer.from(all));
      expect([...(await store.getRecord(key))!.sealed]).toEqual([...all]);
      expect([...(await store.listRecords("bytes", "alice")).owned[0]!.sealed]).toEqual([...all]);

      await store.saveDataKeys([{ id: 1, masterKeyId: "m", wrapped: view, createdAt: 1 }], 1);
      expect([...(await store.loadDataKeys()).keys[0]!.wrapped]).toEqual([...all]);
    } finally {
      await store.close();
    }
  });
});

describe("RedisStore key layout", () => {
  it("keeps every key under the prefix, one hash tag per room, and names with braces and colons apart", async () => {
    const store = await openStore();
    try {
      const rooms = ["r", "r}:rec:x", "{r}", "r:idx", "ünï 😀"];
      for (const room of rooms) {
        await store.putRecord({ kind: "secret", room, owner: "alice", id: "s", delegatedTo: "bob" }, { type: "t", sealed: new Uint8Array([1]) });
        await store.putRecord({ kind: "oauth", room, owner: "agent", authorizationEndpoint: "https://as/a", clientId: "c" }, {
          type: "oauth",
          sealed: new Uint8Array([2]),
          authorizedBy: "alice",
        });
        await store.appendAudit({ at: 1, room, actor: "alice", participantId: "p", op: "secrets.set_secret", target: {}, outcome: "ok" });
      }
      await store.createRequest(requestRecord("rq:{x}", Date.now() + 1_000));
      await store.acquireLock("refresh:{x}", "a", 1_000);
      await store.saveDataKeys([], 1);

      const keys = await keysUnder(store.keys.prefix);
      expect(keys.every((key) => key.startsWith(store.keys.prefix))).toBe(true);
      for (const room of rooms) {
        const roomKeys = keys.filter((key) => key.startsWith(store.keys.room(room)));
        // Record (x2), index, audit stream: all in the room's slot.
        expect(roomKeys, room).toHaveLength(4);
        expect(new Set(roomKeys.map(hashTag)), room).toEqual(new Set([escapeKeyPart(room)]));
        const listed = await store.listRecords(room, "alice");
        expect(listed.owned.map((r) => r.key.room), room).toEqual([room]);
        expect(listed.authorizedByMe.map((r) => r.key.room), room).toEqual([room]);
        expect((await store.listRecords(room, "bob")).delegatedToMe, room).toHaveLength(1);
        expect((await store.queryAudit({ room, limit: 10 })).map((e) => e.room), room).toEqual([room]);
      }
      // Room tags never hold ":"; the other families' tags always do.
      const globalTags = keys.map(hashTag).filter((tag) => tag.includes(":"));
      expect(new Set(globalTags)).toEqual(new Set(["global:audit", "global:data-keys", "req:rq%3a%7bx%7d", "lock:refresh%3a%7bx%7d"]));
      expect(keys).toHaveLength(rooms.length * 4 + 4);
    } finally {
      await store.close();
    }
  });

  it("moves the authorizer index when a credential is re-authorized, and drops all index entries on delete", async () => {
    const store = await openStore();
    try {
      const key: RecordKey = { kind: "oauth", room: "r", owner: "agent", authorizationEndpoint: "https://as/a", clientId: "c", delegatedTo: "svc" };
      await store.putRecord(key, { type: "oauth", sealed: new Uint8Array([1]), authorizedBy: "alice" });
      await store.putRecord(key, { type: "oauth", sealed: new Uint8Array([2]), authorizedBy: "bob" });
      expect((await store.listRecords("r", "alice")).authorizedByMe).toHaveLength(0);
      expect((await store.listRecords("r", "bob")).authorizedByMe.map((r) => r.version)).toEqual([2]);
      await store.putRecord(key, { type: "oauth", sealed: new Uint8Array([3]) });
      expect((await store.listRecords("r", "bob")).authorizedByMe).toHaveLength(0);
      expect(await redis.client().zcard(store.keys.roomIndex("r"))).toBe(2);
      expect(await store.deleteRecord(key)).toBe(true);
      expect(await redis.client().exists(store.keys.roomIndex("r"))).toBe(0);
    } finally {
      await store.close();
    }
  });
});

describe("RedisStore when Redis goes away", () => {
  let own: TestRedis;

  beforeAll(async () => {
    own = await startTestRedis();
  });

  afterAll(async () => {
    await own?.[Symbol.asyncDispose]();
  });

  it("rejects promptly while Redis is down, and still has acknowledged writes after a restart", async () => {
    const store = await openStore(freshPrefix(), own.url);
    try {
      const key: RecordKey = { kind: "secret", room: "r", owner: "alice", id: "durable" };
      expect(await store.putRecord(key, { type: "t", sealed: new Uint8Array([7, 0, 255]) })).toEqual({ ok: true, version: 1 });
      await store.appendAudit({ at: 1, room: "r", actor: "alice", participantId: "p", op: "secrets.set_secret", target: {}, outcome: "ok" });

      // A write in flight when Redis dies: CLIENT PAUSE holds it unexecuted at the server, then the server is killed.
      const pauser = own.client();
      await pauser.call("CLIENT", "PAUSE", "10000", "ALL");
      pauser.disconnect(); // the pause outlives it; a client left open would complain about the kill
      const inFlight = store
        .putRecord(key, { type: "t", sealed: new Uint8Array([9]) }, { ifVersion: 1 })
        .then(() => "acknowledged", (error: Error) => error.message);
      const started = performance.now();
      await own.kill();
      expect(await inFlight).toMatch(/connection to Redis was lost/);
      expect(performance.now() - started).toBeLessThan(2_000);

      for (const attempt of [() => store.getRecord(key), () => store.putRecord(key, { type: "t", sealed: new Uint8Array([1]) })]) {
        const started = performance.now();
        await expect(attempt()).rejects.toThrow();
        expect(performance.now() - started).toBeLessThan(2_000);
      }
      await vi.waitFor(() => expect(store.isHealthy()).toBe(false), { timeout: 2_000, interval: 20 });

      const unreachable = `redis://user:hunter2@127.0.0.1:${own.port}`;
      const failure = await createRedisStore({ url: unreachable }).then(
        () => new Error("connected"),
        (error: unknown) => error as Error,
      );
      expect(failure.message).toMatch(new RegExp(`^cannot reach Redis at redis://user@127\\.0\\.0\\.1:${own.port}/?: .*ECONNREFUSED`));
      expect(failure.message).not.toContain("hunter2");

      await own.restart();
      await vi.waitFor(() => expect(store.isHealthy()).toBe(true), { timeout: 10_000, interval: 20 });
      const got = await store.getRecord(key);
      // Version 1: the write that was in flight was neither applied nor re-sent after the reconnect.
      expect(got?.version).toBe(1);
      expect([...got!.sealed]).toEqual([7, 0, 255]);
      expect((await store.queryAudit({ room: "r", limit: 10 })).map((e) => e.actor)).toEqual(["alice"]);
      expect(await store.putRecord(key, { type: "t", sealed: new Uint8Array([8]) }, { ifVersion: 1 })).toEqual({ ok: true, version: 2 });
    } finally {
      await store.close();
    }
  });
});
