/**
 * Three real roombus processes on one Redis of the test's own: the paths that cross processes, a node killed with
 * SIGKILL, and a look at everything Redis sees (MONITOR) for a secret value.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RoomClient } from "../../src/client/index.js";
import { newMasterKeyBase64 } from "../../src/secrets/keyring.js";
import { startFaultyOAuthServer } from "../helpers/faulty-oauth-server.js";
import { startTestRedis, type TestRedis } from "../helpers/redis-server.js";
import { startServerProcesses, type ServerProcess } from "../helpers/server-process.js";

const NODE_TTL_MS = 1500;
let redis: TestRedis;
const encryptionKey = newMasterKeyBase64();

beforeAll(async () => {
  redis = await startTestRedis();
});
afterAll(async () => {
  await redis[Symbol.asyncDispose]();
});

const cluster = (count: number) =>
  startServerProcesses(count, {
    ROOMBUS_REDIS_URL: redis.url,
    ROOMBUS_ENCRYPTION_KEY: encryptionKey,
    ROOMBUS_NODE_TTL_MS: String(NODE_TTL_MS),
  });

const waitForPeer = (client: RoomClient, id: string) => expect.poll(() => client.participants.has(id), { timeout: 5000 }).toBe(true);

describe("three processes on one Redis", () => {
  it("lets exactly one of two answers on two nodes win, and Redis never sees the secret", async () => {
    await using c = await cluster(3);
    const [n1, n2, n3] = c.nodes as [ServerProcess, ServerProcess, ServerProcess];
    const monitor = redis.client();
    const seen: string[] = [];
    await monitor.monitor().then((stream) => stream.on("monitor", (_time: string, args: string[]) => seen.push(args.join(" "))));

    const agent = await c.join(n1, "agent", "p1");
    const tabOne = await c.join(n2, "person", "p1");
    const tabTwo = await c.join(n3, "person", "p1");
    await waitForPeer(agent, tabOne.participantId);
    await waitForPeer(agent, tabTwo.participantId);
    const asked = [tabOne.next("secrets.request_secret"), tabTwo.next("secrets.request_secret")];
    const call = agent.secrets.requestSecret({ participant_id: tabOne.participantId, url: "secret://race" });
    const [first] = await Promise.all(asked);
    const requestId = first!.request_id;
    const CANARY = "CANARY-crossing-redis-4471";
    const answers = await Promise.allSettled([
      tabOne.secrets.provideSecret({ request_id: requestId, data: new TextEncoder().encode(CANARY) }),
      tabTwo.secrets.provideSecret({ request_id: requestId, data: new TextEncoder().encode(CANARY) }),
    ]);
    expect(answers.filter((a) => a.status === "fulfilled")).toHaveLength(1);
    expect(answers.find((a) => a.status === "rejected")).toMatchObject({ reason: { code: 1006 } });
    expect(Buffer.from((await call).data).toString()).toBe(CANARY);
    await agent.secrets.setSecret({ secret_id: "direct", data: new TextEncoder().encode(CANARY) });
    await tabOne.secrets.setSecret({ secret_id: "direct", data: new TextEncoder().encode(CANARY) });
    expect(seen.length).toBeGreaterThan(10);
    expect(seen.join("\n")).not.toContain(CANARY);
    monitor.disconnect();
  });

  it("completes an OAuth request whose callback lands on a third node", async () => {
    await using c = await cluster(3);
    const [n1, n2, n3] = c.nodes as [ServerProcess, ServerProcess, ServerProcess];
    await using oauth = await startFaultyOAuthServer();
    const agent = await c.join(n1, "agent", "p2");
    const person = await c.join(n2, "person", "p2");
    await waitForPeer(agent, person.participantId);
    const asked = person.next("secrets.request_oauth_token");
    const call = agent.secrets.requestOAuthToken({
      participant_id: person.participantId,
      redirect_uri: `http://127.0.0.1:${n3.port}/oauth/callback`,
      oauth: { client_id: oauth.clientId, authorization_endpoint: oauth.authorizationEndpoint, token_endpoint: oauth.tokenEndpoint },
    });
    const request = await asked;
    const toCallback = (await fetch(request.authorization_url, { redirect: "manual" })).headers.get("location")!;
    expect(new URL(toCallback).port).toBe(String(n3.port));
    expect((await fetch(toCallback)).status).toBe(200);
    expect((await call).access_token).toBe(oauth.issuedAccessTokens[0]);
  });

  it("announces a killed node's participants as left, and its tool host's callers get 1010", async () => {
    await using c = await cluster(2);
    const [n1, n2] = c.nodes as [ServerProcess, ServerProcess];
    const caller = await c.join(n1, "agent", "p3");
    const host = await c.join(n2, "tool", "p3");
    await host.request("toolkits.register", { name: "kit", tools: [{ name: "wait" }] });
    await waitForPeer(caller, host.participantId);
    await expect.poll(async () => (await caller.listToolkits()).length).toBe(1);
    const arrived = host.next("toolkits.call");
    const call = caller.invoke(host.participantId, "kit", "wait", {}, { timeoutMs: 20_000 });
    call.catch(() => undefined);
    await arrived;
    const left = caller.next("participant.left", { timeoutMs: NODE_TTL_MS + 5000 });
    const killedAt = Date.now();
    n2.child.kill("SIGKILL");
    expect(await left).toEqual({ participant_id: host.participantId, reason: "node_lost" });
    // Presumed dead after its TTL; a liveness round (every TTL / 3) notices: TTL + 1 s at most.
    expect(Date.now() - killedAt).toBeLessThan(NODE_TTL_MS + 1000);
    await expect(call).rejects.toMatchObject({ code: 1010 });
  });

  it("drains a node on SIGTERM: its sockets get 1001, the others see them leave, the process exits 0", async () => {
    await using c = await cluster(2);
    const [n1, n2] = c.nodes as [ServerProcess, ServerProcess];
    const stays = await c.join(n1, "stays", "p4");
    const moves = await c.join(n2, "moves", "p4");
    await waitForPeer(stays, moves.participantId);
    const left = stays.next("participant.left");
    n2.child.kill("SIGTERM");
    expect((await moves.closed).code).toBe(1001);
    expect(await left).toEqual({ participant_id: moves.participantId, reason: "draining" });
    expect(await n2.exited).toBe(0);
    // The client reconnects to the node that stays, as a load balancer would send it.
    const back = await c.join(n1, "moves", "p4");
    await waitForPeer(stays, back.participantId);
  });
});
