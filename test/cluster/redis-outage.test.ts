/**
 * Redis dies in the middle of 500 cross-node secret exchanges and comes back: every call ends by its deadline, every
 * value whose write was acknowledged is readable afterwards, and no request is answered twice. Sockets stay up.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, type RoomClient } from "../../src/client/index.js";
import { newMasterKeyBase64 } from "../../src/secrets/keyring.js";
import { startTestRedis, type TestRedis } from "../helpers/redis-server.js";
import { startServerProcess } from "../helpers/server-process.js";

let redis: TestRedis;
beforeAll(async () => {
  redis = await startTestRedis();
});
afterAll(async () => {
  await redis[Symbol.asyncDispose]();
});

describe("Redis outage during cross-node exchanges", () => {
  it("ends every call by its deadline, keeps acknowledged writes, answers nothing twice", async () => {
    const env = { ROOMBUS_REDIS_URL: redis.url, ROOMBUS_ENCRYPTION_KEY: newMasterKeyBase64(), ROOMBUS_NODE_TTL_MS: "3000" };
    await using first = await startServerProcess(env);
    await using second = await startServerProcess(env);
    const room = "outage";
    const agent: RoomClient = await connect(first.roomUrl(room), await first.token("agent", room, ["secrets"]));
    const person: RoomClient = await connect(second.roomUrl(room), await second.token("person", room, ["secrets"]));
    await expect.poll(() => agent.participants.has(person.participantId)).toBe(true);
    const socketsClosed: string[] = [];
    void agent.closed.then(({ code, reason }) => socketsClosed.push(`agent ${code} ${reason}`));
    void person.closed.then(({ code, reason }) => socketsClosed.push(`person ${code} ${reason}`));

    // The person answers every request it hears and records which answers the server acknowledged. The first 50 are
    // answered at once; the rest wait until Redis is down, so the outage always lands on exchanges in flight.
    const acknowledged = new Map<string, string>();
    const answeredTwice: string[] = [];
    let releaseHeld = (): void => undefined;
    const held = new Promise<void>((resolve) => (releaseHeld = resolve));
    let heard = 0;
    person.on("secrets.request_secret", (request) => {
      const value = `value-for-${request.url}`;
      const when = heard++ < 50 ? Promise.resolve() : held;
      void when.then(() => person.secrets
        .provideSecret({ request_id: request.request_id, data: new TextEncoder().encode(value) })
        .then(() => {
          if (acknowledged.has(request.url)) answeredTwice.push(request.url);
          acknowledged.set(request.url, value);
        })
        .catch(() => undefined));
    });

    const TIMEOUT_MS = 4000;
    const started = Date.now();
    const calls = Array.from({ length: 500 }, (_, i) =>
      agent.secrets
        .requestSecret({ participant_id: person.participantId, url: `secret://outage/${i}`, timeout_ms: TIMEOUT_MS })
        .then(
          (result) => ({ ok: true as const, value: Buffer.from(result.data).toString(), at: Date.now() }),
          (error: { code?: number; message?: string }) => ({ ok: false as const, code: error.code, message: error.message, at: Date.now() }),
        ),
    );
    // Kill Redis while 450 exchanges wait for their answers, release the answers into the outage, then bring it back.
    await expect.poll(() => acknowledged.size, { timeout: 10_000, interval: 5 }).toBe(50);
    await redis.kill();
    // /readyz tells a load balancer this node cannot serve secrets now, then that it can again.
    const readyz = () => fetch(`http://127.0.0.1:${second.port}/readyz`).then((r) => r.status);
    await expect.poll(readyz, { timeout: 5000, interval: 20 }).toBe(503);
    releaseHeld();
    await redis.restart();
    await expect.poll(readyz, { timeout: 10_000, interval: 50 }).toBe(200);
    const outcomes = await Promise.all(calls);

    // Every call was ended by the server (never by the SDK's own, later time-out), and in bounded time: the deadline,
    // the SDK's 5 s grace, and room for scheduling lag on a loaded two-core machine.
    for (const outcome of outcomes) {
      expect(outcome.at - started).toBeLessThan(TIMEOUT_MS + 8000);
      if (!outcome.ok) expect(outcome.message ?? "").not.toMatch(/^no answer to /);
    }
    const succeeded = outcomes.filter((o) => o.ok);
    const failed = outcomes.filter((o) => !o.ok);
    expect(succeeded.length + failed.length).toBe(500);
    expect(new Set(failed.map((o) => o.code)).size).toBeGreaterThan(0);
    for (const outcome of failed) expect([1009, 1010, 1013, 1006]).toContain(outcome.code);
    expect(answeredTwice).toEqual([]);

    // Sockets stayed up through the outage (a close would have ended the calls with "connection closed (code …)").
    expect(socketsClosed).toEqual([]);
    expect(await agent.listParticipants()).toHaveLength(2);
    // Every acknowledged answer is readable afterwards, from either node.
    await expect.poll(async () => (await agent.secrets.listSecrets().then(() => true, () => false)), { timeout: 10_000 }).toBe(true);
    for (const [url, value] of acknowledged) {
      const stored = await agent.secrets.getRequestedSecret({ url });
      expect(Buffer.from(stored!.data).toString(), url).toBe(value);
    }
    await agent.close();
    await person.close();
  }, 60_000);
});
