/**
 * Token exchange and refresh against a deliberately faulty authorization server: rotation, invalid_grant, 5xx, HTML
 * bodies, slow answers, clock skew, and a refresh race.
 */
import { describe, expect, it } from "vitest";
import type { RoomClient } from "../../src/client/index.js";
import type { OAuthClient } from "../../src/protocol/ops.js";
import { startFaultyOAuthServer, s256, type FaultyOAuthServerOptions } from "../helpers/faulty-oauth-server.js";
import { startTestNode } from "../helpers/start-test-node.js";

async function setup(options: FaultyOAuthServerOptions = {}) {
  const node = await startTestNode({ ROOMBUS_OAUTH_TIMEOUT_MS: "1000" });
  const faulty = await startFaultyOAuthServer({ clientSecret: "faulty-secret", ...options });
  const agent = await node.connect("agent", { api: ["secrets"] });
  const person = await node.connect("person", { api: ["secrets"] });
  const client: OAuthClient = {
    client_id: faulty.clientId,
    client_secret: "faulty-secret",
    authorization_endpoint: faulty.authorizationEndpoint,
    token_endpoint: faulty.tokenEndpoint,
    scopes: ["read"],
  };
  /** The person approves in "the browser": follow the authorization server's redirect to roombus's callback. */
  const authorize = async (extra: { refresh?: boolean } = {}) => {
    const asked = person.next("secrets.request_oauth_token");
    const call = agent.secrets.requestOAuthToken({ participant_id: person.participantId, oauth: client, ...extra });
    call.catch(() => undefined);
    const request = await asked;
    const redirect = await fetch(request.authorization_url, { redirect: "manual" });
    const page = await fetch(redirect.headers.get("location")!);
    return { call, page, request };
  };
  return {
    node,
    faulty,
    agent,
    person,
    client,
    authorize,
    offline: (who: RoomClient = agent) => who.secrets.getOfflineOAuthToken({ oauth: client }),
    async [Symbol.asyncDispose]() {
      await faulty[Symbol.asyncDispose]();
      await node[Symbol.asyncDispose]();
    },
  };
}

describe("the code exchange", () => {
  it("sends the PKCE verifier that matches the S256 challenge, with the client secret, to the token endpoint only", async () => {
    await using t = await setup();
    const { call } = await t.authorize();
    await call;
    const [authorizeRequest] = t.faulty.authorizeRequests;
    const [tokenRequest] = t.faulty.tokenRequests;
    expect(authorizeRequest!.codeChallengeMethod).toBe("S256");
    expect(tokenRequest).toMatchObject({ grantType: "authorization_code", pkceValid: true, clientSecret: "faulty-secret" });
    expect(s256(tokenRequest!.codeVerifier!)).toBe(authorizeRequest!.codeChallenge);
    expect(new URL(t.faulty.authorizeRequests[0]!.redirectUri!).pathname).toBe("/oauth/callback");
  });

  it("leaves PKCE out only when the client says no_pkce", async () => {
    await using t = await setup();
    const asked = t.person.next("secrets.request_oauth_token");
    void t.agent.secrets
      .requestOAuthToken({ participant_id: t.person.participantId, oauth: { ...t.client, no_pkce: true }, timeout_ms: 200 })
      .catch(() => undefined);
    const url = new URL((await asked).authorization_url);
    expect(url.searchParams.has("code_challenge")).toBe(false);
    expect(url.searchParams.has("code_challenge_method")).toBe(false);
  });

  it("answers 1008 to the requester and shows a failure page when the token endpoint fails", async () => {
    await using t = await setup();
    t.faulty.enqueue("500");
    const { call, page } = await t.authorize();
    expect(page.status).toBe(502);
    await expect(call).rejects.toMatchObject({ code: 1008 });
  });
});

describe("refresh", () => {
  it("replaces a rotated refresh token, and keeps the old one when none comes back", async () => {
    await using t = await setup({ expiresIn: 30 });
    await (await t.authorize()).call;
    const firstRefresh = t.faulty.issuedRefreshTokens[0]!;

    t.faulty.enqueue({ mode: "rotate", expiresIn: 30 });
    const rotated = await t.offline();
    expect(rotated?.access_token).toBe(t.faulty.issuedAccessTokens.at(-1));
    expect(t.faulty.tokenRequests.at(-1)!.refreshToken).toBe(firstRefresh);
    const secondRefresh = t.faulty.issuedRefreshTokens.at(-1)!;
    expect(secondRefresh).not.toBe(firstRefresh);

    t.faulty.enqueue({ mode: "no-rotate", expiresIn: 30 });
    await t.offline();
    expect(t.faulty.tokenRequests.at(-1)!.refreshToken).toBe(secondRefresh);
    t.faulty.enqueue({ mode: "no-rotate", expiresIn: 30 });
    await t.offline();
    // No new refresh token came back: the stored one is still the rotated one.
    expect(t.faulty.tokenRequests.at(-1)!.refreshToken).toBe(secondRefresh);
    expect(t.faulty.refreshCount()).toBe(3);
  });

  it("deletes the credential on invalid_grant, so the next request asks the person again", async () => {
    await using t = await setup({ expiresIn: 30 });
    await (await t.authorize()).call;
    t.faulty.enqueue("invalid_grant");
    expect(await t.offline()).toBeNull();
    expect((await t.agent.secrets.listSecrets()).secrets.filter((s) => s.kind === "oauth")).toEqual([]);
    const { call } = await t.authorize();
    expect((await call).access_token).toBe(t.faulty.issuedAccessTokens.at(-1));
  });

  it.each(["500", "html", "slow"] as const)("answers 1008 on a %s answer and keeps the credential", async (mode) => {
    await using t = await setup({ expiresIn: 30, slowMs: 3000 });
    const original = await (await t.authorize()).call;
    t.faulty.enqueue(mode);
    await expect(t.offline()).rejects.toMatchObject({ code: 1008 });
    t.faulty.enqueue({ mode: "ok", expiresIn: 3600 });
    const later = await t.offline();
    expect(later?.access_token).not.toBe(original.access_token);
    expect(t.faulty.tokenRequests.filter((r) => r.grantType === "refresh_token").at(-1)!.refreshToken).toBe(
      t.faulty.issuedRefreshTokens[0],
    );
  });

  it("counts expiry on this server's clock from expires_in, whatever the server's clock says (skew)", async () => {
    await using t = await setup();
    const before = Date.now();
    t.faulty.enqueue({ mode: "skewed", expiresIn: 5 });
    const token = await (await t.authorize()).call;
    expect(token.expires_at).toBeGreaterThanOrEqual(before + 5000);
    expect(token.expires_at).toBeLessThanOrEqual(Date.now() + 5000);
    // Within the 60 s margin already: the next offline fetch refreshes instead of handing out a dying token.
    t.faulty.enqueue({ mode: "ok", expiresIn: 3600 });
    const fresh = await t.offline();
    expect(fresh!.expires_at! - Date.now()).toBeGreaterThan(3500_000);
    expect(t.faulty.refreshCount()).toBe(1);
  });

  it("refuses a token answer with a negative lifetime as not valid OAuth (1008)", async () => {
    await using t = await setup();
    t.faulty.enqueue({ mode: "skewed", expiresIn: -30 });
    await expect((await t.authorize()).call).rejects.toMatchObject({ code: 1008 });
  });

  it("refreshes once when many callers need the same credential at the same time", async () => {
    await using t = await setup({ expiresIn: 30 });
    await (await t.authorize()).call;
    const second = await t.node.connect("agent", { api: ["secrets"] });
    t.faulty.enqueue({ mode: "slow", delayMs: 300, expiresIn: 3600 });
    const results = await Promise.all([t.offline(), t.offline(), t.offline(second), t.offline(second)]);
    expect(new Set(results.map((r) => r?.access_token)).size).toBe(1);
    expect(t.faulty.refreshCount()).toBe(1);
    expect(t.faulty.maxTokenRequestsInFlight).toBe(1);
  });
});
