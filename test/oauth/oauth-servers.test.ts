/**
 * Self-test of the two OAuth test servers (test/helpers/oauth-server.ts and faulty-oauth-server.ts) with a plain,
 * hand-made OAuth client: no roombus code is involved, so a failure here is a failure of the helpers.
 */
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { chromiumPath, launchBrowser } from "../helpers/browser.js";
import { s256, startFaultyOAuthServer } from "../helpers/faulty-oauth-server.js";
import { APPROVE_BUTTON_TEXT, startOidcProvider, type OidcTestClient } from "../helpers/oauth-server.js";

const REDIRECT = "http://127.0.0.1:1/oauth/callback";

interface TokenAnswer {
  status: number;
  contentType: string | null;
  body: Record<string, unknown>;
  text: string;
}

function pkcePair() {
  const verifier = randomBytes(32).toString("base64url");
  return { verifier, challenge: s256(verifier) };
}

function authorizationUrl(endpoint: string, params: Record<string, string | undefined>): URL {
  const url = new URL(endpoint);
  for (const [key, value] of Object.entries(params)) if (value !== undefined) url.searchParams.set(key, value);
  return url;
}

/** A standard code request with PKCE S256 and a fresh state; `overrides` replace (or, as undefined, drop) params. */
function codeRequest(endpoint: string, clientId: string, overrides: Record<string, string | undefined> = {}) {
  const { verifier, challenge } = pkcePair();
  const state = randomBytes(16).toString("base64url");
  const url = authorizationUrl(endpoint, {
    response_type: "code",
    client_id: clientId,
    redirect_uri: REDIRECT,
    scope: "repo read",
    state,
    code_challenge: challenge,
    code_challenge_method: "S256",
    ...overrides,
  });
  return { url, verifier, state };
}

async function postToken(
  endpoint: string,
  form: Record<string, string>,
  basic?: { id: string; secret: string },
): Promise<TokenAnswer> {
  const headers: Record<string, string> = { "content-type": "application/x-www-form-urlencoded" };
  if (basic !== undefined) {
    const enc = (s: string) => encodeURIComponent(s);
    headers.authorization = `Basic ${Buffer.from(`${enc(basic.id)}:${enc(basic.secret)}`).toString("base64")}`;
  }
  const response = await fetch(endpoint, { method: "POST", headers, body: new URLSearchParams(form) });
  const text = await response.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // not JSON: the caller looks at `text`
  }
  return { status: response.status, contentType: response.headers.get("content-type"), body, text };
}

const confidential: OidcTestClient = {
  client_id: "conf",
  client_secret: "conf-secret-0123456789",
  redirect_uris: [REDIRECT],
  token_endpoint_auth_method: "client_secret_post",
  grant_types: ["authorization_code", "refresh_token"],
};
const basicClient: OidcTestClient = {
  client_id: "basic",
  client_secret: "basic-secret-0123456789",
  redirect_uris: [REDIRECT],
  token_endpoint_auth_method: "client_secret_basic",
  grant_types: ["authorization_code", "refresh_token"],
};
const publicClient: OidcTestClient = {
  client_id: "public",
  redirect_uris: [REDIRECT],
  token_endpoint_auth_method: "none",
  grant_types: ["authorization_code", "refresh_token"],
};

describe("oidc-provider test server", () => {
  it("serves discovery for 127.0.0.1 with S256 only and the RFC 9207 iss parameter", async () => {
    await using op = await startOidcProvider({ clients: [confidential] });
    expect(op.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(op.discovery.issuer).toBe(op.issuer);
    expect(op.authorizationEndpoint).toBe(`${op.issuer}/auth`);
    expect(op.tokenEndpoint).toBe(`${op.issuer}/token`);
    expect(op.discovery.code_challenge_methods_supported).toEqual(["S256"]);
    expect(op.discovery.authorization_response_iss_parameter_supported).toBe(true);
  });

  it("runs the code flow with PKCE, issues a refresh token, and refreshes without rotation", async () => {
    await using op = await startOidcProvider({ clients: [confidential], accessTokenTtlSeconds: 2 });
    const { url, verifier, state } = codeRequest(op.authorizationEndpoint, "conf");
    const { redirectedTo } = await op.approve(url);
    expect(redirectedTo.origin + redirectedTo.pathname).toBe(REDIRECT);
    expect(redirectedTo.searchParams.get("state")).toBe(state);
    expect(redirectedTo.searchParams.get("iss")).toBe(op.issuer);
    const code = redirectedTo.searchParams.get("code");
    expect(code).toBeTruthy();

    const exchange = await postToken(op.tokenEndpoint, {
      grant_type: "authorization_code",
      code: code!,
      redirect_uri: REDIRECT,
      code_verifier: verifier,
      client_id: "conf",
      client_secret: confidential.client_secret!,
    });
    expect(exchange.status).toBe(200);
    expect(exchange.body).toMatchObject({ token_type: "Bearer", expires_in: 2, scope: "repo read" });
    expect(exchange.body.id_token).toBeUndefined();
    const accessToken = exchange.body.access_token as string;
    const refreshToken = exchange.body.refresh_token as string;
    expect(typeof accessToken).toBe("string");
    expect(typeof refreshToken).toBe("string");
    expect(await op.accessTokenInfo(accessToken)).toEqual({ accountId: "user-1", clientId: "conf", scope: "repo read" });

    // No rotation: the same refresh token comes back and keeps working.
    for (let i = 0; i < 2; i++) {
      const refreshed = await postToken(op.tokenEndpoint, {
        grant_type: "refresh_token",
        refresh_token: refreshToken,
        client_id: "conf",
        client_secret: confidential.client_secret!,
      });
      expect(refreshed.status).toBe(200);
      expect(refreshed.body).toMatchObject({ token_type: "Bearer", expires_in: 2, scope: "repo read" });
      expect(refreshed.body.refresh_token).toBe(refreshToken);
      expect(refreshed.body.access_token).not.toBe(accessToken);
      expect(await op.isAccessTokenActive(refreshed.body.access_token as string)).toBe(true);
    }
    // The code is single use; oidc-provider revokes the whole grant when a used code comes back.
    const replay = await postToken(op.tokenEndpoint, {
      grant_type: "authorization_code",
      code: code!,
      redirect_uri: REDIRECT,
      code_verifier: verifier,
      client_id: "conf",
      client_secret: confidential.client_secret!,
    });
    expect(replay.status).toBe(400);
    expect(replay.body.error).toBe("invalid_grant");

    const afterReplay = await postToken(op.tokenEndpoint, {
      grant_type: "refresh_token",
      refresh_token: refreshToken,
      client_id: "conf",
      client_secret: confidential.client_secret!,
    });
    expect(afterReplay.body.error).toBe("invalid_grant");
    expect(op.countTokenRequests("authorization_code")).toBe(2);
    expect(op.countTokenRequests("refresh_token")).toBe(3);
    expect(op.tokenRequests.map((r) => [r.grantType, r.status, r.error])).toEqual([
      ["authorization_code", 200, undefined],
      ["refresh_token", 200, undefined],
      ["refresh_token", 200, undefined],
      ["authorization_code", 400, "invalid_grant"],
      ["refresh_token", 400, "invalid_grant"],
    ]);
    expect(op.tokenRequests[1]!.refreshToken).toBe(refreshToken);
  });

  it("rotates refresh tokens when configured; a rotated one is refused and revokes the grant", async () => {
    await using op = await startOidcProvider({ clients: [publicClient], rotateRefreshToken: true });
    const { url, verifier } = codeRequest(op.authorizationEndpoint, "public");
    const code = (await op.approve(url, { accountId: "alice" })).redirectedTo.searchParams.get("code")!;
    const exchange = await postToken(op.tokenEndpoint, {
      grant_type: "authorization_code",
      code,
      redirect_uri: REDIRECT,
      code_verifier: verifier,
      client_id: "public",
    });
    expect(exchange.status).toBe(200);
    const first = exchange.body.refresh_token as string;
    expect((await op.accessTokenInfo(exchange.body.access_token as string))?.accountId).toBe("alice");

    const refreshWith = (refreshToken: string) =>
      postToken(op.tokenEndpoint, { grant_type: "refresh_token", refresh_token: refreshToken, client_id: "public" });
    const rotated = await refreshWith(first);
    expect(rotated.status).toBe(200);
    const second = rotated.body.refresh_token as string;
    expect(second).toBeTruthy();
    expect(second).not.toBe(first);

    const reused = await refreshWith(first);
    expect(reused.status).toBe(400);
    expect(reused.body.error).toBe("invalid_grant");
    // oidc-provider treats reuse of a rotated token as theft: the whole grant is revoked, the new token included.
    const afterReuse = await refreshWith(second);
    expect(afterReuse.status).toBe(400);
    expect(afterReuse.body.error).toBe("invalid_grant");
    expect(await op.isAccessTokenActive(rotated.body.access_token as string)).toBe(false);
  });

  it("authenticates client_secret_basic clients and refuses a wrong secret", async () => {
    await using op = await startOidcProvider({ clients: [basicClient] });
    const { url, verifier } = codeRequest(op.authorizationEndpoint, "basic");
    const code = (await op.approve(url)).redirectedTo.searchParams.get("code")!;
    const form = { grant_type: "authorization_code", code, redirect_uri: REDIRECT, code_verifier: verifier };
    const wrong = await postToken(op.tokenEndpoint, form, { id: "basic", secret: "nope" });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error).toBe("invalid_client");
    const right = await postToken(op.tokenEndpoint, form, { id: "basic", secret: basicClient.client_secret! });
    expect(right.status).toBe(200);
    expect(right.body.refresh_token).toBeTruthy();
  });

  it("issues an id_token when openid is asked for; the access token keeps the resource scopes", async () => {
    await using op = await startOidcProvider({ clients: [confidential] });
    const { url, verifier } = codeRequest(op.authorizationEndpoint, "conf", { scope: "openid profile repo write" });
    const code = (await op.approve(url)).redirectedTo.searchParams.get("code")!;
    const exchange = await postToken(op.tokenEndpoint, {
      grant_type: "authorization_code",
      code,
      redirect_uri: REDIRECT,
      code_verifier: verifier,
      client_id: "conf",
      client_secret: confidential.client_secret!,
    });
    expect(exchange.status).toBe(200);
    expect(typeof exchange.body.id_token).toBe("string");
    expect(exchange.body.scope).toBe("repo write");
    const claims = JSON.parse(Buffer.from((exchange.body.id_token as string).split(".")[1]!, "base64url").toString()) as Record<
      string,
      unknown
    >;
    expect(claims).toMatchObject({ iss: op.issuer, aud: "conf", sub: "user-1" });
  });

  it("gives an OpenID-only request a userinfo token with the OpenID scopes", async () => {
    await using op = await startOidcProvider({ clients: [publicClient] });
    const { url, verifier } = codeRequest(op.authorizationEndpoint, "public", { scope: "openid email" });
    const code = (await op.approve(url)).redirectedTo.searchParams.get("code")!;
    const exchange = await postToken(op.tokenEndpoint, {
      grant_type: "authorization_code",
      code,
      redirect_uri: REDIRECT,
      code_verifier: verifier,
      client_id: "public",
    });
    expect(exchange.body).toMatchObject({ scope: "openid email", token_type: "Bearer" });
    expect(typeof exchange.body.id_token).toBe("string");
    expect(typeof exchange.body.refresh_token).toBe("string");
  });

  it("refuses a wrong verifier and a token request whose redirect_uri differs", async () => {
    await using op = await startOidcProvider({ clients: [publicClient] });
    const first = codeRequest(op.authorizationEndpoint, "public");
    const code1 = (await op.approve(first.url)).redirectedTo.searchParams.get("code")!;
    const badVerifier = await postToken(op.tokenEndpoint, {
      grant_type: "authorization_code",
      code: code1,
      redirect_uri: REDIRECT,
      code_verifier: pkcePair().verifier,
      client_id: "public",
    });
    expect(badVerifier.status).toBe(400);
    expect(badVerifier.body.error).toBe("invalid_grant");

    const second = codeRequest(op.authorizationEndpoint, "public");
    const code2 = (await op.approve(second.url)).redirectedTo.searchParams.get("code")!;
    const badRedirect = await postToken(op.tokenEndpoint, {
      grant_type: "authorization_code",
      code: code2,
      redirect_uri: `${REDIRECT}/other`,
      code_verifier: second.verifier,
      client_id: "public",
    });
    expect(badRedirect.status).toBe(400);
    expect(badRedirect.body.error).toBe("invalid_grant");
  });

  it("refuses a redirect_uri that is not registered exactly, without redirecting", async () => {
    await using op = await startOidcProvider({ clients: [confidential] });
    const near = [`${REDIRECT}/`, `${REDIRECT}?x=1`, "http://127.0.0.1:2/oauth/callback", "http://localhost:1/oauth/callback"];
    for (const redirect of near) {
      const { url } = codeRequest(op.authorizationEndpoint, "conf", { redirect_uri: redirect });
      const response = await fetch(url, { redirect: "manual" });
      expect(response.status, redirect).toBe(400);
      expect(response.headers.get("location")).toBeNull();
      expect(await response.text()).toContain("redirect_uri did not match");
      await expect(op.approve(url)).rejects.toThrow(/answered 400/);
    }
    // Omitting redirect_uri is refused too (allowOmittingSingleRegisteredRedirectUri is off).
    const { url } = codeRequest(op.authorizationEndpoint, "conf", { redirect_uri: undefined });
    expect((await fetch(url, { redirect: "manual" })).status).toBe(400);
  });

  it("requires PKCE with S256: a missing challenge or the plain method is answered with invalid_request", async () => {
    await using op = await startOidcProvider({ clients: [confidential, publicClient] });
    for (const clientId of ["conf", "public"]) {
      const missing = codeRequest(op.authorizationEndpoint, clientId, {
        code_challenge: undefined,
        code_challenge_method: undefined,
      });
      const noPkce = (await op.approve(missing.url)).redirectedTo;
      expect(noPkce.searchParams.get("error")).toBe("invalid_request");
      expect(noPkce.searchParams.get("state")).toBe(missing.state);
      expect(noPkce.searchParams.get("code")).toBeNull();

      const verifier = pkcePair().verifier;
      const plain = codeRequest(op.authorizationEndpoint, clientId, {
        code_challenge: verifier,
        code_challenge_method: "plain",
      });
      const plainAnswer = (await op.approve(plain.url)).redirectedTo;
      expect(plainAnswer.searchParams.get("error")).toBe("invalid_request");
      expect(plainAnswer.searchParams.get("error_description")).toMatch(/code_challenge_method/);

      const noMethod = codeRequest(op.authorizationEndpoint, clientId, { code_challenge_method: undefined });
      expect((await op.approve(noMethod.url)).redirectedTo.searchParams.get("error")).toBe("invalid_request");
    }
  });

  it("answers access_denied with the state when the approval is refused", async () => {
    await using op = await startOidcProvider({ clients: [confidential] });
    const { url, state } = codeRequest(op.authorizationEndpoint, "conf");
    const { redirectedTo } = await op.approve(url, { deny: true, errorDescription: "no thanks" });
    expect(redirectedTo.origin + redirectedTo.pathname).toBe(REDIRECT);
    expect(redirectedTo.searchParams.get("error")).toBe("access_denied");
    expect(redirectedTo.searchParams.get("error_description")).toBe("no thanks");
    expect(redirectedTo.searchParams.get("state")).toBe(state);
    expect(redirectedTo.searchParams.get("iss")).toBe(op.issuer);
  });

  it("can hold token calls to widen a race window, and counts them in flight", async () => {
    await using op = await startOidcProvider({ clients: [publicClient] });
    const { url, verifier } = codeRequest(op.authorizationEndpoint, "public");
    const code = (await op.approve(url)).redirectedTo.searchParams.get("code")!;
    const exchange = await postToken(op.tokenEndpoint, {
      grant_type: "authorization_code",
      code,
      redirect_uri: REDIRECT,
      code_verifier: verifier,
      client_id: "public",
    });
    const refreshToken = exchange.body.refresh_token as string;
    op.tokenDelayMs = 200;
    const form = { grant_type: "refresh_token", refresh_token: refreshToken, client_id: "public" };
    const answers = await Promise.all([postToken(op.tokenEndpoint, form), postToken(op.tokenEndpoint, form)]);
    expect(answers.map((a) => a.status)).toEqual([200, 200]);
    expect(op.maxTokenRequestsInFlight).toBe(2);
    expect(op.tokenRequestsInFlight).toBe(0);
    expect(op.countTokenRequests("refresh_token")).toBe(2);
  });

  describe.skipIf(chromiumPath === undefined)("in headless Chromium", () => {
    async function callbackServer() {
      const hits: URL[] = [];
      const server = createServer((req, res) => {
        const url = new URL(req.url ?? "/", "http://127.0.0.1");
        if (url.pathname === "/oauth/callback") hits.push(url); // not /favicon.ico
        res.writeHead(200, { "content-type": "text/html" }).end("<p id=done>callback reached</p>");
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      const redirect = `http://127.0.0.1:${(server.address() as AddressInfo).port}/oauth/callback`;
      return {
        hits,
        redirect,
        async [Symbol.asyncDispose]() {
          server.closeAllConnections();
          await new Promise<void>((resolve) => server.close(() => resolve()));
        },
      };
    }

    it("shows an Approve button that brings the browser back to the redirect URI with a code", async () => {
      await using callback = await callbackServer();
      await using op = await startOidcProvider({
        clients: [{ ...publicClient, redirect_uris: [callback.redirect] }],
        browserAccountId: "browser-user",
      });
      await using browser = await launchBrowser();
      const page = await browser.newPage();
      const { url, verifier, state } = codeRequest(op.authorizationEndpoint, "public", { redirect_uri: callback.redirect });
      for (let round = 0; round < 2; round++) {
        // The second round has a session cookie: the server still asks (alwaysPrompt).
        await page.goto(url.href);
        await page.getByRole("button", { name: APPROVE_BUTTON_TEXT }).click();
        await page.waitForURL((u) => u.href.startsWith(callback.redirect));
        await page.locator("#done").waitFor();
      }
      expect(callback.hits).toHaveLength(2);
      const hit = callback.hits[0]!;
      expect(hit.searchParams.get("state")).toBe(state);
      const exchange = await postToken(op.tokenEndpoint, {
        grant_type: "authorization_code",
        code: hit.searchParams.get("code")!,
        redirect_uri: callback.redirect,
        code_verifier: verifier,
        client_id: "public",
      });
      expect(exchange.status).toBe(200);
      expect((await op.accessTokenInfo(exchange.body.access_token as string))?.accountId).toBe("browser-user");
    });

    it("approves by itself in browserMode auto", async () => {
      await using callback = await callbackServer();
      await using op = await startOidcProvider({
        clients: [{ ...publicClient, redirect_uris: [callback.redirect] }],
        browserMode: "auto",
      });
      await using browser = await launchBrowser();
      const page = await browser.newPage();
      const { url } = codeRequest(op.authorizationEndpoint, "public", { redirect_uri: callback.redirect });
      await page.goto(url.href);
      await page.locator("#done").waitFor();
      expect(callback.hits[0]?.searchParams.get("code")).toBeTruthy();
    });
  });
});

describe("faulty OAuth server", () => {
  async function authorize(
    server: { authorizationEndpoint: string; clientId: string },
    overrides: Record<string, string | undefined> = {},
  ) {
    const request = codeRequest(server.authorizationEndpoint, server.clientId, overrides);
    const response = await fetch(request.url, { redirect: "manual" });
    expect(response.status).toBe(302);
    return { ...request, redirectedTo: new URL(response.headers.get("location")!) };
  }

  async function exchange(
    server: { authorizationEndpoint: string; tokenEndpoint: string; clientId: string },
    secret?: string,
  ): Promise<TokenAnswer> {
    const { redirectedTo, verifier } = await authorize(server);
    const form: Record<string, string> = {
      grant_type: "authorization_code",
      code: redirectedTo.searchParams.get("code")!,
      redirect_uri: REDIRECT,
      code_verifier: verifier,
      client_id: server.clientId,
    };
    if (secret !== undefined) form.client_secret = secret;
    return postToken(server.tokenEndpoint, form);
  }

  const refresh = (server: { tokenEndpoint: string; clientId: string }, refreshToken: string) =>
    postToken(server.tokenEndpoint, { grant_type: "refresh_token", refresh_token: refreshToken, client_id: server.clientId });

  it("authorizes with PKCE S256 only and records what it saw", async () => {
    await using faulty = await startFaultyOAuthServer();
    const ok = await authorize(faulty);
    expect(ok.redirectedTo.searchParams.get("state")).toBe(ok.state);
    expect(ok.redirectedTo.searchParams.get("code")).toBeTruthy();
    expect(faulty.authorizeRequests[0]).toMatchObject({
      clientId: "faulty-client",
      redirectUri: REDIRECT,
      state: ok.state,
      codeChallengeMethod: "S256",
      codeChallenge: s256(ok.verifier),
    });

    const plain = await authorize(faulty, { code_challenge_method: "plain" });
    expect(plain.redirectedTo.searchParams.get("error")).toBe("invalid_request");
    expect(plain.redirectedTo.searchParams.get("state")).toBe(plain.state);
    const missing = await authorize(faulty, { code_challenge: undefined, code_challenge_method: undefined });
    expect(missing.redirectedTo.searchParams.get("error")).toBe("invalid_request");

    faulty.authorizeError = "access_denied";
    const denied = await authorize(faulty);
    expect(denied.redirectedTo.searchParams.get("error")).toBe("access_denied");
    expect(denied.redirectedTo.searchParams.get("code")).toBeNull();
    expect(denied.redirectedTo.searchParams.get("state")).toBe(denied.state);
  });

  it("ok: exchanges the code (checking the verifier), echoes the refresh token on refresh", async () => {
    await using faulty = await startFaultyOAuthServer({ clientSecret: "s3cret", expiresIn: 120 });
    const answer = await exchange(faulty, "s3cret");
    expect(answer.status).toBe(200);
    expect(answer.contentType).toBe("application/json");
    expect(answer.body).toMatchObject({ token_type: "Bearer", expires_in: 120, scope: "repo read" });
    const record = faulty.tokenRequests[0]!;
    expect(record).toMatchObject({
      grantType: "authorization_code",
      clientAuth: "client_secret_post",
      clientSecret: "s3cret",
      mode: "ok",
      pkceValid: true,
      status: 200,
    });
    expect(s256(record.codeVerifier!)).toBe(faulty.authorizeRequests[0]!.codeChallenge);

    const rt = answer.body.refresh_token as string;
    const refreshed = await postToken(
      faulty.tokenEndpoint,
      { grant_type: "refresh_token", refresh_token: rt },
      { id: "faulty-client", secret: "s3cret" },
    );
    expect(refreshed.status).toBe(200);
    expect(refreshed.body.refresh_token).toBe(rt);
    expect(faulty.tokenRequests[1]).toMatchObject({
      clientAuth: "client_secret_basic",
      clientId: "faulty-client",
      refreshToken: rt,
    });
    expect(faulty.refreshCount()).toBe(1);

    // A wrong secret, a wrong verifier and a replayed code are refused.
    expect((await exchange(faulty, "wrong")).status).toBe(401);
    const { redirectedTo } = await authorize(faulty);
    const code = redirectedTo.searchParams.get("code")!;
    const form = {
      grant_type: "authorization_code",
      code,
      redirect_uri: REDIRECT,
      client_id: "faulty-client",
      client_secret: "s3cret",
    };
    const badVerifier = await postToken(faulty.tokenEndpoint, { ...form, code_verifier: pkcePair().verifier });
    expect(badVerifier.body.error).toBe("invalid_grant");
    expect(faulty.tokenRequests.at(-1)!.pkceValid).toBe(false);
    const replay = await postToken(faulty.tokenEndpoint, { ...form, code_verifier: pkcePair().verifier });
    expect(replay.body.error).toBe("invalid_grant");
  });

  it("rotate: a new refresh token every refresh, the old one then gives invalid_grant", async () => {
    await using faulty = await startFaultyOAuthServer({ mode: "rotate" });
    const first = (await exchange(faulty)).body.refresh_token as string;
    const answer = await refresh(faulty, first);
    expect(answer.status).toBe(200);
    const second = answer.body.refresh_token as string;
    expect(second).toBeTruthy();
    expect(second).not.toBe(first);
    expect(faulty.isRefreshTokenValid(first)).toBe(false);
    expect(faulty.isRefreshTokenValid(second)).toBe(true);
    const reused = await refresh(faulty, first);
    expect(reused.status).toBe(400);
    expect(reused.body.error).toBe("invalid_grant");
    expect(faulty.issuedRefreshTokens).toEqual([first, second]);
  });

  it("no-rotate: refresh answers carry no refresh_token and the old one keeps working", async () => {
    await using faulty = await startFaultyOAuthServer({ mode: "no-rotate" });
    const rt = (await exchange(faulty)).body.refresh_token as string;
    expect(rt).toBeTruthy();
    for (let i = 0; i < 2; i++) {
      const answer = await refresh(faulty, rt);
      expect(answer.status).toBe(200);
      expect(answer.body.access_token).toBeTruthy();
      expect("refresh_token" in answer.body).toBe(false);
    }
    expect(faulty.refreshCount()).toBe(2);
  });

  it("invalid_grant, 500, html and skewed answer as asked, one queued behaviour per call", async () => {
    await using faulty = await startFaultyOAuthServer({ skewedExpiresIn: -45 });
    const rt = (await exchange(faulty)).body.refresh_token as string;
    faulty.enqueue("500", "html", { mode: "skewed" }, { mode: "skewed", expiresIn: 1 }, "invalid_grant");

    const failed = await refresh(faulty, rt);
    expect(failed.status).toBe(500);
    expect(failed.contentType).toBe("text/plain");

    const html = await refresh(faulty, rt);
    expect(html.status).toBe(200);
    expect(html.contentType).toMatch(/^text\/html/);
    expect(html.text).toContain("<html>");

    const skewed = await refresh(faulty, rt);
    expect(skewed.status).toBe(200);
    expect(skewed.body.expires_in).toBe(-45);
    expect((await refresh(faulty, rt)).body.expires_in).toBe(1);

    const invalid = await refresh(faulty, rt);
    expect(invalid.status).toBe(400);
    expect(invalid.body).toEqual({ error: "invalid_grant" });
    // invalid_grant revokes the token: from now on even "ok" refuses it.
    expect((await refresh(faulty, rt)).body.error).toBe("invalid_grant");
    expect(faulty.tokenRequests.map((r) => [r.mode, r.status])).toEqual([
      ["ok", 200],
      ["500", 500],
      ["html", 200],
      ["skewed", 200],
      ["skewed", 200],
      ["invalid_grant", 400],
      ["ok", 400],
    ]);
    expect(faulty.refreshCount()).toBe(6);
  });

  it("slow: answers after the delay, counts calls in flight", async () => {
    await using faulty = await startFaultyOAuthServer();
    const rt = (await exchange(faulty)).body.refresh_token as string;
    faulty.enqueue({ mode: "slow", delayMs: 150 }, { mode: "slow", delayMs: 150 });
    const started = Date.now();
    const answers = await Promise.all([refresh(faulty, rt), refresh(faulty, rt)]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(answers.map((a) => a.status)).toEqual([200, 200]);
    expect(faulty.maxTokenRequestsInFlight).toBe(2);
    expect(faulty.tokenRequestsInFlight).toBe(0);
  });

  it("slow: dispose ends a pending answer at once", async () => {
    const faulty = await startFaultyOAuthServer({ mode: "slow", slowMs: 60_000 });
    const { redirectedTo, verifier } = await authorize(faulty);
    const pending = postToken(faulty.tokenEndpoint, {
      grant_type: "authorization_code",
      code: redirectedTo.searchParams.get("code")!,
      redirect_uri: REDIRECT,
      code_verifier: verifier,
      client_id: faulty.clientId,
    });
    const settled = pending.then(
      () => "answered",
      () => "failed",
    );
    // Wait until the call has arrived, without sleeping: the record is written on arrival.
    await expect.poll(() => faulty.tokenRequests.length, { interval: 5 }).toBe(1);
    const started = Date.now();
    await faulty[Symbol.asyncDispose]();
    expect(await settled).toBe("failed");
    expect(Date.now() - started).toBeLessThan(2000);
    expect(faulty.tokenRequests[0]!.status).toBeUndefined();
  });
});
