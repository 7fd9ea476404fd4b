import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { ParticipantRecord } from "../../src/bus/presence.js";
import {
  createRedisPresence,
  nodeAliveKey,
  nodeCleanupKey,
  nodeRoomsKey,
  presenceKey,
  type RedisPresence,
} from "../../src/bus/redis-presence.js";
import { presenceContract } from "../contract/presence.contract.js";
import { startTestRedis, type TestRedis } from "../helpers/redis-server.js";
import { freePort } from "../helpers/free-port.js";

let redis: TestRedis;

beforeAll(async () => {
  redis = await startTestRedis();
});

afterAll(async () => {
  await redis[Symbol.asyncDispose]();
});

/** n RedisPresence instances on the test Redis, each on its own connection (as n nodes would be). */
async function openPresences(count: number): Promise<RedisPresence[]> {
  return Promise.all(Array.from({ length: count }, () => createRedisPresence({ url: redis.url })));
}

async function withPresences(count: number, body: (presences: RedisPresence[]) => Promise<void>): Promise<void> {
  const presences = await openPresences(count);
  try {
    await body(presences);
  } finally {
    await Promise.all(presences.map((p) => p.close()));
  }
}

const unique = (name: string): string => `${name}-${randomBytes(6).toString("hex")}`;

function participant(id: string, node: string): ParticipantRecord {
  return { id, identity: id, role: "user", attributes: {}, node, toolkits: [] };
}

presenceContract("RedisPresence", () => {
  const opened: RedisPresence[] = [];
  return {
    async makeDirectories(count) {
      opened.push(...(await openPresences(count)));
      return opened;
    },
    async dispose() {
      await Promise.all(opened.map((p) => p.close()));
    },
  };
});

describe("RedisPresence storage", () => {
  it("keeps one msgpack hash per room under the room's hash tag", async () => {
    await withPresences(1, async ([presence]) => {
      const room = unique("layout");
      const record = participant("p1", "node-x");
      await presence!.add(room, record);
      const stored = await redis.client().hgetallBuffer(presenceKey(room));
      expect(presenceKey(room)).toBe(`rb:{${room}}:presence`);
      expect(Object.keys(stored)).toEqual(["p1"]);
      expect(stored.p1![0]! & 0xf0).toBe(0x80); // a msgpack fixmap, not JSON
    });
  });

  it("fails fast with a clear error, without the password, when Redis is unreachable", async () => {
    const port = await freePort();
    const start = Date.now();
    const failure = createRedisPresence({ url: `redis://roombus:hunter2-secret@127.0.0.1:${port}` });
    await expect(failure).rejects.toThrow(`cannot reach Redis at redis://roombus@127.0.0.1:${port}`);
    await expect(failure).rejects.not.toThrow(/hunter2/);
    expect(Date.now() - start).toBeLessThan(5_000);
  });
});

describe("RedisPresence liveness", () => {
  it("holds a node alive for its heartbeat's TTL, then not", async () => {
    await withPresences(1, async ([presence]) => {
      const node = unique("node");
      const ttlMs = 300;
      const start = Date.now();
      await presence!.heartbeat(node, ttlMs);
      expect(await presence!.isAlive(node)).toBe(true);
      expect(await presence!.listNodes()).toContain(node);
      await vi.waitFor(async () => expect(await presence!.isAlive(node)).toBe(false), { timeout: ttlMs + 1_500, interval: 20 });
      // Redis expires PX keys to the millisecond on access; the margin is for clock granularity only.
      expect(Date.now() - start).toBeGreaterThanOrEqual(ttlMs - 5);
      // Expiry ends liveness, not membership: the cleaner still finds the node.
      expect(await presence!.listNodes()).toContain(node);
    });
  });

  it("extends the TTL on each heartbeat", async () => {
    await withPresences(1, async ([presence]) => {
      const node = unique("node");
      await presence!.heartbeat(node, 200);
      await presence!.heartbeat(node, 60_000);
      expect(await redis.client().pttl(nodeAliveKey(node))).toBeGreaterThan(50_000);
    });
  });

  it("refuses a TTL that is not a positive integer", async () => {
    await withPresences(1, async ([presence]) => {
      await expect(presence!.heartbeat("n", 0)).rejects.toThrow(RangeError);
      await expect(presence!.claimDeadNode("n", "me", 1.5)).rejects.toThrow(RangeError);
    });
  });

  it("grants the cleanup of a dead node to exactly one of many concurrent claimers, again after the lock's TTL", async () => {
    await withPresences(4, async (presences) => {
      const dead = unique("dead");
      const claims = await Promise.all(
        presences.flatMap((p, i) => [p.claimDeadNode(dead, `claimer-${i}-a`, 300), p.claimDeadNode(dead, `claimer-${i}-b`, 300)]),
      );
      expect(claims.filter(Boolean)).toHaveLength(1);
      const winner = ["a", "b"].flatMap((suffix) => presences.map((_, i) => `claimer-${i}-${suffix}`));
      expect(winner).toContain(await redis.client().get(nodeCleanupKey(dead)));
      // A claimer that died mid-cleanup is replaced once its lock expires.
      await vi.waitFor(async () => expect(await presences[1]!.claimDeadNode(dead, "late", 300)).toBe(true), {
        timeout: 2_000,
        interval: 20,
      });
    });
  });

  it("tracks the rooms where a node has participants, and drops a room with the node's last participant", async () => {
    await withPresences(1, async ([presence]) => {
      const node = unique("node");
      const [r1, r2] = [unique("r1"), unique("r2")];
      await presence!.add(r1, participant("p1", node));
      await presence!.add(r1, participant("p2", node));
      await presence!.add(r2, participant("p3", node));
      expect((await presence!.roomsOf(node)).sort()).toEqual([r1, r2].sort());
      await presence!.remove(r1, "p1");
      expect((await presence!.roomsOf(node)).sort()).toEqual([r1, r2].sort());
      await presence!.remove(r1, "p2");
      expect(await presence!.roomsOf(node)).toEqual([r2]);
    });
  });

  it("lets a survivor find and remove a dead node's participants, then forget the node", async () => {
    await withPresences(3, async ([deadNode, survivorA, survivorB]) => {
      const [dead, alive] = [unique("dead"), unique("alive")];
      const [r1, r2] = [unique("r1"), unique("r2")];
      await deadNode!.heartbeat(dead, 200);
      await survivorA!.heartbeat(alive, 60_000);
      await deadNode!.add(r1, participant("d1", dead));
      await deadNode!.add(r2, participant("d2", dead));
      await survivorA!.add(r1, participant("a1", alive));
      await deadNode!.close(); // the node stops: no more heartbeats

      const removedBy: string[] = [];
      const cleanUp = async (survivor: RedisPresence, me: string): Promise<void> => {
        for (const node of await survivor.listNodes()) {
          if (node === me || node !== dead || (await survivor.isAlive(node))) continue;
          if (!(await survivor.claimDeadNode(node, me, 5_000))) continue;
          for (const room of await survivor.roomsOf(node)) {
            for (const record of await survivor.list(room)) {
              if (record.node === node && (await survivor.remove(room, record.id))) removedBy.push(`${me}:${record.id}`);
            }
          }
          await survivor.forgetNode(node);
        }
      };
      await vi.waitFor(async () => expect(await survivorA!.isAlive(dead)).toBe(false), { timeout: 2_000, interval: 20 });
      await Promise.all([cleanUp(survivorA!, alive), cleanUp(survivorB!, "survivor-b")]);

      expect(removedBy.map((entry) => entry.split(":")[1]).sort()).toEqual(["d1", "d2"]);
      expect(new Set(removedBy.map((entry) => entry.split(":")[0])).size).toBe(1);
      expect((await survivorA!.list(r1)).map((p) => p.id)).toEqual(["a1"]);
      expect(await survivorA!.list(r2)).toEqual([]);
      expect(await survivorA!.listNodes()).not.toContain(dead);
      expect(await redis.client().exists(nodeRoomsKey(dead))).toBe(0);
    });
  });
});
