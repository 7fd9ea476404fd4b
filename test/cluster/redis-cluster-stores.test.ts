/**
 * RedisStore and RedisProjectStore on a real Redis Cluster (three masters of the test's own): the contract suites,
 * a room's keys on one shard, and an audit entry that reaches two streams on two shards.
 */
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createRedisProjectStore } from "../../src/project/redis-project-store.js";
import type { RecordKey } from "../../src/secrets/record-key.js";
import { createRedisStore, type RedisStore } from "../../src/secrets/redis-store.js";
import { projectStoreContract } from "../contract/project-store.contract.js";
import { storeContract } from "../contract/store.contract.js";
import { withTestRedisCluster, type TestRedisCluster } from "../helpers/redis-cluster.js";

let cluster: TestRedisCluster;

const freshPrefix = () => `test:${randomBytes(6).toString("hex")}:`;

/** Deletes every key under `prefix` on every master, one key per command (a cluster refuses a cross-slot UNLINK). */
async function removeKeys(prefix: string): Promise<void> {
  const client = cluster.client();
  await Promise.all((await cluster.keys(`${prefix}*`)).map((key) => client.unlink(key)));
}

withTestRedisCluster(
  "RedisStore and RedisProjectStore on Redis Cluster",
  (started) => (cluster = started),
  () => {
    storeContract("RedisStore on Redis Cluster", () => {
      const prefix = freshPrefix();
      return {
        open: () => createRedisStore({ url: cluster.url, cluster: true, prefix }),
        dispose: () => removeKeys(prefix),
      };
    });

    projectStoreContract("RedisProjectStore on Redis Cluster", () => {
      const prefix = freshPrefix();
      return {
        open: () => createRedisProjectStore({ url: cluster.url, cluster: true, prefix }),
        dispose: () => removeKeys(prefix),
      };
    });

    describe("RedisStore on Redis Cluster", () => {
      async function withStore(body: (store: RedisStore) => Promise<void>): Promise<void> {
        const prefix = freshPrefix();
        const store = await createRedisStore({ url: cluster.url, cluster: true, prefix });
        try {
          await body(store);
        } finally {
          await store.close();
          await removeKeys(prefix);
        }
      }

      /** A room whose keys live on another shard than the global audit stream. */
      async function roomAwayFrom(store: RedisStore, key: string): Promise<string> {
        const away = await cluster.ownerOf(key);
        for (let i = 0; i < 1_000; i++) {
          const room = `away-${i}`;
          if ((await cluster.ownerOf(store.keys.room(room))) !== away) return room;
        }
        throw new Error("every room name tried hashes to one shard");
      }

      it("appends an audit entry to its room's stream and to the global one, on two shards", async () => {
        await withStore(async (store) => {
          const room = await roomAwayFrom(store, store.keys.globalAudit());
          expect(await cluster.ownerOf(store.keys.roomAudit(room))).not.toBe(await cluster.ownerOf(store.keys.globalAudit()));
          const entry = { at: 1, room, actor: "alice", participantId: "p1", op: "secrets.set_secret", target: { id: "k" }, outcome: "ok" };
          await store.appendAudit(entry);
          expect((await store.queryAudit({ room, limit: 10 })).map((e) => [e.room, e.actor])).toEqual([[room, "alice"]]);
          expect((await store.queryAudit({ limit: 10 })).map((e) => [e.room, e.actor])).toEqual([[room, "alice"]]);
        });
      });

      it("keeps a room's record and index on the room's shard, and lists them there", async () => {
        await withStore(async (store) => {
          const rooms = ["r-a", "r-b", "r-c", "r-d", "r-e", "r-f"];
          for (const room of rooms) {
            const key: RecordKey = { kind: "secret", room, owner: "alice", id: "token", delegatedTo: "bob" };
            await store.putRecord(key, { type: "text/plain", sealed: new Uint8Array([1, 2]), name: "Token" });
            const shard = await cluster.ownerOf(store.keys.room(room));
            expect(await cluster.ownerOf(store.keys.record(key))).toBe(shard);
            expect(await cluster.ownerOf(store.keys.roomIndex(room))).toBe(shard);
            const listing = await store.listRecords(room, "bob");
            expect(listing.delegatedToMe.map((record) => record.key.room)).toEqual([room]);
          }
          const shards = await Promise.all(rooms.map((room) => cluster.ownerOf(store.keys.room(room))));
          expect(new Set(shards).size).toBeGreaterThan(1);
        });
      });
    });
  },
);
