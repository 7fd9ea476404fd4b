/**
 * request_oauth_token against a real authorization server (oidc-provider on port 0): the agent asks, the person's
 * browser (driven over HTTP by the test server's interaction API) approves, the code comes back at roombus's
 * callback or by provide_oauth_authorization, and the agent gets a token the provider knows.
 */
import { describe, expect, it } from "vitest";
import type { RoomClient } from "../../src/client/index.js";
import type { OAuthClient } from "../../src/protocol/ops.js";
import { startOidcProvider } from "../helpers/oauth-server.js";
import { startTestNode } from "../helpers/start-test-node.js";

const APP_CALLBACK = "http://127.0.0.1:9/app/callback";

async function setup(options: { accessTokenTtlSeconds?: number; rotateRefreshToken?: boolean } = {}) {
  const node = await startTestNode();
  const callback = `${node.server.httpUrl}/oauth/callback`;
  const oidc = await startOidcProvider({
    clients: [
      {
        client_id: "app",
        client_secret: "app-secret-canary-5521",
        redirect_uris: [callback, APP_CALLBACK],
        token_endpoint_auth_method: "client_secret_post",
      },
    ],
    ...options,
  });
  const agent = await node.connect("agent", { role: "agent", api: ["secrets"] });
  const person = await node.connect("person", { api: ["secrets"] });
  const client: OAuthClient = {
    client_id: "app",
    client_secret: "app-secret-canary-5521",
    authorization_endpoint: oidc.authorizationEndpoint,
    token_endpoint: oidc.tokenEndpoint,
    scopes: ["read"],
  };
  return {
    node,
    oidc,
    agent,
    person,
    client,
    callback,
    async [Symbol.asyncDispose]() {
      await oidc[Symbol.asyncDispose]();
      await node[Symbol.asyncDispose]();
    },
  };
}

async function askFor(agent: RoomClient, person: RoomClient, oauth: OAuthClient, extra: { redirect_uri?: string; timeout_ms?: number; delegate_to?: string; refresh?: boolean } = {}) {
  const asked = person.next("secrets.request_oauth_token");
  const call = agent.secrets.requestOAuthToken({ participant_id: person.participantId, oauth, ...extra });
  call.catch(() => undefined);
  return { call, request: await asked };
}

describe("request_oauth_token: the whole flow", () => {
  it("returns a token the provider issued, with the code arriving at roombus's callback", async () => {
    await using t = await setup();
    const { call, request } = await askFor(t.agent, t.person, t.client);
    const url = new URL(request.authorization_url);
    expect(url.origin + url.pathname).toBe(t.oidc.authorizationEndpoint);
    expect(Object.fromEntries(url.searchParams)).toMatchObject({
      response_type: "code",
      client_id: "app",
      redirect_uri: t.callback,
      scope: "read",
      code_challenge_method: "S256",
    });
    expect(url.searchParams.get("state")?.length).toBeGreaterThanOrEqual(40);
    expect(url.searchParams.get("code_challenge")).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(request).toMatchObject({ client_id: "app", scopes: ["read"], redirect_uri: t.callback, from_identity: "agent" });
    // The client secret never reaches a participant.
    expect(JSON.stringify(request)).not.toContain("app-secret-canary-5521");

    const closed = t.person.next("secrets.request_cancelled");
    const { redirectedTo } = await t.oidc.approve(request.authorization_url);
    expect(redirectedTo.origin + redirectedTo.pathname).toBe(t.callback);
    const page = await fetch(redirectedTo);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("Authorization complete");

    const token = await call;
    expect(token).toMatchObject({ token_type: expect.stringMatching(/^bearer$/i) as unknown, scopes: ["read"] });
    expect(token.expires_at).toBeGreaterThan(Date.now());
    expect(await t.oidc.isAccessTokenActive(token.access_token)).toBe(true);
    expect(await closed).toEqual({ request_id: request.request_id, reason: "answered_elsewhere" });
    // The callback page shows nothing of the exchange.
    expect(await (await fetch(redirectedTo)).text()).not.toContain(token.access_token);
  });

  it("takes the code from provide_oauth_authorization, from any session of the asked identity", async () => {
    await using t = await setup();
    const { call, request } = await askFor(t.agent, t.person, t.client, { redirect_uri: APP_CALLBACK });
    const { redirectedTo } = await t.oidc.approve(request.authorization_url);
    // The page navigated away and came back: a new session of the same identity answers.
    await t.person.close();
    const back = await t.node.connect("person", { api: ["secrets"] });
    await back.secrets.provideOAuthAuthorization({
      request_id: request.request_id,
      code: redirectedTo.searchParams.get("code")!,
      state: redirectedTo.searchParams.get("state")!,
    });
    expect(await t.oidc.isAccessTokenActive((await call).access_token)).toBe(true);
  });

  it("returns a stored valid token at once without asking, and asks again with refresh", async () => {
    await using t = await setup();
    const first = await approveViaCallback(t);
    const before = t.oidc.countTokenRequests("authorization_code");
    let asked = 0;
    t.person.on("secrets.request_oauth_token", () => asked++);
    const again = await t.agent.secrets.requestOAuthToken({ participant_id: t.person.participantId, oauth: t.client });
    expect(again.access_token).toBe(first.access_token);
    expect(t.oidc.countTokenRequests("authorization_code")).toBe(before);
    const { call, request } = await askFor(t.agent, t.person, t.client, { refresh: true });
    await fetch((await t.oidc.approve(request.authorization_url)).redirectedTo);
    expect((await call).access_token).not.toBe(first.access_token);
    expect(asked).toBe(1);
  });
});

describe("state", () => {
  it("refuses a missing or mismatched state with 1001 and keeps the request open", async () => {
    await using t = await setup();
    const { call, request } = await askFor(t.agent, t.person, t.client, { redirect_uri: APP_CALLBACK });
    const { redirectedTo } = await t.oidc.approve(request.authorization_url);
    const code = redirectedTo.searchParams.get("code")!;
    const state = redirectedTo.searchParams.get("state")!;
    await expect(t.person.secrets.provideOAuthAuthorization({ request_id: request.request_id, code })).rejects.toMatchObject({ code: 1001 });
    await expect(
      t.person.secrets.provideOAuthAuthorization({ request_id: request.request_id, code, state: `${request.request_id}.forged` }),
    ).rejects.toMatchObject({ code: 1001 });
    await expect(t.person.secrets.provideOAuthAuthorization({ request_id: request.request_id, code, state })).resolves.toEqual({});
    await call;
  });

  it("refuses a replayed state (1006 and an error page)", async () => {
    await using t = await setup();
    const { call, request } = await askFor(t.agent, t.person, t.client);
    const { redirectedTo } = await t.oidc.approve(request.authorization_url);
    expect((await fetch(redirectedTo)).status).toBe(200);
    await call;
    const replay = await fetch(redirectedTo);
    expect(replay.status).toBe(400);
    expect(await replay.text()).toContain("already completed");
    await expect(
      t.person.secrets.provideOAuthAuthorization({
        request_id: request.request_id,
        code: redirectedTo.searchParams.get("code")!,
        state: redirectedTo.searchParams.get("state")!,
      }),
    ).rejects.toMatchObject({ code: 1006 });
  });

  it("refuses an expired state: the requester gets 1009, a late code gets 1006", async () => {
    await using t = await setup();
    const { call, request } = await askFor(t.agent, t.person, t.client, { timeout_ms: 300 });
    await expect(call).rejects.toMatchObject({ code: 1009 });
    const { redirectedTo } = await t.oidc.approve(request.authorization_url);
    expect((await fetch(redirectedTo)).status).toBe(400);
    await expect(
      t.person.secrets.provideOAuthAuthorization({
        request_id: request.request_id,
        code: redirectedTo.searchParams.get("code")!,
        state: redirectedTo.searchParams.get("state")!,
      }),
    ).rejects.toMatchObject({ code: 1006 });
  });

  it("checks the state before an error answer: a forged error changes nothing, a real one declines", async () => {
    await using t = await setup();
    const { call, request } = await askFor(t.agent, t.person, t.client);
    const forged = new URL(t.callback);
    forged.searchParams.set("error", "access_denied");
    forged.searchParams.set("state", `${request.request_id}.not-the-secret`);
    expect((await fetch(forged)).status).toBe(400);
    forged.searchParams.delete("state");
    expect((await fetch(forged)).status).toBe(400);
    const { redirectedTo } = await t.oidc.approve(request.authorization_url, { deny: true });
    expect(redirectedTo.searchParams.get("error")).toBe("access_denied");
    const page = await fetch(redirectedTo);
    expect(await page.text()).toContain("Authorization declined");
    await expect(call).rejects.toMatchObject({ code: 1001, message: expect.stringContaining("access_denied") as unknown });
  });
});

describe("who may answer", () => {
  it("refuses a code brought by another identity (1001), then takes the asked identity's", async () => {
    await using t = await setup();
    const intruder = await t.node.connect("intruder", { api: ["secrets"] });
    const { call, request } = await askFor(t.agent, t.person, t.client, { redirect_uri: APP_CALLBACK });
    const { redirectedTo } = await t.oidc.approve(request.authorization_url);
    const answer = {
      request_id: request.request_id,
      code: redirectedTo.searchParams.get("code")!,
      state: redirectedTo.searchParams.get("state")!,
    };
    await expect(intruder.secrets.provideOAuthAuthorization(answer)).rejects.toMatchObject({ code: 1001 });
    await expect(intruder.secrets.rejectOAuthAuthorization({ request_id: request.request_id })).rejects.toMatchObject({ code: 1001 });
    await t.person.secrets.provideOAuthAuthorization(answer);
    await call;
  });

  it("fails the requester with 1001 when the person declines in the room", async () => {
    await using t = await setup();
    const { call, request } = await askFor(t.agent, t.person, t.client);
    await t.person.secrets.rejectOAuthAuthorization({ request_id: request.request_id, error: "not today" });
    await expect(call).rejects.toMatchObject({ code: 1001, message: expect.stringContaining("not today") as unknown });
  });

  it("stays pending when the asked page's socket drops during the redirect", async () => {
    await using t = await setup();
    const { call, request } = await askFor(t.agent, t.person, t.client);
    await t.person.close();
    const { redirectedTo } = await t.oidc.approve(request.authorization_url);
    expect((await fetch(redirectedTo)).status).toBe(200);
    expect(await t.oidc.isAccessTokenActive((await call).access_token)).toBe(true);
  });
});

describe("PKCE and redirect URI", () => {
  it("uses S256 only, and the provider refuses a redirect URI it does not know exactly", async () => {
    await using t = await setup();
    const { call, request } = await askFor(t.agent, t.person, t.client, { redirect_uri: `${APP_CALLBACK}/extra` });
    expect(new URL(request.authorization_url).searchParams.get("code_challenge_method")).toBe("S256");
    await expect(t.oidc.approve(request.authorization_url)).rejects.toThrow();
    await t.person.secrets.rejectOAuthAuthorization({ request_id: request.request_id });
    await expect(call).rejects.toMatchObject({ code: 1001 });
  });
});

describe("offline tokens", () => {
  it("gives the owner its token, the delegatee its delegated one, and a stranger nothing", async () => {
    await using t = await setup();
    const service = await t.node.connect("service", { api: ["secrets"] });
    const stranger = await t.node.connect("stranger", { api: ["secrets"] });
    const own = await approveViaCallback(t);
    const { call, request } = await askFor(t.agent, t.person, t.client, { delegate_to: "service" });
    await fetch((await t.oidc.approve(request.authorization_url)).redirectedTo);
    const delegated = await call;

    expect((await t.agent.secrets.getOfflineOAuthToken({ oauth: t.client }))?.access_token).toBe(own.access_token);
    expect((await t.agent.secrets.getOfflineOAuthToken({ oauth: t.client, delegated_to: "service" }))?.access_token).toBe(
      delegated.access_token,
    );
    expect((await service.secrets.getOfflineOAuthToken({ oauth: t.client, delegated_by: "agent" }))?.access_token).toBe(
      delegated.access_token,
    );
    expect(await service.secrets.getOfflineOAuthToken({ oauth: t.client })).toBeNull();
    expect(await stranger.secrets.getOfflineOAuthToken({ oauth: t.client })).toBeNull();
    expect(await stranger.secrets.getOfflineOAuthToken({ oauth: t.client, delegated_by: "agent" })).toBeNull();
    const listed = JSON.stringify(await t.agent.secrets.listSecrets());
    expect(listed).toContain('"kind":"oauth"');
    expect(listed).not.toContain(own.access_token);
  });

  it("refreshes a token that expires within 60 s before handing it out", async () => {
    await using t = await setup({ accessTokenTtlSeconds: 30 });
    const first = await approveViaCallback(t);
    const refreshed = await t.agent.secrets.getOfflineOAuthToken({ oauth: t.client });
    expect(refreshed!.access_token).not.toBe(first.access_token);
    expect(t.oidc.countTokenRequests("refresh_token")).toBe(1);
    expect(await t.oidc.isAccessTokenActive(refreshed!.access_token)).toBe(true);
  });
});

describe("seeing and revoking what was authorized", () => {
  it("lists the credential to the person who approved it, who can revoke it; nobody else can", async () => {
    await using t = await setup();
    const token = await approveViaCallback(t);
    const stranger = await t.node.connect("stranger", { api: ["secrets"] });
    const target = { authorization_endpoint: t.client.authorization_endpoint, client_id: "app" };
    const seen = (await t.person.secrets.listSecrets()).secrets;
    expect(seen).toEqual([
      {
        kind: "oauth",
        id: "app",
        url: t.client.authorization_endpoint,
        type: "oauth",
        owner: "agent",
        authorized_by: "person",
        version: 1,
        updated_at: expect.any(Number) as unknown,
      },
    ]);
    expect(JSON.stringify(seen)).not.toContain(token.access_token);
    expect(await stranger.secrets.revokeOAuthToken({ ...target, owner: "agent" })).toEqual({ deleted: false });
    expect(await t.person.secrets.revokeOAuthToken(target)).toEqual({ deleted: false });
    expect(await t.person.secrets.revokeOAuthToken({ ...target, owner: "agent" })).toEqual({ deleted: true });
    expect(await t.agent.secrets.getOfflineOAuthToken({ oauth: t.client })).toBeNull();
    expect((await t.person.secrets.listSecrets()).secrets).toEqual([]);
    // The owner can revoke its own too.
    await approveViaCallback(t);
    expect(await t.agent.secrets.revokeOAuthToken(target)).toEqual({ deleted: true });
  });
});

describe("the endpoint allow-list", () => {
  it("allows exact and prefix entries for the client id, on request and offline fetch", async () => {
    await using t = await setup();
    const exact = await t.node.connect("exact", {
      api: ["secrets"],
      oauthAllowList: [{ endpoint: t.oidc.authorizationEndpoint, client_id: "app" }],
    });
    const prefix = await t.node.connect("prefix", {
      api: ["secrets"],
      oauthAllowList: [{ endpoint: `${t.oidc.issuer}/*`, client_id: "app" }],
    });
    const other = await t.node.connect("other", {
      api: ["secrets"],
      oauthAllowList: [{ endpoint: "https://elsewhere.example/authorize", client_id: "app" }],
    });
    const wrongClient = await t.node.connect("wrong-client", {
      api: ["secrets"],
      oauthAllowList: [{ endpoint: t.oidc.authorizationEndpoint, client_id: "other-app" }],
    });
    for (const allowed of [exact, prefix]) {
      await expect(allowed.secrets.getOfflineOAuthToken({ oauth: t.client })).resolves.toBeNull();
    }
    for (const refused of [other, wrongClient]) {
      await expect(refused.secrets.getOfflineOAuthToken({ oauth: t.client })).rejects.toMatchObject({ code: 1001 });
      await expect(
        refused.secrets.requestOAuthToken({ participant_id: t.person.participantId, oauth: t.client }),
      ).rejects.toMatchObject({ code: 1001 });
    }
  });
});

async function approveViaCallback(t: { agent: RoomClient; person: RoomClient; client: OAuthClient; oidc: Awaited<ReturnType<typeof startOidcProvider>> }) {
  const { call, request } = await askFor(t.agent, t.person, t.client);
  await fetch((await t.oidc.approve(request.authorization_url)).redirectedTo);
  return call;
}

