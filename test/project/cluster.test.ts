/**
 * The project API in cluster mode: two nodes on one Redis (the test's own, so it can be stopped) share the project
 * store and the audit log; a Redis outage answers 503 and the API recovers with Redis.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createRedisStore } from "../../src/secrets/redis-store.js";
import { newMasterKeyBase64 } from "../../src/secrets/keyring.js";
import { startTestRedis, type TestRedis } from "../helpers/redis-server.js";
import { startTestNode } from "../helpers/start-test-node.js";
import { adminToken, callApi, errorOf, type ProjectSecret, type ResolvedEnvironment, type SecretList } from "./project-http.js";

let redis: TestRedis;
const encryptionKey = newMasterKeyBase64();

beforeAll(async () => {
  redis = await startTestRedis();
});

afterAll(async () => {
  await redis?.[Symbol.asyncDispose]();
});

const clusterSettings = () => ({ ROOMBUS_REDIS_URL: redis.url, ROOMBUS_ENCRYPTION_KEY: encryptionKey });

describe("project API on two nodes", () => {
  it("serves a secret written on one node from the other, with the update seen at once, and audits both in Redis", async () => {
    await using first = await startTestNode(clusterSettings());
    await using second = await startTestNode(clusterSettings());
    const token = await adminToken(first);
    const created = await callApi<ProjectSecret>(first, "POST", "/v1/secrets", { token, body: { name: "CLUSTER_KEY", value: "one" } });
    expect(created.status).toBe(201);
    const resolve = async () => (await callApi<ResolvedEnvironment>(second, "POST", "/v1/environment", { token, body: {} })).json.project;
    expect((await resolve()).CLUSTER_KEY).toBe("one");
    expect((await callApi(second, "PATCH", `/v1/secrets/${created.json.id}`, { token, body: { value: "two" }, headers: { "if-match": '"1"' } })).status).toBe(200);
    expect((await callApi<ResolvedEnvironment>(first, "POST", "/v1/environment", { token, body: {} })).json.project.CLUSTER_KEY).toBe("two");
    expect((await callApi(first, "PATCH", `/v1/secrets/${created.json.id}`, { token, body: { value: "3" }, headers: { "if-match": '"1"' } })).status).toBe(409);

    const store = await createRedisStore({ url: redis.url });
    const audit = await store.queryAudit({ room: "*", limit: 100 });
    await store.close();
    expect(audit.map((entry) => entry.op)).toEqual(
      expect.arrayContaining(["project.secrets.create", "project.environment.resolve", "project.secrets.update"]),
    );
    expect(JSON.stringify(audit)).not.toMatch(/"(one|two)"/);
  });

  it("answers 503 while Redis is down and serves again once it is back", async () => {
    await using node = await startTestNode(clusterSettings());
    const token = await adminToken(node);
    expect((await callApi(node, "POST", "/v1/secrets", { token, body: { name: "BEFORE_OUTAGE", value: "v" } })).status).toBe(201);
    await redis.kill();
    try {
      const during = await callApi(node, "GET", "/v1/secrets", { token });
      expect(during.status).toBe(503);
      expect(errorOf(during).code).toBe("unavailable");
      expect((await callApi(node, "GET", "/readyz")).status).toBe(503);
    } finally {
      await redis.restart();
    }
    await vi.waitFor(
      async () => {
        const after = await callApi<SecretList>(node, "GET", "/v1/secrets", { token });
        expect(after.status).toBe(200);
        expect(after.json.secrets.map((s) => s.name)).toContain("BEFORE_OUTAGE");
      },
      { timeout: 10_000, interval: 100 },
    );
  });
});
