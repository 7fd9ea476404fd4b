/**
 * Two roombus nodes on one Redis (the test's own), each in this process: every cross-node path a room uses.
 * Real separate processes are exercised in the fault tests.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newMasterKeyBase64 } from "../../src/secrets/keyring.js";
import { startTestRedis, type TestRedis } from "../helpers/redis-server.js";
import { runCli } from "../helpers/cli-process.js";
import { startTestNode } from "../helpers/start-test-node.js";

let redis: TestRedis;
const encryptionKey = newMasterKeyBase64();
beforeAll(async () => {
  redis = await startTestRedis();
});
afterAll(async () => {
  await redis[Symbol.asyncDispose]();
});

async function twoNodes(room: string, sharded = false) {
  const settings = {
    ROOMBUS_REDIS_URL: redis.url,
    ROOMBUS_ENCRYPTION_KEY: encryptionKey,
    ROOMBUS_NODE_TTL_MS: "900",
    ROOMBUS_REDIS_SHARDED: String(sharded),
  };
  const first = await startTestNode(settings);
  const second = await startTestNode(settings);
  return {
    first,
    second,
    room,
    async [Symbol.asyncDispose]() {
      await first[Symbol.asyncDispose]();
      await second[Symbol.asyncDispose]();
    },
  };
}

describe("two nodes, one room", () => {
  it.each([false, true])("shows presence across nodes and delivers send and broadcast in order (sharded pub/sub: %s)", async (sharded) => {
    await using nodes = await twoNodes("cross-1", sharded);
    const alice = await nodes.first.connect("alice", { room: "cross-1" });
    const joined = alice.next("participant.joined");
    const bob = await nodes.second.connect("bob", { room: "cross-1" });
    expect((await joined).participant.identity).toBe("bob");
    expect([...bob.participants.values()].map((p) => p.identity).sort()).toEqual(["alice", "bob"]);

    const seen: number[] = [];
    bob.on("messaging.message", (m) => seen.push(m.message.i as number));
    const last = bob.next("messaging.message", { filter: (m) => m.message.i === 199 });
    await Promise.all(
      Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? alice.send(bob.participantId, "n", { i }) : alice.broadcast("n", { i }))),
    );
    await last;
    expect(seen).toEqual(Array.from({ length: 200 }, (_, i) => i));

    const left = alice.next("participant.left");
    await bob.close();
    expect(await left).toEqual({ participant_id: bob.participantId, reason: "closed" });
    await expect(alice.send(bob.participantId, "n", {})).rejects.toMatchObject({ code: 1010 });
  });

  it("relays a tool call to a host on the other node", async () => {
    await using nodes = await twoNodes("cross-2");
    const host = await nodes.second.connect("calc", { room: "cross-2" });
    await host.registerToolkit("math", [{ name: "add", handler: (args) => (args.a as number) + (args.b as number) }]);
    const caller = await nodes.first.connect("agent", { room: "cross-2" });
    await expect.poll(async () => (await caller.listToolkits()).length).toBe(1);
    expect(await caller.invoke(host.participantId, "math", "add", { a: 20, b: 22 })).toBe(42);
  });

  it("answers a secret request whose asked person is on the other node", async () => {
    await using nodes = await twoNodes("cross-3");
    const agent = await nodes.first.connect("agent", { room: "cross-3", api: ["secrets"] });
    const person = await nodes.second.connect("person", { room: "cross-3", api: ["secrets"] });
    await expect.poll(() => agent.participants.has(person.participantId)).toBe(true);
    const asked = person.next("secrets.request_secret");
    const call = agent.secrets.requestSecret({ participant_id: person.participantId, url: "secret://x" });
    const { request_id } = await asked;
    await person.secrets.provideSecret({ request_id, data: new TextEncoder().encode("across nodes") });
    expect(Buffer.from((await call).data).toString()).toBe("across nodes");
    // The value was stored in Redis for the requester: readable from either node.
    const again = await nodes.second.connect("agent", { room: "cross-3", api: ["secrets"] });
    expect(Buffer.from((await again.secrets.getRequestedSecret({ url: "secret://x" }))!.data).toString()).toBe("across nodes");
    // The audit trail lives in Redis too, and `roombus audit` reads it there.
    const audit = await runCli(["audit", "--room", "cross-3", "--json"], { ROOMBUS_REDIS_URL: redis.url });
    expect(audit.code).toBe(0);
    const ops = audit.stdout.trim().split("\n").map((line) => (JSON.parse(line) as { op: string }).op);
    expect(ops).toEqual(expect.arrayContaining(["secrets.request_secret", "secrets.provide_secret", "secrets.get_requested_secret"]));
    expect(audit.stdout).not.toContain("across nodes");
  });

  it("closes a revoked token's sockets on every node", async () => {
    await using nodes = await twoNodes("cross-4");
    const onFirst = await nodes.first.connect("alice", { room: "cross-4", jti: "revoked-1" });
    const onSecond = await nodes.second.connect("alice", { room: "cross-4", jti: "revoked-1" });
    const other = await nodes.second.connect("bob", { room: "cross-4", jti: "kept-1" });
    await nodes.first.server.revoke("revoked-1");
    expect((await onFirst.closed).code).toBe(4401);
    expect((await onSecond.closed).code).toBe(4401);
    // The other token's socket stays up, and sees alice gone.
    await expect.poll(async () => (await other.listParticipants()).map((p) => p.identity)).toEqual(["bob"]);
  });
});
