/**
 * The OAuth refresh lock across processes: three real roombus processes on one Redis of the test's own, one stored
 * credential that is due for refresh, and an agent on every node asking for it at the same moment. The authorization
 * server is a real one (oidc-provider) that rotates refresh tokens, so a second refresh with the same refresh token
 * would be refused; it holds every token request for a while, so the three requests overlap the refresh.
 */
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RoomClient } from "../../src/client/index.js";
import { CredentialStore, oauthKey, type StoredCredential } from "../../src/oauth/credentials.js";
import type { OAuthClient } from "../../src/protocol/ops.js";
import { openKeyring } from "../../src/secrets/key-management.js";
import { newMasterKeyBase64, parseMasterKey } from "../../src/secrets/keyring.js";
import { createRedisStore } from "../../src/secrets/redis-store.js";
import { Vault } from "../../src/secrets/vault.js";
import { startOidcProvider } from "../helpers/oauth-server.js";
import { startTestRedis, type TestRedis } from "../helpers/redis-server.js";
import { startServerProcesses, type ServerProcess } from "../helpers/server-process.js";

const ROOM = "oauth-lock";
const CLIENT_SECRET = "app-secret-0123456789";
/**
 * How long the authorization server holds each token request: long enough that all three nodes have read the
 * credential while the one refresh is under way, even on a busy machine.
 */
const TOKEN_DELAY_MS = 1000;
/** Three server processes, an authorization server and a held refresh: more than the default 20 s on a busy machine. */
const TEST_TIMEOUT_MS = 45_000;

let redis: TestRedis;
const encryptionKey = newMasterKeyBase64();

beforeAll(async () => {
  redis = await startTestRedis();
});
afterAll(async () => {
  await redis[Symbol.asyncDispose]();
});

/**
 * Three nodes, an authorization server whose access tokens live `accessTokenTtlSeconds`, an agent on every node (one
 * identity, so one credential) and a person on node 1 who approved the first authorization.
 */
async function setup(accessTokenTtlSeconds: number) {
  const env = { ROOMBUS_REDIS_URL: redis.url, ROOMBUS_ENCRYPTION_KEY: encryptionKey };
  const processes = await startServerProcesses(3, env);
  const { nodes } = processes;
  const join = (node: ServerProcess, identity: string): Promise<RoomClient> =>
    processes.join(node, identity, ROOM, { api: ["secrets"] });
  const callback = `http://127.0.0.1:${nodes[0]!.port}/oauth/callback`;
  const oidc = await startOidcProvider({
    clients: [
      { client_id: "app", client_secret: CLIENT_SECRET, redirect_uris: [callback], token_endpoint_auth_method: "client_secret_post" },
    ],
    rotateRefreshToken: true,
    accessTokenTtlSeconds,
  });
  const oauth: OAuthClient = {
    client_id: "app",
    client_secret: CLIENT_SECRET,
    authorization_endpoint: oidc.authorizationEndpoint,
    token_endpoint: oidc.tokenEndpoint,
    scopes: ["read"],
  };
  const agents = await Promise.all(nodes.map((node) => join(node, "agent")));
  const person = await join(nodes[0]!, "person");
  await expect.poll(() => agents[0]!.participants.has(person.participantId), { timeout: 5000 }).toBe(true);

  // The person approves once, through node 1's callback: the credential is stored in Redis for "agent".
  const asked = person.next("secrets.request_oauth_token");
  const authorized = agents[0]!.secrets.requestOAuthToken({ participant_id: person.participantId, oauth });
  const { redirectedTo } = await oidc.approve((await asked).authorization_url);
  expect((await fetch(redirectedTo)).status).toBe(200);
  const first = await authorized;

  // The test reads (and ages) the stored credential with the code the nodes use, from the same Redis and key.
  const store = await createRedisStore({ url: redis.url });
  const logger = pino({ level: "silent" });
  const vault = new Vault(store, await openKeyring(store, [parseMasterKey(encryptionKey)]), logger);
  const credentials = new CredentialStore(vault, logger, 10_000);
  const key = oauthKey(ROOM, "agent", oauth, undefined);
  const stored = async (): Promise<{ credential: StoredCredential; version: number; authorizedBy: string | undefined }> => {
    const record = await store.getRecord(key);
    const credential = await credentials.load(key);
    if (record === undefined || credential === undefined) throw new Error("no stored credential");
    return { credential, version: record.version, authorizedBy: record.authorizedBy };
  };

  return {
    oidc,
    oauth,
    agents,
    first,
    stored,
    /** Rewrites the stored credential as if its access token had expired a minute ago. */
    async expireStoredToken() {
      const { credential, authorizedBy } = await stored();
      await credentials.save(key, { ...credential, expires_at: Date.now() - 60_000 }, authorizedBy);
    },
    /** Every agent asks for the offline token at once. */
    askFromEveryNode: () => Promise.all(agents.map((agent) => agent.secrets.getOfflineOAuthToken({ oauth }))),
    async [Symbol.asyncDispose]() {
      await store.close();
      await oidc[Symbol.asyncDispose]();
      await processes[Symbol.asyncDispose]();
    },
  };
}

describe("refreshing one OAuth credential from three nodes at once", () => {
  const expiredOnce = "refreshes an expired credential once: one refresh grant, one new token for every agent, one stored rotation";
  it(expiredOnce, { timeout: TEST_TIMEOUT_MS }, async () => {
    await using t = await setup(3600);
    const original = (await t.stored()).credential;
    expect(original.refresh_token).toBeTruthy();
    await t.expireStoredToken();
    const before = await t.stored();

    t.oidc.tokenDelayMs = TOKEN_DELAY_MS;
    const askedAt = Date.now();
    const tokens = await t.askFromEveryNode();

    const refreshes = t.oidc.tokenRequests.filter((request) => request.grantType === "refresh_token");
    expect(refreshes).toHaveLength(1);
    expect(refreshes[0]).toMatchObject({ status: 200, refreshToken: original.refresh_token });
    // Every node asked while that one refresh was under way, so the two that did not make it waited for it.
    expect(refreshes[0]!.at).toBeGreaterThanOrEqual(askedAt + TOKEN_DELAY_MS);
    expect(t.oidc.maxTokenRequestsInFlight).toBe(1);

    const fresh = tokens[0]!;
    expect(fresh.access_token).not.toBe(t.first.access_token);
    expect(tokens.map((token) => token?.access_token)).toEqual([fresh.access_token, fresh.access_token, fresh.access_token]);
    expect(fresh.expires_at).toBeGreaterThan(Date.now() + 3000_000);
    expect(await t.oidc.isAccessTokenActive(fresh.access_token)).toBe(true);

    // Stored once: one write after the refresh, holding the new access token and the rotated refresh token.
    const after = await t.stored();
    expect(after.version).toBe(before.version + 1);
    expect(after.credential.access_token).toBe(fresh.access_token);
    expect(after.credential.refresh_token).toBeTruthy();
    expect(after.credential.refresh_token).not.toBe(original.refresh_token);
    expect(after.authorizedBy).toBe("person");

    // The stored refresh token is the live one: the next refresh presents it and the authorization server takes it
    // (the original one was consumed by the rotation and would be refused).
    t.oidc.tokenDelayMs = 0;
    await t.expireStoredToken();
    const next = await t.agents[2]!.secrets.getOfflineOAuthToken({ oauth: t.oauth });
    const lastRefresh = t.oidc.tokenRequests.filter((request) => request.grantType === "refresh_token").at(-1)!;
    expect(lastRefresh).toMatchObject({ status: 200, refreshToken: after.credential.refresh_token });
    expect(await t.oidc.isAccessTokenActive(next!.access_token)).toBe(true);
  });

  const shortLived = "refreshes once even when the server's tokens live shorter than the refresh margin (still due after the refresh)";
  it(shortLived, { timeout: TEST_TIMEOUT_MS }, async () => {
    // 30 s tokens: within the 60 s margin from the moment they are issued, so each is due for refresh at once.
    await using t = await setup(30);
    const before = await t.stored();

    t.oidc.tokenDelayMs = TOKEN_DELAY_MS;
    const tokens = await t.askFromEveryNode();

    expect(t.oidc.countTokenRequests("refresh_token")).toBe(1);
    const fresh = tokens[0]!;
    expect(fresh.access_token).not.toBe(t.first.access_token);
    expect(tokens.map((token) => token?.access_token)).toEqual([fresh.access_token, fresh.access_token, fresh.access_token]);
    expect(await t.oidc.isAccessTokenActive(fresh.access_token)).toBe(true);
    const after = await t.stored();
    expect(after.version).toBe(before.version + 1);
    expect(after.credential.refresh_token).not.toBe(before.credential.refresh_token);
  });
});
