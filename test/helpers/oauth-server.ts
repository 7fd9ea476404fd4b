/**
 * A real OAuth 2.0 / OpenID Connect authorization server for tests: oidc-provider 9 on http://127.0.0.1:<port 0>,
 * with in-memory storage, signing keys made at start, PKCE S256 required for every client, exact redirect URI
 * matching, refresh tokens for the code grant (rotated or not, as configured) and short access token lifetimes
 * on demand.
 *
 * Nobody has to sit at a browser: `approve()` walks the authorization flow over plain HTTP (fetch with manual
 * redirects and a cookie jar) and hands back the final redirect to the client's redirect_uri without following it.
 * The same interaction routes serve a real browser: the interaction page shows "Approve" and "Deny" buttons (or
 * finishes by itself with `browserMode: "auto"`).
 *
 * Scopes: "openid", "profile", "email" and "offline_access" are OpenID scopes; every other scope the test names
 * (default "repo read write") belongs to one resource server, `resource` (`${issuer}/api`), which every request
 * falls back to. oidc-provider only keeps non-OpenID scopes when a resource indicator is in play, so this is what
 * makes a token with scope "repo" possible; access tokens are opaque and carry the resource-server scopes only.
 */
import { generateKeyPair, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { promisify } from "node:util";

export interface OidcTestClient {
  client_id: string;
  client_secret?: string;
  /** Registered exactly; oidc-provider compares redirect URIs as strings for web clients. */
  redirect_uris: string[];
  token_endpoint_auth_method: "client_secret_post" | "client_secret_basic" | "none";
  /** Default ["authorization_code", "refresh_token"]. */
  grant_types?: ("authorization_code" | "refresh_token")[];
  /** Space-separated allow-list of OpenID scopes this client may ask for (oidc-provider's client `scope`). */
  scope?: string;
}

export interface OidcProviderOptions {
  clients: OidcTestClient[];
  /** Lifetime of access tokens, default 3600 s. */
  accessTokenTtlSeconds?: number;
  /** Lifetime of refresh tokens, default 14 days. */
  refreshTokenTtlSeconds?: number;
  /** Lifetime of authorization codes, default 60 s. */
  authorizationCodeTtlSeconds?: number;
  /** Every refresh answers with a new refresh token and consumes the old one (default false: the same one comes back). */
  rotateRefreshToken?: boolean;
  /** Issue a refresh token for the code grant (default true, without needing offline_access or a consent prompt). */
  issueRefreshToken?: boolean;
  /** The resource server's scopes (default ["repo", "read", "write"]). */
  resourceScopes?: string[];
  /** Ask for login and consent on every authorization request, even with a live session cookie (default true). */
  alwaysPrompt?: boolean;
  /** What a browser reaching the interaction page sees: buttons to click (default), or an immediate approval. */
  browserMode?: "button" | "auto";
  /** The account a browser approval logs in as (default "user-1"; changeable later on the server object). */
  browserAccountId?: string;
}

export interface ApproveOptions {
  /** Default "user-1". */
  accountId?: string;
  /** Refuse instead: the client gets error=access_denied. */
  deny?: boolean;
  errorDescription?: string;
}

export interface TokenRequestRecord {
  grantType: string | undefined;
  clientId: string | undefined;
  /** HTTP status of the answer. */
  status: number;
  /** The `error` of an error answer. */
  error: string | undefined;
  /** The refresh token presented (refresh grant only). */
  refreshToken: string | undefined;
  at: number;
}

export interface OidcTestServer {
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  issuer: string;
  /** The resource indicator every token is issued for. */
  resource: string;
  authorizationEndpoint: string;
  tokenEndpoint: string;
  /** The whole discovery document, as served. */
  discovery: Record<string, unknown>;
  /** Drives the authorization URL through login and consent; returns the redirect to the client, not followed. */
  approve(authorizationUrl: string | URL, options?: ApproveOptions): Promise<{ redirectedTo: URL }>;
  /** Every call of the token endpoint, in arrival order (the entry is written when the answer is made). */
  tokenRequests: TokenRequestRecord[];
  /** How many token endpoint calls had this grant_type. */
  countTokenRequests(grantType: "authorization_code" | "refresh_token"): number;
  /** Holds every token endpoint call this long before it is handled (0: none), to widen race windows. */
  tokenDelayMs: number;
  /** Token endpoint calls being handled right now, and the most seen at once. */
  readonly tokenRequestsInFlight: number;
  readonly maxTokenRequestsInFlight: number;
  /** The account that the next browser approvals log in as. */
  browserAccountId: string;
  /** Whether the provider still knows this access token and it has not expired. */
  isAccessTokenActive(accessToken: string): Promise<boolean>;
  /** The scopes the provider holds for this access token, or undefined when it is unknown or expired. */
  accessTokenInfo(accessToken: string): Promise<{ accountId: string; clientId: string; scope: string } | undefined>;
}

export const APPROVE_BUTTON_TEXT = "Approve";
export const DENY_BUTTON_TEXT = "Deny";

// ---------------------------------------------------------------------------------------------------------------
// The slice of oidc-provider's (untyped) API this helper uses.

interface OidcInteraction {
  uid: string;
  prompt: { name: string; reasons: string[]; details: Record<string, unknown> };
  params: Record<string, unknown>;
  returnTo: string;
}

interface OidcGrant {
  addOIDCScope(scope: string): void;
  addResourceScope(resource: string, scope: string): void;
  save(): Promise<string>;
}

interface OidcAccessToken {
  isExpired: boolean;
  accountId: string;
  clientId: string;
  scope?: string;
}

interface KoaContext {
  method: string;
  path: string;
  status: number;
  body: unknown;
  oidc?: { params?: Record<string, unknown>; client?: { clientId: string } };
}

interface OidcProviderInstance {
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
  use(middleware: (ctx: KoaContext, next: () => Promise<void>) => Promise<void>): void;
  on(event: string, listener: (...args: unknown[]) => void): void;
  interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<OidcInteraction>;
  interactionFinished(
    req: IncomingMessage,
    res: ServerResponse,
    result: Record<string, unknown>,
    options: { mergeWithLastSubmission: boolean },
  ): Promise<void>;
  Grant: new (init: { accountId: string; clientId: string }) => OidcGrant;
  AccessToken: { find(value: string): Promise<OidcAccessToken | undefined> };
}

interface OidcCheck {
  reason: string;
}

interface OidcPolicy extends Array<{ name: string; checks: OidcCheck[] }> {
  get(name: string): { name: string; checks: OidcCheck[] } | undefined;
}

interface OidcModule {
  default: new (issuer: string, configuration: Record<string, unknown>) => OidcProviderInstance;
  interactionPolicy: {
    base(): OidcPolicy;
    Check: new (
      reason: string,
      description: string,
      check: (ctx: { oidc: { result?: { login?: unknown } } }) => boolean,
    ) => OidcCheck;
  };
}

interface MemoryAdapterModule {
  createMemoryAdapter: (clockTolerance?: number) => unknown;
}

let modules: Promise<[OidcModule, MemoryAdapterModule]> | undefined;

/**
 * oidc-provider warns at import time when the Node release is older than it would like (v22); on Node 20 it works,
 * so that one line is dropped. Variable specifiers keep TypeScript from looking for type declarations (none exist).
 */
function loadOidcProvider(): Promise<[OidcModule, MemoryAdapterModule]> {
  modules ??= (async () => {
    const warn = console.warn;
    console.warn = (...args: unknown[]) => {
      if (typeof args[0] === "string" && args[0].includes("oidc-provider WARNING: Unsupported runtime")) return;
      warn(...args);
    };
    try {
      const providerSpecifier: string = "oidc-provider";
      const adapterSpecifier: string = "oidc-provider/lib/adapters/memory_adapter.js";
      const oidc = (await import(providerSpecifier)) as OidcModule;
      const adapter = (await import(adapterSpecifier)) as MemoryAdapterModule;
      return [oidc, adapter];
    } finally {
      console.warn = warn;
    }
  })();
  return modules;
}

let signingKeyPromise: Promise<Record<string, unknown>> | undefined;

/** One RS256 key per test process (id_tokens are signed with it); made once, since RSA key generation is slow. */
function signingKeyOnce(): Promise<Record<string, unknown>> {
  signingKeyPromise ??= promisify(generateKeyPair)("rsa", { modulusLength: 2048 }).then(({ privateKey }) => ({
    ...privateKey.export({ format: "jwk" }),
    alg: "RS256",
    use: "sig",
  }));
  return signingKeyPromise;
}

const OIDC_SCOPES = ["openid", "offline_access", "profile", "email"];

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
}

export async function startOidcProvider(options: OidcProviderOptions): Promise<OidcTestServer & AsyncDisposable> {
  const [oidc, { createMemoryAdapter }] = await loadOidcProvider();
  const Provider = oidc.default;
  const accessTokenTtl = options.accessTokenTtlSeconds ?? 3600;
  const resourceScopes = options.resourceScopes ?? ["repo", "read", "write"];
  const browserMode = options.browserMode ?? "button";

  // The provider needs the issuer, which needs the port: the HTTP server listens first and finds the provider here.
  const live: {
    provider?: OidcProviderInstance;
    handle?: (req: IncomingMessage, res: ServerResponse) => void;
  } = {};

  const state = {
    tokenDelayMs: 0,
    inFlight: 0,
    maxInFlight: 0,
    browserAccountId: options.browserAccountId ?? "user-1",
  };
  const tokenRequests: TokenRequestRecord[] = [];

  // ----- interaction routes (login + consent in one step) -----

  /** Ends the interaction: login and consent at once (a grant of every requested scope), or access_denied. */
  async function finish(
    req: IncomingMessage,
    res: ServerResponse,
    decision: { accountId: string } | (ApproveOptions & { deny: true }),
  ) {
    const p = live.provider!;
    const details = await p.interactionDetails(req, res);
    if ("deny" in decision) {
      await p.interactionFinished(
        req,
        res,
        { error: "access_denied", error_description: decision.errorDescription ?? "the end-user refused" },
        { mergeWithLastSubmission: false },
      );
      return;
    }
    const { accountId } = decision;
    const clientId = String(details.params.client_id);
    const grant = new p.Grant({ accountId, clientId });
    const scope = typeof details.params.scope === "string" ? details.params.scope : "";
    const requested = scope.split(" ").filter((s) => s !== "");
    const oidcScopes = requested.filter((s) => OIDC_SCOPES.includes(s));
    if (oidcScopes.length > 0) grant.addOIDCScope(oidcScopes.join(" "));
    const rsScopes = requested.filter((s) => resourceScopes.includes(s));
    if (rsScopes.length > 0) grant.addResourceScope(resource, rsScopes.join(" "));
    const grantId = await grant.save();
    await p.interactionFinished(
      req,
      res,
      { login: { accountId }, consent: { grantId } },
      { mergeWithLastSubmission: false },
    );
  }

  function interactionPage(uid: string, details: OidcInteraction): string {
    const action = `/interaction/${encodeURIComponent(uid)}`;
    const client = escapeHtml(String(details.params.client_id));
    const scope = escapeHtml(typeof details.params.scope === "string" ? details.params.scope : "");
    const account = escapeHtml(state.browserAccountId);
    return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Authorize ${client}</title></head>
<body>
<h1>Authorize ${client}</h1>
<p>Scopes: <span id="scope">${scope}</span></p>
<p>Account: <span id="account">${account}</span></p>
<form method="post" action="${action}/approve"><input type="hidden" name="accountId" value="${account}">
<button type="submit" id="approve">${APPROVE_BUTTON_TEXT}</button></form>
<form method="post" action="${action}/deny"><button type="submit" id="deny">${DENY_BUTTON_TEXT}</button></form>
</body></html>`;
  }

  async function handleInteraction(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const match = /^\/interaction\/([^/]+)(?:\/(approve|deny))?$/.exec(path);
    if (match === null) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found");
      return;
    }
    const uid = decodeURIComponent(match[1]!);
    const action = match[2];
    try {
      if (action === undefined && req.method === "GET") {
        if (browserMode === "auto") {
          await finish(req, res, { accountId: state.browserAccountId });
          return;
        }
        const details = await live.provider!.interactionDetails(req, res);
        res
          .writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" })
          .end(interactionPage(uid, details));
        return;
      }
      if (action !== undefined && req.method === "POST") {
        const form = await readForm(req);
        if (action === "approve") {
          await finish(req, res, { accountId: form.get("accountId") || state.browserAccountId });
        } else {
          await finish(req, res, { deny: true, errorDescription: form.get("error_description") ?? undefined });
        }
        return;
      }
      res.writeHead(405, { "content-type": "text/plain" }).end("method not allowed");
    } catch (error) {
      if (!res.headersSent) {
        res.writeHead(400, { "content-type": "text/plain" }).end(`interaction failed: ${String(error)}`);
      }
    }
  }

  const server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    if (path.startsWith("/interaction/")) {
      void handleInteraction(req, res, path);
      return;
    }
    if (live.handle === undefined) {
      res.writeHead(503).end();
      return;
    }
    live.handle(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const resource = `${issuer}/api`;

  const signingKey = await signingKeyOnce();

  const policy = oidc.interactionPolicy.base();
  if (options.alwaysPrompt ?? true) {
    // A live session would otherwise skip the login (and, with a stored grant, the consent): ask every time.
    policy
      .get("login")!
      .checks.push(
        new oidc.interactionPolicy.Check("test_always_prompt", "the test server asks every time", (ctx) =>
          ctx.oidc.result?.login === undefined,
        ),
      );
  }

  const provider = new Provider(issuer, {
    adapter: createMemoryAdapter(0),
    clients: options.clients.map((client) => ({
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      ...client,
    })),
    jwks: { keys: [signingKey] },
    cookies: { keys: [randomBytes(32).toString("base64url")] },
    clockTolerance: 0,
    scopes: OIDC_SCOPES,
    claims: { openid: ["sub"], profile: ["name"], email: ["email", "email_verified"] },
    pkce: { required: () => true },
    allowOmittingSingleRegisteredRedirectUri: false,
    responseTypes: ["code"],
    features: {
      devInteractions: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => resource,
        // Resource-server scopes asked for: the token is for the resource (scope "repo ..."). Only OpenID scopes:
        // the token is for userinfo (scope "openid profile"), as oidc-provider does without resource indicators.
        useGrantedResource: (_ctx: unknown, model: { scopes: Set<string> }) =>
          [...model.scopes].some((s) => resourceScopes.includes(s)),
        getResourceServerInfo: (_ctx: unknown, indicator: string) => {
          if (indicator !== resource) throw new Error(`unknown resource ${indicator}`);
          return { scope: resourceScopes.join(" "), accessTokenFormat: "opaque", accessTokenTTL: accessTokenTtl };
        },
      },
    },
    interactions: { policy, url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    issueRefreshToken: (_ctx: unknown, client: { grantTypeAllowed(type: string): boolean }) =>
      (options.issueRefreshToken ?? true) && client.grantTypeAllowed("refresh_token"),
    rotateRefreshToken: options.rotateRefreshToken ?? false,
    expiresWithSession: () => false,
    findAccount: (_ctx: unknown, sub: string) => ({
      accountId: sub,
      claims: () => ({ sub, name: `Test ${sub}`, email: `${sub}@example.test`, email_verified: true }),
    }),
    clientBasedCORS: () => false,
    renderError: (ctx: { type: string; body: unknown }, out: Record<string, unknown>) => {
      ctx.type = "html";
      const details = escapeHtml(JSON.stringify(out));
      ctx.body = `<!DOCTYPE html><html><body><h1>oidc-provider error</h1><pre>${details}</pre></body></html>`;
    },
    ttl: {
      AccessToken: () => accessTokenTtl,
      AuthorizationCode: () => options.authorizationCodeTtlSeconds ?? 60,
      IdToken: () => 3600,
      RefreshToken: () => options.refreshTokenTtlSeconds ?? 14 * 24 * 3600,
      Interaction: () => 600,
      Session: () => 3600,
      Grant: () => 14 * 24 * 3600,
    },
  });

  // Log every token endpoint call, and hold it when the test asks for a delay.
  provider.use(async (ctx, next) => {
    if (ctx.path !== "/token" || ctx.method !== "POST") {
      await next();
      return;
    }
    state.inFlight += 1;
    state.maxInFlight = Math.max(state.maxInFlight, state.inFlight);
    try {
      if (state.tokenDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, state.tokenDelayMs));
      await next();
    } finally {
      state.inFlight -= 1;
      const params = ctx.oidc?.params ?? {};
      const body = ctx.body as { error?: unknown } | undefined;
      tokenRequests.push({
        grantType: typeof params.grant_type === "string" ? params.grant_type : undefined,
        clientId: ctx.oidc?.client?.clientId,
        status: ctx.status,
        error: typeof body?.error === "string" ? body.error : undefined,
        refreshToken: typeof params.refresh_token === "string" ? params.refresh_token : undefined,
        at: Date.now(),
      });
    }
  });
  live.provider = provider;
  live.handle = provider.callback();

  const discoveryResponse = await fetch(`${issuer}/.well-known/openid-configuration`);
  if (!discoveryResponse.ok) throw new Error(`discovery failed: ${discoveryResponse.status}`);
  const discovery = (await discoveryResponse.json()) as Record<string, unknown>;

  async function approve(authorizationUrl: string | URL, approveOptions: ApproveOptions = {}): Promise<{ redirectedTo: URL }> {
    const jar = new Map<string, string>();
    const accountId = approveOptions.accountId ?? "user-1";
    let url = new URL(authorizationUrl);
    let init: RequestInit = { method: "GET" };
    for (let hop = 0; hop < 10; hop++) {
      if (url.origin !== issuer) throw new Error(`approve(): left the authorization server for ${url.href}`);
      const headers = new Headers(init.headers);
      if (jar.size > 0) headers.set("cookie", [...jar].map(([name, value]) => `${name}=${value}`).join("; "));
      const response = await fetch(url, { ...init, headers, redirect: "manual" });
      for (const line of response.headers.getSetCookie()) {
        const [pair = "", ...attributes] = line.split(";");
        const eq = pair.indexOf("=");
        const name = pair.slice(0, eq).trim();
        const value = pair.slice(eq + 1).trim();
        const expired = attributes.some((a) => /^\s*(max-age=0|expires=thu, 01 jan 1970)/i.test(a));
        if (expired || value === "") jar.delete(name);
        else jar.set(name, value);
      }
      const location = response.headers.get("location");
      const body = await response.text();
      if (response.status < 300 || response.status >= 400 || location === null) {
        throw new Error(`approve(): ${url.pathname} answered ${response.status}: ${body.slice(0, 500)}`);
      }
      const next = new URL(location, url);
      if (next.origin !== issuer) return { redirectedTo: next };
      if (/^\/interaction\/[^/]+$/.test(next.pathname)) {
        // Skip the page a person would see, and submit what its buttons would.
        url = new URL(`${next.pathname}/${approveOptions.deny === true ? "deny" : "approve"}`, issuer);
        const form = new URLSearchParams({ accountId });
        if (approveOptions.errorDescription !== undefined) form.set("error_description", approveOptions.errorDescription);
        init = { method: "POST", body: form, headers: { "content-type": "application/x-www-form-urlencoded" } };
      } else {
        url = next;
        init = { method: "GET" };
      }
    }
    throw new Error("approve(): too many redirects");
  }

  async function findToken(accessToken: string): Promise<OidcAccessToken | undefined> {
    const token = await provider.AccessToken.find(accessToken);
    return token === undefined || token.isExpired ? undefined : token;
  }

  return {
    issuer,
    resource,
    authorizationEndpoint: String(discovery.authorization_endpoint),
    tokenEndpoint: String(discovery.token_endpoint),
    discovery,
    approve,
    tokenRequests,
    countTokenRequests: (grantType) => tokenRequests.filter((r) => r.grantType === grantType).length,
    get tokenDelayMs() {
      return state.tokenDelayMs;
    },
    set tokenDelayMs(ms: number) {
      state.tokenDelayMs = ms;
    },
    get tokenRequestsInFlight() {
      return state.inFlight;
    },
    get maxTokenRequestsInFlight() {
      return state.maxInFlight;
    },
    get browserAccountId() {
      return state.browserAccountId;
    },
    set browserAccountId(id: string) {
      state.browserAccountId = id;
    },
    isAccessTokenActive: async (accessToken) => (await findToken(accessToken)) !== undefined,
    accessTokenInfo: async (accessToken) => {
      const token = await findToken(accessToken);
      return token === undefined
        ? undefined
        : { accountId: token.accountId, clientId: token.clientId, scope: token.scope ?? "" };
    },
    async [Symbol.asyncDispose]() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
