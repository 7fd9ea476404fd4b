/**
 * Two real `roombus serve` processes on a Redis Cluster of the test's own (three masters, ROOMBUS_REDIS_CLUSTER=true):
 * presence and messages in rooms whose hash tags land on every shard, a secret request answered across the nodes
 * (and `roombus audit` reading it from the cluster), and a revocation that reaches both processes.
 */
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { channelKey } from "../../src/bus/bus.js";
import { newMasterKeyBase64 } from "../../src/secrets/keyring.js";
import { runCli } from "../helpers/cli-process.js";
import { withTestRedisCluster, type TestRedisCluster } from "../helpers/redis-cluster.js";
import { startServerProcesses, type ServerProcess } from "../helpers/server-process.js";
import { startTestNode } from "../helpers/start-test-node.js";

const encryptionKey = newMasterKeyBase64();
let cluster: TestRedisCluster;

function clusterEnv(): Record<string, string> {
  return {
    ROOMBUS_REDIS_URL: cluster.url,
    ROOMBUS_REDIS_CLUSTER: "true",
    ROOMBUS_ENCRYPTION_KEY: encryptionKey,
    ROOMBUS_NODE_TTL_MS: "1500",
  };
}

const twoProcesses = () => startServerProcesses(2, clusterEnv());

withTestRedisCluster(
  "roombus processes on Redis Cluster",
  (started) => (cluster = started),
  () => {
    describe("two roombus processes on Redis Cluster", () => {
      it("show presence and deliver messages in rooms on every shard", async () => {
        await using c = await twoProcesses();
        const [n1, n2] = c.nodes as [ServerProcess, ServerProcess];
        for (const node of c.nodes) expect(node.lines.join("\n")).toContain('"backend":"redis-cluster"');
        const rooms = await cluster.roomPerShard(`nodes-${randomBytes(3).toString("hex")}`);
        const owners = await Promise.all(rooms.map((room) => cluster.ownerOf(channelKey({ room }))));
        expect(new Set(owners).size).toBe(cluster.ports.length);
        for (const room of rooms) {
          const alice = await c.join(n1, "alice", room);
          const joined = alice.next("participant.joined");
          const bob = await c.join(n2, "bob", room);
          expect((await joined).participant.identity).toBe("bob");
          expect([...bob.participants.values()].map((p) => p.identity).sort()).toEqual(["alice", "bob"]);

          const direct = bob.next("messaging.message");
          await alice.send(bob.participantId, "hello", { room });
          expect((await direct).message).toEqual({ room });
          const broadcast = alice.next("messaging.message");
          await bob.broadcast("reply", { room });
          expect((await broadcast).message).toEqual({ room });

          const left = alice.next("participant.left");
          await bob.close();
          expect(await left).toEqual({ participant_id: bob.participantId, reason: "closed" });
        }
      });

      it("answers a secret request across the nodes, and `roombus audit` reads it from the cluster", async () => {
        await using c = await twoProcesses();
        const [n1, n2] = c.nodes as [ServerProcess, ServerProcess];
        const room = `secret-${randomBytes(3).toString("hex")}`;
        const agent = await c.join(n1, "agent", room);
        const person = await c.join(n2, "person", room);
        await expect.poll(() => agent.participants.has(person.participantId), { timeout: 5_000 }).toBe(true);
        const asked = person.next("secrets.request_secret");
        const call = agent.secrets.requestSecret({ participant_id: person.participantId, url: "secret://cluster" });
        const { request_id } = await asked;
        const CANARY = "CANARY-redis-cluster-5021";
        await person.secrets.provideSecret({ request_id, data: new TextEncoder().encode(CANARY) });
        expect(Buffer.from((await call).data).toString()).toBe(CANARY);
        // Stored in the cluster for the requester: readable through the other node.
        const again = await c.join(n2, "agent", room);
        expect(Buffer.from((await again.secrets.getRequestedSecret({ url: "secret://cluster" }))!.data).toString()).toBe(CANARY);

        const audit = await runCli(["audit", "--room", room, "--json"], clusterEnv());
        expect(audit.code).toBe(0);
        const ops = audit.stdout.trim().split("\n").map((line) => (JSON.parse(line) as { op: string }).op);
        expect(ops).toEqual(expect.arrayContaining(["secrets.request_secret", "secrets.provide_secret", "secrets.get_requested_secret"]));
        expect(audit.stdout).not.toContain(CANARY);
      });

      it("closes a revoked token's sockets on both processes when a third node revokes it", async () => {
        await using c = await twoProcesses();
        const [n1, n2] = c.nodes as [ServerProcess, ServerProcess];
        const [roomA, roomB] = await cluster.roomPerShard(`revoke-${randomBytes(3).toString("hex")}`);
        const onFirst = await c.join(n1, "alice", roomA!, { jti: "revoked-cluster-1" });
        const onSecond = await c.join(n2, "alice", roomB!, { jti: "revoked-cluster-1" });
        const kept = await c.join(n2, "bob", roomA!, { jti: "kept-cluster-1" });
        await expect.poll(() => kept.participants.has(onFirst.participantId), { timeout: 5_000 }).toBe(true);
        await using third = await startTestNode(clusterEnv());
        await third.server.revoke("revoked-cluster-1");
        expect((await onFirst.closed).code).toBe(4401);
        expect((await onSecond.closed).code).toBe(4401);
        // The other token's socket stays up, and sees alice leave.
        await expect.poll(async () => (await kept.listParticipants()).map((p) => p.identity), { timeout: 5_000 }).toEqual(["bob"]);
      });
    });
  },
);
