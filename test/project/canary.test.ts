/**
 * One canary value, set through every path of the project API that carries a value (accepted or refused), must
 * appear only in the answers meant to return it: never in another answer body, the server's log at any level,
 * the audit records, the metrics, or the SQLite files outside ciphertext.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { SqliteStore } from "../../src/secrets/sqlite-store.js";
import { startTestNode } from "../helpers/start-test-node.js";
import { adminToken, callApi, type DockerConfig, type HttpAnswer, type ProjectSecret, type ResolvedEnvironment } from "./project-http.js";

const CANARY = "CANARY-5b1e77-project-do-not-leak";

describe("the project API canary", () => {
  it("never leaks from any project path", async () => {
    await using node = await startTestNode({ ROOMBUS_LOG_LEVEL: "trace" });
    const token = await adminToken(node);
    const notAdmin = await node.token("someone", { room: "*", api: ["secrets"] });
    const answers: HttpAnswer[] = [];
    const call = async <T = unknown>(method: string, path: string, body?: unknown, options: { token?: string; headers?: Record<string, string> } = {}) => {
      const answer = await callApi<T>(node, method, path, { token: options.token ?? token, body, headers: options.headers });
      answers.push(answer);
      return answer;
    };

    // Project secrets: accepted, then refused every way a value can be refused.
    const secret = (await call<ProjectSecret>("POST", "/v1/secrets", { name: "CANARY_SECRET", value: CANARY, scope: "agents", profile_ids: ["p1"] })).json;
    expect(secret.id).toMatch(/^sec_/);
    expect((await call("PATCH", `/v1/secrets/${secret.id}`, { value: `${CANARY}-2` })).status).toBe(200);
    const refusals: [number, HttpAnswer][] = [
      [409, await call("POST", "/v1/secrets", { name: "CANARY_SECRET", value: CANARY })],
      [409, await call("PATCH", `/v1/secrets/${secret.id}`, { value: CANARY }, { headers: { "if-match": '"1"' } })],
      [400, await call("PATCH", `/v1/secrets/${secret.id}`, { value: CANARY, scope: "agents", profile_ids: [] })],
      [400, await call("POST", "/v1/secrets", { name: "bad name", value: CANARY })],
      [400, await call("POST", "/v1/secrets", { name: "NUL", value: `${CANARY}\u0000` })],
      [400, await call("POST", "/v1/secrets", { name: "X", value: "v", extra: CANARY })],
      [400, await call("POST", "/v1/secrets", { name: "X", value: [CANARY] })],
      [400, await call("POST", "/v1/secrets", `{"name": "X", "value": "${CANARY}"`)],
      [413, await call("POST", "/v1/secrets", { name: "X", value: CANARY.repeat(40_000) })],
      [400, await call("POST", "/v1/secrets", { name: "X", value: CANARY.repeat(3_000) })],
      [403, await call("POST", "/v1/secrets", { name: "X", value: CANARY }, { token: notAdmin })],
      [401, await call("POST", "/v1/secrets", { name: "X", value: CANARY }, { token: "not.a.token" })],
      [404, await call("PATCH", "/v1/secrets/sec_missing", { value: CANARY })],
      [404, await call("GET", `/v1/secrets/${CANARY}`)],
      [404, await call("DELETE", `/v1/keys/${CANARY}`)],
      [405, await call("PUT", "/v1/secrets", { name: "X", value: CANARY })],
      // Key collections.
      [201, await call("POST", "/v1/keys", { name: "canary-keys", data: { CANARY_KEY: CANARY, OTHER: `${CANARY}-b` } })],
      [409, await call("POST", "/v1/keys", { name: "canary-keys", data: { CANARY_KEY: CANARY } })],
      [400, await call("POST", "/v1/keys", { name: "canary-keys-2", data: { "not-a-key": CANARY } })],
      [400, await call("POST", "/v1/keys", { name: "canary-keys-2", data: { GOOD: CANARY, BAD: 1 } })],
      // Pull secrets.
      [201, await call("POST", "/v1/pull-secrets", { name: "canary-pull", server: "registry.example.com", username: "u", password: CANARY })],
      [409, await call("POST", "/v1/pull-secrets", { name: "canary-pull", server: "registry.example.com", username: "u", password: CANARY })],
      [400, await call("POST", "/v1/pull-secrets", { name: "canary-pull-2", server: "registry.example.com", username: "a:b", password: CANARY })],
      // Resolution of a missing collection, and tokens (no value in, none out).
      [404, await call("POST", "/v1/environment", { profile_id: "p1", keys: ["canary-keys", "missing"] })],
      [201, await call("POST", "/v1/tokens", { room: "demo", identity: "worker" })],
    ];
    for (const [status, answer] of refusals) expect(answer.status, answer.text.slice(0, 200)).toBe(status);

    // Lists and reads never carry values.
    for (const path of ["/v1/secrets", `/v1/secrets/${secret.id}`, "/v1/keys", "/v1/pull-secrets"]) {
      expect((await call("GET", path)).status).toBe(200);
    }

    // Only the answers meant to return values do, and only for callers in scope.
    const bodiesBefore = answers.length;
    const resolved = await callApi<ResolvedEnvironment>(node, "POST", "/v1/environment", { token, body: { profile_id: "p1", keys: ["canary-keys"] } });
    expect(resolved.json).toEqual({
      project: { CANARY_SECRET: `${CANARY}-2` },
      keys: { "canary-keys": { CANARY_KEY: CANARY, OTHER: `${CANARY}-b` } },
    });
    const dockerConfig = await callApi<DockerConfig>(node, "POST", "/v1/pull-secrets/canary-pull/docker-config", { token });
    expect(Buffer.from(dockerConfig.json.auths["registry.example.com"]!.auth, "base64").toString()).toBe(`u:${CANARY}`);
    expect((await call<ResolvedEnvironment>("POST", "/v1/environment", { profile_id: "p2" })).json.project).not.toHaveProperty("CANARY_SECRET");
    expect(answers.length).toBe(bodiesBefore + 1);

    // Answer bodies and headers, except the two above.
    expect(answers.length).toBeGreaterThanOrEqual(30);
    for (const answer of answers) {
      expect(answer.text).not.toContain(CANARY);
      const headers: string[] = [];
      answer.headers.forEach((value, name) => headers.push(`${name}: ${value}`));
      expect(headers.join("\n")).not.toContain(CANARY);
    }

    // Metrics.
    expect(await (await fetch(`${node.server.httpUrl}/metrics`)).text()).not.toContain(CANARY);

    // Audit records: one for every call that wrote or returned values, with digests, never the value.
    const store = new SqliteStore(join(node.config.dataDir, "roombus.db"));
    const audit = await store.queryAudit({ room: "*", limit: 1000 });
    await store.close();
    expect(audit.length).toBeGreaterThanOrEqual(20);
    expect(audit.some((entry) => entry.valueDigest !== undefined)).toBe(true);
    expect(JSON.stringify(audit)).not.toContain(CANARY);

    // The log, at every level (trace), holds neither the value nor its base64 (the docker auth).
    expect(node.logs.length).toBeGreaterThan(0);
    expect(node.logText()).not.toContain(CANARY);
    expect(node.logText()).not.toContain(Buffer.from(`u:${CANARY}`).toString("base64").slice(4, 40));

    // The SQLite files (database and write-ahead log) hold it only as ciphertext.
    for (const file of readdirSync(node.config.dataDir)) {
      const contents = readFileSync(join(node.config.dataDir, file));
      expect(contents.includes(Buffer.from(CANARY)), `canary in ${file}`).toBe(false);
    }
  });
});
