/**
 * The project REST API over real HTTP against a real server on port 0: its whole surface, the error shape and
 * every status it promises.
 */
import { exportSPKI, generateKeyPair, SignJWT } from "jose";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect } from "../../src/client/index.js";
import { SqliteStore } from "../../src/secrets/sqlite-store.js";
import { startTestNode, TEST_ROOM, type TestNode } from "../helpers/start-test-node.js";
import {
  adminToken,
  callApi,
  errorOf,
  type DockerConfig,
  type HttpAnswer,
  type KeyCollection,
  type KeyCollectionList,
  type MintedToken,
  type ProjectSecret,
  type PullSecret,
  type PullSecretList,
  type ResolvedEnvironment,
  type SecretList,
} from "./project-http.js";

let node: TestNode;
let token: string;

beforeAll(async () => {
  node = await startTestNode();
  token = await adminToken(node);
});

afterAll(async () => {
  await node?.[Symbol.asyncDispose]();
});

const api = <T = unknown>(method: string, path: string, body?: unknown, headers?: Record<string, string>) =>
  callApi<T>(node, method, path, { token, body, headers });

/** Asserts the contract's error shape and returns the error. */
function expectError(answer: HttpAnswer, status: number, code: string, field?: string): { message: string; field?: string } {
  expect(answer.status, answer.text).toBe(status);
  expect(answer.headers.get("content-type")).toMatch(/^application\/json/);
  const error = errorOf(answer);
  expect(error.code).toBe(code);
  expect(typeof error.message).toBe("string");
  expect(error.field).toBe(field);
  return error;
}

describe("project API authentication", () => {
  it("answers 401 without a token, with a bad scheme, a bad, expired or revoked token", async () => {
    const expired = await node.token("ops", { room: "*", api: ["admin"], ttlSeconds: 1, now: new Date(Date.now() - 60_000) });
    const revocable = await node.token("ops", { room: "*", api: ["admin"], jti: "revoke-me" });
    expect((await callApi(node, "GET", "/v1/secrets", { token: revocable })).status).toBe(200);
    await node.server.revoke("revoke-me");
    const cases: [string, Record<string, string>][] = [
      ["none", {}],
      ["basic", { authorization: "Basic b3BzOnB3" }],
      ["garbage", { authorization: "Bearer not-a-jwt" }],
      ["expired", { authorization: `Bearer ${expired}` }],
      ["revoked", { authorization: `Bearer ${revocable}` }],
    ];
    for (const [name, headers] of cases) {
      const answer = await callApi(node, "GET", "/v1/secrets", { headers });
      expect(answer.status, name).toBe(401);
      expect(errorOf(answer).code, name).toBe("unauthorized");
      expect(answer.headers.get("www-authenticate"), name).toMatch(/^Bearer /);
    }
  });

  it("answers 403 to a valid token that is not a project admin", async () => {
    const roomAdmin = await node.token("ops", { room: TEST_ROOM, api: ["admin", "secrets"] });
    const noAdmin = await node.token("ops", { room: "*", api: ["secrets", "messaging"] });
    for (const other of [roomAdmin, noAdmin]) {
      expectError(await callApi(node, "GET", "/v1/secrets", { token: other }), 403, "forbidden");
      expectError(await callApi(node, "POST", "/v1/secrets", { token: other, body: { name: "X", value: "v" } }), 403, "forbidden");
    }
    expect((await api<SecretList>("GET", "/v1/secrets")).json.secrets.some((s) => s.name === "X")).toBe(false);
  });

  it("answers 404 for an unknown endpoint and 405 with Allow for a wrong method", async () => {
    expectError(await api("GET", "/v1/nothing-here"), 404, "not_found");
    const wrong = await api("PUT", "/v1/secrets");
    expectError(wrong, 405, "method_not_allowed");
    expect(wrong.headers.get("allow")).toBe("POST, GET");
    // Outside /v1 the other routes still answer.
    expect((await callApi(node, "GET", "/healthz")).status).toBe(200);
  });
});

describe("project secrets", () => {
  it("creates, lists, reads, updates and deletes a secret, never answering with its value", async () => {
    const created = await api<ProjectSecret>("POST", "/v1/secrets", { name: "DATABASE_URL", value: "postgres://one" });
    expect(created.status).toBe(201);
    expect(created.json).toEqual({
      id: expect.stringMatching(/^sec_[A-Za-z0-9_-]+$/) as unknown,
      name: "DATABASE_URL",
      scope: "all",
      profile_ids: [],
      version: 1,
      created_at: expect.any(Number) as unknown,
      updated_at: expect.any(Number) as unknown,
    });
    const id = created.json.id;
    expect(created.headers.get("etag")).toBe('"1"');
    expect(created.headers.get("location")).toBe(`/v1/secrets/${id}`);
    expect(created.headers.get("cache-control")).toBe("no-store");

    const listed = await api<SecretList>("GET", "/v1/secrets");
    expect(listed.status).toBe(200);
    expect(listed.json.secrets).toContainEqual(created.json);

    const read = await api<ProjectSecret>("GET", `/v1/secrets/${id}`);
    expect(read.json).toEqual(created.json);
    expect(read.headers.get("etag")).toBe('"1"');

    const patched = await api<ProjectSecret>("PATCH", `/v1/secrets/${id}`, { scope: "agents", profile_ids: ["billing"] }, { "if-match": '"1"' });
    expect(patched.status).toBe(200);
    expect(patched.json).toMatchObject({ id, name: "DATABASE_URL", scope: "agents", profile_ids: ["billing"], version: 2 });
    expect(patched.headers.get("etag")).toBe('"2"');
    expect(patched.json.updated_at).toBeGreaterThanOrEqual(created.json.updated_at);
    // Back to "all" drops the profile list.
    expect((await api("PATCH", `/v1/secrets/${id}`, { scope: "all" })).json).toMatchObject({ scope: "all", profile_ids: [], version: 3 });

    for (const answer of [created, listed, read, patched]) expect(answer.text).not.toContain("postgres://one");

    expect((await api("DELETE", `/v1/secrets/${id}`)).status).toBe(204);
    expectError(await api("GET", `/v1/secrets/${id}`), 404, "not_found");
    expectError(await api("DELETE", `/v1/secrets/${id}`), 404, "not_found");
    expectError(await api("PATCH", `/v1/secrets/${id}`, { value: "x" }), 404, "not_found");
    expectError(await api("GET", "/v1/secrets/not-an-id"), 404, "not_found");
  });

  it("answers 409 on a taken name and on an If-Match that is not the stored version", async () => {
    const { json: secret } = await api<ProjectSecret>("POST", "/v1/secrets", { name: "TAKEN", value: "v" });
    const taken = expectError(await api("POST", "/v1/secrets", { name: "TAKEN", value: "w" }), 409, "conflict", "name");
    expect(taken.message).toContain(secret.id);
    expectError(await api("PATCH", `/v1/secrets/${secret.id}`, { value: "w" }, { "if-match": '"7"' }), 409, "conflict", "If-Match");
    expectError(await api("DELETE", `/v1/secrets/${secret.id}`, undefined, { "if-match": '"2"' }), 409, "conflict", "If-Match");
    // Weak and bare forms of the right version both apply.
    expect((await api<ProjectSecret>("PATCH", `/v1/secrets/${secret.id}`, { value: "x" }, { "if-match": 'W/"1"' })).json.version).toBe(2);
    expect((await api<ProjectSecret>("PATCH", `/v1/secrets/${secret.id}`, { value: "y" }, { "if-match": "2" })).json.version).toBe(3);
    expect((await api("DELETE", `/v1/secrets/${secret.id}`, undefined, { "if-match": '"3"' })).status).toBe(204);
  });

  it("answers 400 naming the field for every kind of bad input", async () => {
    const { json: secret } = await api<ProjectSecret>("POST", "/v1/secrets", { name: "VALID", value: "v" });
    const cases: [string, string, unknown, string | undefined][] = [
      ["POST", "/v1/secrets", { name: "lower-case", value: "v" }, "name"],
      ["POST", "/v1/secrets", { name: "1STARTS_WITH_DIGIT", value: "v" }, "name"],
      ["POST", "/v1/secrets", { value: "v" }, "name"],
      ["POST", "/v1/secrets", { name: "X" }, "value"],
      ["POST", "/v1/secrets", { name: "X", value: 42 }, "value"],
      ["POST", "/v1/secrets", { name: "X", value: "a\u0000b" }, "value"],
      ["POST", "/v1/secrets", { name: "X", value: "é".repeat(40_000) }, "value"],
      ["POST", "/v1/secrets", { name: "X", value: "v", scope: "everyone" }, "scope"],
      ["POST", "/v1/secrets", { name: "X", value: "v", scope: "agents" }, "profile_ids"],
      ["POST", "/v1/secrets", { name: "X", value: "v", scope: "all", profile_ids: ["p"] }, "profile_ids"],
      ["POST", "/v1/secrets", { name: "X", value: "v", scope: "agents", profile_ids: ["p", "p"] }, "profile_ids[1]"],
      ["POST", "/v1/secrets", { name: "X", value: "v", scope: "agents", profile_ids: ["ok", "no spaces"] }, "profile_ids[1]"],
      ["POST", "/v1/secrets", { name: "X", value: "v", valeu: "typo" }, "valeu"],
      ["POST", "/v1/secrets", [1, 2], undefined],
      ["POST", "/v1/secrets", "{not json", undefined],
      ["PATCH", `/v1/secrets/${secret.id}`, {}, undefined],
      ["PATCH", `/v1/secrets/${secret.id}`, { profile_ids: ["p"] }, "profile_ids"],
      ["PATCH", `/v1/secrets/${secret.id}`, { scope: "agents" }, "profile_ids"],
      ["POST", "/v1/keys", { name: "Upper", data: { A: "1" } }, "name"],
      ["POST", "/v1/keys", { name: "ok", data: { "bad-key": "1" } }, 'data["bad-key"]'],
      ["POST", "/v1/keys", { name: "ok", data: { GOOD: 1 } }, "data.GOOD"],
      ["POST", "/v1/keys", { name: "ok", data: {} }, "data"],
      ["POST", "/v1/pull-secrets", { name: "p", server: "r.example.com", username: "a:b", password: "pw" }, "username"],
      ["POST", "/v1/pull-secrets", { name: "p", server: "has space", username: "u", password: "pw" }, "server"],
      ["POST", "/v1/pull-secrets", { name: "p", server: "r.example.com", username: "u" }, "password"],
      ["POST", "/v1/environment", { keys: ["a", "a"] }, "keys[1]"],
      ["POST", "/v1/environment", { profile_id: "" }, "profile_id"],
      ["POST", "/v1/tokens", { room: "no spaces", identity: "w" }, "room"],
      ["POST", "/v1/tokens", { room: "r", identity: "w", api: { messagin: {} } }, "api.messagin"],
      ["POST", "/v1/tokens", { room: "r", identity: "w", role: "root" }, "role"],
      ["POST", "/v1/tokens", { room: "r", identity: "w", ttl_s: 0 }, "ttl_s"],
    ];
    for (const [method, path, body, field] of cases) {
      const answer = await api(method, path, body);
      const label = `${method} ${path} ${JSON.stringify(body).slice(0, 80)}`;
      expect(answer.status, label).toBe(400);
      expect(errorOf(answer).code, label).toBe("invalid_request");
      expect(errorOf(answer).field, label).toBe(field);
      if (field !== undefined) expect(errorOf(answer).message, label).toContain(field);
    }
    expectError(await api("PATCH", `/v1/secrets/${secret.id}`, { value: "v" }, { "if-match": "yesterday" }), 400, "invalid_request", "If-Match");
    // None of those wrote anything.
    expect((await api<ProjectSecret>("GET", `/v1/secrets/${secret.id}`)).json.version).toBe(1);
  });

  it("answers 413 to a body over the limit, declared or not", async () => {
    const large = JSON.stringify({ name: "LARGE", value: "x".repeat(2 * 1024 * 1024) });
    expectError(await api("POST", "/v1/secrets", large), 413, "too_large");
    // Chunked: no Content-Length, so the limit is found while reading.
    const chunks = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 3; i++) controller.enqueue(new Uint8Array(512 * 1024).fill(0x20));
        controller.close();
      },
    });
    const response = await fetch(`${node.server.httpUrl}/v1/secrets`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: chunks,
      duplex: "half",
    } as RequestInit);
    expect(response.status).toBe(413);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe("too_large");
    expect((await api<SecretList>("GET", "/v1/secrets")).json.secrets.some((s) => s.name === "LARGE")).toBe(false);
  });
});

describe("key collections and pull secrets", () => {
  it("creates, lists and deletes a key collection, showing key names and never values", async () => {
    const created = await api<KeyCollection>("POST", "/v1/keys", { name: "weather-api", data: { API_SECRET: "s3cr3t-b", API_KEY: "s3cr3t-a" } });
    expect(created.status).toBe(201);
    expect(created.json).toEqual({
      id: expect.stringMatching(/^key_/) as unknown,
      name: "weather-api",
      keys: ["API_KEY", "API_SECRET"],
      version: 1,
      created_at: expect.any(Number) as unknown,
      updated_at: expect.any(Number) as unknown,
    });
    const listed = await api<KeyCollectionList>("GET", "/v1/keys");
    expect(listed.json.keys).toContainEqual(created.json);
    for (const answer of [created, listed]) expect(answer.text).not.toMatch(/s3cr3t/);
    expectError(await api("POST", "/v1/keys", { name: "weather-api", data: { X: "1" } }), 409, "conflict", "name");
    expect((await api("DELETE", "/v1/keys/weather-api")).status).toBe(204);
    expectError(await api("DELETE", "/v1/keys/weather-api"), 404, "not_found");
    expectError(await api("DELETE", "/v1/keys/Not%20A%20Name"), 404, "not_found");
  });

  it("stores a registry credential and hands it out only as Docker's config.json", async () => {
    const created = await api<PullSecret>("POST", "/v1/pull-secrets", { name: "acme", server: "registry.example.com:5000", username: "deploy", password: "pä55:word" });
    expect(created.status).toBe(201);
    expect(created.json).toEqual({
      id: expect.stringMatching(/^pull_/) as unknown,
      name: "acme",
      server: "registry.example.com:5000",
      username: "deploy",
      created_at: expect.any(Number) as unknown,
      updated_at: expect.any(Number) as unknown,
    });
    const listed = await api<PullSecretList>("GET", "/v1/pull-secrets");
    expect(listed.json.pull_secrets).toContainEqual(created.json);
    for (const answer of [created, listed]) expect(answer.text).not.toContain("pä55");

    const config = await api<DockerConfig>("POST", "/v1/pull-secrets/acme/docker-config");
    expect(config.status).toBe(200);
    expect(config.headers.get("cache-control")).toBe("no-store");
    expect(config.json).toEqual({ auths: { "registry.example.com:5000": { auth: expect.any(String) as unknown } } });
    expect(Buffer.from(config.json.auths["registry.example.com:5000"]!.auth, "base64").toString("utf8")).toBe("deploy:pä55:word");
    // Only POST: a GET could be cached or prefetched.
    expect((await api("GET", "/v1/pull-secrets/acme/docker-config")).status).toBe(405);

    expectError(await api("POST", "/v1/pull-secrets", { name: "acme", server: "s", username: "u", password: "p" }), 409, "conflict", "name");
    expect((await api("DELETE", "/v1/pull-secrets/acme")).status).toBe(204);
    expectError(await api("POST", "/v1/pull-secrets/acme/docker-config"), 404, "not_found");
    expectError(await api("DELETE", "/v1/pull-secrets/acme"), 404, "not_found");
  });
});

describe("environment resolution", () => {
  it("gives each profile the secrets in its scope, the listed collections, and the latest values", async () => {
    const everyone = (await api<ProjectSecret>("POST", "/v1/secrets", { name: "SHARED_TOKEN", value: "shared-1" })).json;
    const billing = (await api<ProjectSecret>("POST", "/v1/secrets", { name: "STRIPE_KEY", value: "stripe-1", scope: "agents", profile_ids: ["billing", "ops"] })).json;
    await api("POST", "/v1/secrets", { name: "SUPPORT_KEY", value: "support-1", scope: "agents", profile_ids: ["support"] });
    await api("POST", "/v1/keys", { name: "maps", data: { MAPS_KEY: "maps-1" } });
    await api("POST", "/v1/keys", { name: "mail", data: { SMTP_USER: "u", SMTP_PASSWORD: "p" } });

    const resolve = async (body: unknown) => {
      const answer = await api<ResolvedEnvironment>("POST", "/v1/environment", body);
      expect(answer.status, answer.text).toBe(200);
      expect(answer.headers.get("cache-control")).toBe("no-store");
      return answer.json;
    };
    const withoutProfile = await resolve({});
    expect(withoutProfile.project.SHARED_TOKEN).toBe("shared-1");
    expect(withoutProfile.project).not.toHaveProperty("STRIPE_KEY");
    expect(withoutProfile.project).not.toHaveProperty("SUPPORT_KEY");
    expect(withoutProfile.keys).toEqual({});

    const forBilling = await resolve({ profile_id: "billing", keys: ["maps", "mail"] });
    expect(forBilling.project).toMatchObject({ SHARED_TOKEN: "shared-1", STRIPE_KEY: "stripe-1" });
    expect(forBilling.project).not.toHaveProperty("SUPPORT_KEY");
    expect(forBilling.keys).toEqual({ maps: { MAPS_KEY: "maps-1" }, mail: { SMTP_PASSWORD: "p", SMTP_USER: "u" } });

    const forOther = await resolve({ profile_id: "marketing" });
    expect(Object.keys(forOther.project)).toContain("SHARED_TOKEN");
    expect(Object.keys(forOther.project)).not.toContain("STRIPE_KEY");

    // Rotation and a scope change reach the very next resolution.
    await api("PATCH", `/v1/secrets/${everyone.id}`, { value: "shared-2" });
    await api("PATCH", `/v1/secrets/${billing.id}`, { profile_ids: ["marketing"] });
    expect((await resolve({ profile_id: "marketing" })).project).toMatchObject({ SHARED_TOKEN: "shared-2", STRIPE_KEY: "stripe-1" });
    expect((await resolve({ profile_id: "billing" })).project).not.toHaveProperty("STRIPE_KEY");

    const missing = expectError(await api("POST", "/v1/environment", { keys: ["maps", "no-such-collection"] }), 404, "not_found", "keys[1]");
    expect(missing.message).toContain("no-such-collection");
  });
});

describe("token minting", () => {
  it("mints a token that joins the room with the grants asked for", async () => {
    const before = Date.now();
    const minted = await api<MintedToken>("POST", "/v1/tokens", { room: TEST_ROOM, identity: "worker-1", role: "agent", api: { messaging: {}, secrets: {} }, ttl_s: 120 });
    expect(minted.status).toBe(201);
    expect(minted.json).toEqual({ token: expect.any(String) as unknown, expires_at: expect.any(Number) as unknown, jti: expect.stringMatching(/^tok_/) as unknown });
    expect(minted.json.expires_at).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + 120_000);
    expect(minted.json.expires_at).toBeLessThanOrEqual(Date.now() + 120_000);

    const worker = await connect(node.server.roomUrl(TEST_ROOM), minted.json.token);
    try {
      expect(worker.identity).toBe("worker-1");
      // The secrets grant works: the worker can store and read its own secret.
      await worker.secrets.setSecret({ secret_id: "s", data: new TextEncoder().encode("v") });
      expect((await worker.secrets.getSecret({ secret_id: "s" }))?.data).toBeDefined();
    } finally {
      await worker.close();
    }
    // A token for one room does not join another.
    await expect(connect(node.server.roomUrl("other-room"), minted.json.token)).rejects.toThrow(/403/);
  });

  it("defaults to a user token with messaging and toolkits for an hour", async () => {
    const minted = await api<MintedToken>("POST", "/v1/tokens", { room: "*", identity: "svc" });
    const claims = JSON.parse(Buffer.from(minted.json.token.split(".")[1]!, "base64url").toString("utf8")) as Record<string, unknown>;
    expect(claims).toMatchObject({ sub: "svc", room: "*", role: "user", api: { messaging: {}, toolkits: {} }, jti: minted.json.jti });
    expect((claims.exp as number) - (claims.iat as number)).toBe(3600);
  });

  it("answers 409 when the server verifies tokens from an external issuer and cannot sign", async () => {
    const { publicKey, privateKey } = await generateKeyPair("ES256");
    await using external = await startTestNode({ ROOMBUS_JWT_SECRET: "", ROOMBUS_JWT_PUBLIC_KEY: await exportSPKI(publicKey) });
    const issued = await new SignJWT({ room: "*", role: "user", api: { admin: {} } })
      .setProtectedHeader({ alg: "ES256" })
      .setSubject("ops")
      .setIssuer("roombus")
      .setAudience("roombus")
      .setIssuedAt()
      .setExpirationTime("5m")
      .sign(privateKey);
    const answer = await callApi(external, "POST", "/v1/tokens", { token: issued, body: { room: "r", identity: "w" } });
    const error = expectError(answer, 409, "conflict");
    expect(error.message).toMatch(/external issuer/);
    // The rest of the API works with the external issuer's tokens.
    expect((await callApi(external, "POST", "/v1/secrets", { token: issued, body: { name: "X", value: "v" } })).status).toBe(201);
  });
});

describe("the OpenAPI document", () => {
  it("is served without a token, parses as OpenAPI 3.1, and lists every route with its schemas", async () => {
    const answer = await callApi<{
      openapi: string;
      paths: Record<
        string,
        Record<
          string,
          {
            operationId: string;
            security: unknown[];
            requestBody?: { content: Record<string, { schema: { properties?: object } }> };
            responses: Record<string, unknown>;
          }
        >
      >;
      components: { securitySchemes: object; schemas: { Error: object } };
    }>(node, "GET", "/v1/openapi.json");
    expect(answer.status).toBe(200);
    const document = answer.json;
    expect(document.openapi).toBe("3.1.0");
    const operations = Object.entries(document.paths).flatMap(([path, methods]) => Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`));
    expect(operations.sort()).toEqual(
      [
        "POST /v1/secrets",
        "GET /v1/secrets",
        "GET /v1/secrets/{id}",
        "PATCH /v1/secrets/{id}",
        "DELETE /v1/secrets/{id}",
        "POST /v1/keys",
        "GET /v1/keys",
        "DELETE /v1/keys/{name}",
        "POST /v1/pull-secrets",
        "GET /v1/pull-secrets",
        "DELETE /v1/pull-secrets/{name}",
        "POST /v1/pull-secrets/{name}/docker-config",
        "POST /v1/environment",
        "POST /v1/tokens",
        "GET /v1/openapi.json",
      ].sort(),
    );
    const operationIds = Object.values(document.paths).flatMap((methods) => Object.values(methods).map((operation) => operation.operationId));
    expect(new Set(operationIds).size).toBe(operations.length);
    expect(document.paths["/v1/pull-secrets/{name}/docker-config"]!.post!.operationId).toBe("postV1PullSecretsByNameDockerConfig");
    const create = document.paths["/v1/secrets"]!.post!;
    expect(create.security).toEqual([{ bearer: [] }]);
    expect(create.requestBody?.content["application/json"]?.schema.properties).toHaveProperty("profile_ids");
    expect(Object.keys(create.responses)).toEqual(expect.arrayContaining(["201", "400", "401", "403", "409", "413"]));
    expect(Object.keys(document.paths["/v1/secrets/{id}"]!.patch!.responses)).toEqual(expect.arrayContaining(["200", "404", "409"]));
    expect(document.paths["/v1/openapi.json"]!.get!.security).toEqual([]);
    expect(document.components.schemas.Error).toBeDefined();
  });
});

describe("the audit trail of the project API", () => {
  it("records every write and every call that returns values under room '*', and refused admins too", async () => {
    await using fresh = await startTestNode();
    const admin = await adminToken(fresh, "auditor");
    const call = (method: string, path: string, body?: unknown) => callApi(fresh, method, path, { token: admin, body });
    const { json: secret } = await callApi<ProjectSecret>(fresh, "POST", "/v1/secrets", { token: admin, body: { name: "AUDITED", value: "audited-value" } });
    await call("PATCH", `/v1/secrets/${secret.id}`, { value: "audited-value-2" });
    await call("POST", "/v1/secrets", { name: "AUDITED", value: "again" });
    await call("GET", "/v1/secrets");
    await call("POST", "/v1/keys", { name: "k", data: { K: "v" } });
    await call("POST", "/v1/pull-secrets", { name: "p", server: "r.example.com", username: "u", password: "pw" });
    await call("POST", "/v1/pull-secrets/p/docker-config");
    await call("POST", "/v1/environment", { keys: ["k"] });
    await call("POST", "/v1/tokens", { room: "r", identity: "w" });
    await call("DELETE", "/v1/keys/k");
    await call("DELETE", "/v1/pull-secrets/p");
    await call("DELETE", `/v1/secrets/${secret.id}`);
    await callApi(fresh, "POST", "/v1/environment", { token: await fresh.token("intruder", { room: "*", api: ["secrets"] }), body: {} });

    const store = new SqliteStore(join(fresh.config.dataDir, "roombus.db"));
    const entries = (await store.queryAudit({ room: "*", limit: 100 })).reverse();
    await store.close();
    expect(entries.map((entry) => [entry.op, entry.outcome, entry.actor])).toEqual([
      ["project.secrets.create", "ok", "auditor"],
      ["project.secrets.update", "ok", "auditor"],
      ["project.secrets.create", "conflict", "auditor"],
      ["project.keys.create", "ok", "auditor"],
      ["project.pull_secrets.create", "ok", "auditor"],
      ["project.pull_secrets.docker_config", "ok", "auditor"],
      ["project.environment.resolve", "ok", "auditor"],
      ["project.tokens.mint", "ok", "auditor"],
      ["project.keys.delete", "ok", "auditor"],
      ["project.pull_secrets.delete", "ok", "auditor"],
      ["project.secrets.delete", "ok", "auditor"],
      ["project.environment.resolve", "forbidden", "intruder"],
    ]);
    for (const entry of entries) expect(entry.room).toBe("*");
    expect(entries[0]!.target).toMatchObject({ id: secret.id, name: "AUDITED", scope: "all" });
    expect(entries[2]!.errorCode).toBe(409);
    // Writes carry a digest of the value; two different values have different digests.
    expect(entries[0]!.valueDigest).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(entries[1]!.valueDigest).not.toBe(entries[0]!.valueDigest);
    expect(entries[6]!.target).toMatchObject({ keys: "k", names: "AUDITED" });
    expect(entries[7]!.target).toMatchObject({ room: "r", identity: "w", jti: expect.stringMatching(/^tok_/) as unknown });
    expect(JSON.stringify(entries)).not.toMatch(/audited-value|"pw"|"v"/);
  });
});
