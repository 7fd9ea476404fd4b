/**
 * RedisBus and RedisPresence on a real Redis Cluster (three masters of the test's own): the contract suites, channels
 * whose rooms hash to different shards, the channel every node hears, a whole-cluster restart, and start failures.
 */
import { randomBytes } from "node:crypto";
import { describe, expect, it, vi } from "vitest";
import { channelKey, type Channel } from "../../src/bus/bus.js";
import { createRedisBus, type RedisBus } from "../../src/bus/redis-bus.js";
import { createRedisPresence, presenceKey, type RedisPresence } from "../../src/bus/redis-presence.js";
import { busContract } from "../contract/bus.contract.js";
import { presenceContract } from "../contract/presence.contract.js";
import { withTestRedisCluster, type TestRedisCluster } from "../helpers/redis-cluster.js";
import { startTestRedis } from "../helpers/redis-server.js";
import { freePort } from "../helpers/free-port.js";

type Message = Record<string, unknown>;

let cluster: TestRedisCluster;

async function openBuses(count: number, url = cluster.url): Promise<RedisBus<Message>[]> {
  const run = randomBytes(4).toString("hex");
  return Promise.all(
    Array.from({ length: count }, (_, i) => createRedisBus<Message>({ url, cluster: true, nodeId: `node-${run}-${i}` })),
  );
}

function collector() {
  const received: Message[] = [];
  return { received, handler: (message: Message) => void received.push(message) };
}

/** The sharded channels the master owning `channel` has subscribers for. */
async function shardChannelsOnOwner(channel: Channel): Promise<string[]> {
  const key = channelKey(channel);
  return (await cluster.node(await cluster.ownerOf(key)).call("PUBSUB", "SHARDCHANNELS")) as string[];
}

withTestRedisCluster(
  "RedisBus and RedisPresence on Redis Cluster",
  (started) => (cluster = started),
  () => {
    busContract("RedisBus on Redis Cluster", () => {
      const opened: RedisBus<Message>[] = [];
      return {
        async makeNodes(count) {
          opened.push(...(await openBuses(count)));
          return opened;
        },
        async dispose() {
          await Promise.all(opened.map((bus) => bus.close()));
        },
      };
    });

    presenceContract("RedisPresence on Redis Cluster", () => {
      const opened: RedisPresence[] = [];
      return {
        async makeDirectories(count) {
          const made = await Promise.all(
            Array.from({ length: count }, () => createRedisPresence({ url: cluster.url, cluster: true })),
          );
          opened.push(...made);
          return made;
        },
        async dispose() {
          await Promise.all(opened.map((presence) => presence.close()));
        },
      };
    });

    describe("RedisBus on Redis Cluster", () => {
      it("carries each room's messages on the shard that owns the room, for rooms on every shard", async () => {
        const rooms = await cluster.roomPerShard(`shard-${randomBytes(3).toString("hex")}`);
        const owners = await Promise.all(rooms.map((room) => cluster.ownerOf(channelKey({ room }))));
        expect(new Set(owners).size).toBe(cluster.ports.length);
        const [a, b] = await openBuses(2);
        try {
          const received = rooms.map(() => collector());
          for (const [i, room] of rooms.entries()) await b!.subscribe({ room }, received[i]!.handler);
          for (const room of rooms) {
            // Sharded pub/sub: the subscription lives on the room's own shard, and nowhere else.
            expect(await shardChannelsOnOwner({ room })).toContain(channelKey({ room }));
          }
          for (const [i, room] of rooms.entries()) await a!.publish({ room }, { room, i });
          await vi.waitFor(() => {
            for (const [i, room] of rooms.entries()) expect(received[i]!.received).toEqual([{ room, i }]);
          });
        } finally {
          await Promise.all([a!.close(), b!.close()]);
        }
      });

      it("delivers the every-node channel to every other node", async () => {
        const nodes = await openBuses(3);
        try {
          const received = nodes.map(() => collector());
          for (const [i, bus] of nodes.entries()) await bus.subscribe({ everyNode: true }, received[i]!.handler);
          await nodes[1]!.publish({ everyNode: true }, { kind: "revoke", jti: "j-1" });
          await vi.waitFor(() => {
            expect(received[0]!.received).toEqual([{ kind: "revoke", jti: "j-1" }]);
            expect(received[2]!.received).toEqual([{ kind: "revoke", jti: "j-1" }]);
          });
          expect(received[1]!.received).toEqual([]);
        } finally {
          await Promise.all(nodes.map((bus) => bus.close()));
        }
      });

      it("fails fast with a clear error, without the password, when no seed answers", async () => {
        const [first, second] = [await freePort(), await freePort()];
        const start = Date.now();
        const failure = createRedisBus({
          url: `redis://roombus:hunter2-secret@127.0.0.1:${first},redis://roombus:hunter2-secret@127.0.0.1:${second}`,
          cluster: true,
          nodeId: "n",
        });
        await expect(failure).rejects.toThrow(
          `cannot reach Redis Cluster at redis://roombus@127.0.0.1:${first},redis://roombus@127.0.0.1:${second}: `,
        );
        await expect(failure).rejects.not.toThrow(/hunter2/);
        expect(Date.now() - start).toBeLessThan(5_000);
      });

      it("says so when the URL is a Redis without cluster support", async () => {
        await using plain = await startTestRedis();
        await expect(createRedisBus({ url: plain.url, cluster: true, nodeId: "n" })).rejects.toThrow(
          /^cannot reach Redis Cluster at redis:\/\/127\.0\.0\.1:\d+: .*cluster support disabled/,
        );
      });

      it("refuses seed URLs that disagree on the password, without quoting either", async () => {
        await expect(
          createRedisBus({ url: "redis://:first-pw@127.0.0.1:1,redis://:second-pw@127.0.0.1:2", cluster: true, nodeId: "n" }),
        ).rejects.toThrow("invalid Redis Cluster seed list: every seed must use the same scheme, user and password");
      });
    });

    describe("RedisPresence on Redis Cluster", () => {
      it("keeps each room's hash on the shard of the room's channel", async () => {
        const presence = await createRedisPresence({ url: cluster.url, cluster: true });
        try {
          const rooms = await cluster.roomPerShard(`presence-${randomBytes(3).toString("hex")}`);
          for (const room of rooms) {
            await presence.add(room, { id: "p1", identity: "a", role: "user", attributes: {}, node: "n1", toolkits: [] });
            expect(await cluster.ownerOf(presenceKey(room))).toBe(await cluster.ownerOf(channelKey({ room })));
            expect((await presence.list(room)).map((p) => p.id)).toEqual(["p1"]);
          }
        } finally {
          await presence.close();
        }
      });
    });

    // Last: it restarts the whole cluster.
    describe("RedisBus when the whole Redis Cluster restarts", () => {
      it("rejects at once while it is down, then re-subscribes every shard's channels, and not the ones dropped meanwhile", async () => {
        const rooms = await cluster.roomPerShard(`restart-${randomBytes(3).toString("hex")}`);
        const [a, b] = await openBuses(2);
        try {
          const received = rooms.map(() => collector());
          const everyNode = collector();
          const gone = collector();
          for (const [i, room] of rooms.entries()) await b!.subscribe({ room }, received[i]!.handler);
          await b!.subscribe({ everyNode: true }, everyNode.handler);
          await b!.subscribe({ room: "gone-while-down" }, gone.handler);

          await cluster.kill();
          await vi.waitFor(() => expect(a!.isHealthy() || b!.isHealthy()).toBe(false), { timeout: 10_000, interval: 20 });
          const start = Date.now();
          await expect(a!.publish({ room: rooms[0]! }, { n: 0 })).rejects.toThrow();
          await b!.unsubscribe({ room: "gone-while-down" });
          expect(Date.now() - start).toBeLessThan(1_000);

          await cluster.restart();
          await vi.waitFor(() => expect(a!.isHealthy() && b!.isHealthy()).toBe(true), { timeout: 20_000, interval: 50 });
          // Healthy means re-subscribed: the first publish after it arrives on every shard's channel.
          for (const [i, room] of rooms.entries()) await a!.publish({ room }, { i });
          await a!.publish({ everyNode: true }, { all: true });
          await a!.publish({ room: "gone-while-down" }, { n: 1 });
          await vi.waitFor(() => {
            for (const [i] of rooms.entries()) expect(received[i]!.received).toEqual([{ i }]);
            expect(everyNode.received).toEqual([{ all: true }]);
          });
          expect(gone.received).toEqual([]);
          expect(await shardChannelsOnOwner({ room: "gone-while-down" })).not.toContain(channelKey({ room: "gone-while-down" }));
          expect(await shardChannelsOnOwner({ room: rooms[0]! })).toContain(channelKey({ room: rooms[0]! }));
        } finally {
          await Promise.all([a!.close(), b!.close()]);
        }
      }, 60_000);
    });
  },
);
