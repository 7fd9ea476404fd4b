/**
 * A small OAuth 2.0 / OpenID Connect authorization server built on oidc-provider 9, for trying roombus's OAuth flow
 * on one machine (`roombus demo oauth-provider`) and for the tests. It is a demo, not a production server: storage
 * is in memory (everything is gone when it stops), signing keys are made at start, and whoever clicks "Approve"
 * is logged in as one fixed account without a password.
 *
 * What it does hold to: PKCE S256 is required for every client, redirect URIs must match a registered one exactly,
 * the code grant issues refresh tokens (rotated or not, as configured), and access tokens live as long as asked.
 *
 * The authorization endpoint sends the browser to an interaction page that says which client asks for which
 * scopes, with "Approve" and "Deny" buttons (or, with `browserMode: "auto"`, approves at once). Login and consent
 * happen in that one step.
 *
 * Scopes: "openid", "profile", "email" and "offline_access" are OpenID scopes; every other scope offered
 * (`resourceScopes`, default "repo read write") belongs to one resource server, `resource` (`${issuer}/api`), which
 * every request falls back to. oidc-provider only keeps non-OpenID scopes when a resource indicator is in play, so
 * this is what makes a token with scope "repo" possible; access tokens are opaque and carry the resource-server
 * scopes only.
 *
 * oidc-provider is a development dependency of roombus: it is loaded on first use, and its absence is reported as
 * an `OidcProviderMissingError`.
 */
import { generateKeyPair, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { promisify } from "node:util";

export interface OAuthProviderClient {
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

/** One call of the token endpoint, as seen when its answer was made. */
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

/** Watches the token endpoint (tests count calls and widen race windows with these). */
export interface TokenRequestHooks {
  /** A call arrived; it is handled once the returned promise settles. */
  onStart?(): Promise<void> | void;
  /** Its answer was made (also when handling it failed). */
  onEnd?(record: TokenRequestRecord): void;
}

export interface OAuthProviderOptions {
  clients: OAuthProviderClient[];
  /** Address to listen on, default "127.0.0.1". A wildcard address (0.0.0.0, ::) is named as loopback in the issuer. */
  host?: string;
  /** Port to listen on, default 0 (any free one). */
  port?: number;
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
  /** The account an approval logs in as (default "demo-user"; changeable later on the returned object). */
  accountId?: string;
  /**
   * Let the approval form name the account (field `accountId`), as scripted test clients do. Default false: every
   * approval is for `accountId`.
   */
  accountFromForm?: boolean;
  /** A sentence shown on the interaction page under its heading (plain text). */
  notice?: string;
  tokenRequestHooks?: TokenRequestHooks;
}

export interface OAuthProvider extends AsyncDisposable {
  /** `http://<host>:<port>`, no trailing slash. */
  issuer: string;
  /** The port actually bound (the one asked for, or the one picked for port 0). */
  port: number;
  /** The resource indicator every resource-scoped token is issued for. */
  resource: string;
  authorizationEndpoint: string;
  tokenEndpoint: string;
  /** The whole discovery document, as served. */
  discovery: Record<string, unknown>;
  /** The account the next approvals log in as. */
  accountId: string;
  /** What the provider holds for this access token, or undefined when it is unknown or expired. */
  accessTokenInfo(accessToken: string): Promise<{ accountId: string; clientId: string; scope: string } | undefined>;
  /** Stops listening and drops open connections. */
  close(): Promise<void>;
}

export const APPROVE_BUTTON_TEXT = "Approve";
export const DENY_BUTTON_TEXT = "Deny";

/** The scopes that are OpenID Connect's own; every other scope is a resource-server scope. */
export const OIDC_SCOPES: readonly string[] = ["openid", "offline_access", "profile", "email"];

/** oidc-provider could not be loaded because it is not installed. */
export class OidcProviderMissingError extends Error {
  constructor(options?: { cause?: unknown }) {
    super("the oidc-provider package is not installed", options);
    this.name = "OidcProviderMissingError";
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The slice of oidc-provider's (untyped) API used here.

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
 * Loads oidc-provider once. It warns at import time when the Node release is older than it would like (v22); on
 * Node 20 it works, so that one line is dropped. Variable specifiers keep TypeScript from looking for type
 * declarations (none exist) and keep the package optional for the rest of roombus.
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
    } catch (error) {
      if (isMissingOidcProvider(error)) throw new OidcProviderMissingError({ cause: error });
      throw error;
    } finally {
      console.warn = warn;
    }
  })();
  // A failed load may be fixed by installing the package; don't keep the failure.
  modules.catch(() => {
    modules = undefined;
  });
  return modules;
}

function isMissingOidcProvider(error: unknown): boolean {
  const { code, message } = error as { code?: unknown; message?: unknown };
  return code === "ERR_MODULE_NOT_FOUND" && typeof message === "string" && message.includes("'oidc-provider'");
}

let signingKeyPromise: Promise<Record<string, unknown>> | undefined;

/** One RS256 key per process (id_tokens are signed with it); made once, since RSA key generation is slow. */
function signingKeyOnce(): Promise<Record<string, unknown>> {
  signingKeyPromise ??= promisify(generateKeyPair)("rsa", { modulusLength: 2048 }).then(({ privateKey }) => ({
    ...privateKey.export({ format: "jwk" }),
    alg: "RS256",
    use: "sig",
  }));
  return signingKeyPromise;
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** How a listening address is written in a URL; a wildcard address is named by the matching loopback address. */
export function hostForUrl(host: string): string {
  if (host === "0.0.0.0" || host === "") return "127.0.0.1";
  if (host === "::" || host === "[::]") return "[::1]";
  if (host.includes(":") && !host.startsWith("[")) return `[${host}]`;
  return host;
}

const MAX_FORM_BYTES = 16 * 1024;

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_FORM_BYTES) throw new Error("form too large");
    chunks.push(chunk as Buffer);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
}

const PAGE_HEADERS = {
  "content-type": "text/html; charset=utf-8",
  "cache-control": "no-store",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
} as const;

export async function startOAuthProvider(options: OAuthProviderOptions): Promise<OAuthProvider> {
  const [oidc, { createMemoryAdapter }] = await loadOidcProvider();
  const Provider = oidc.default;
  const accessTokenTtl = options.accessTokenTtlSeconds ?? 3600;
  const resourceScopes = options.resourceScopes ?? ["repo", "read", "write"];
  const browserMode = options.browserMode ?? "button";
  const accountFromForm = options.accountFromForm ?? false;
  const hooks = options.tokenRequestHooks;

  // The provider needs the issuer, which needs the port: the HTTP server listens first and finds the provider here.
  const live: {
    provider?: OidcProviderInstance;
    handle?: (req: IncomingMessage, res: ServerResponse) => void;
  } = {};
  const state = { accountId: options.accountId ?? "demo-user" };

  // ----- interaction routes (login + consent in one step) -----

  /** Ends the interaction: login and consent at once (a grant of every requested scope), or access_denied. */
  async function finish(
    req: IncomingMessage,
    res: ServerResponse,
    decision: { accountId: string } | { deny: true; errorDescription?: string },
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
    const requested = requestedScopes(details);
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

  function requestedScopes(details: OidcInteraction): string[] {
    const scope = typeof details.params.scope === "string" ? details.params.scope : "";
    return scope.split(" ").filter((s) => s !== "");
  }

  function interactionPage(uid: string, details: OidcInteraction): string {
    const action = `/interaction/${encodeURIComponent(uid)}`;
    const client = escapeHtml(String(details.params.client_id));
    const scopes = requestedScopes(details);
    const scopeList =
      scopes.length === 0
        ? "<p>No scopes.</p>"
        : `<ul id="scopes">${scopes.map((s) => `<li><code>${escapeHtml(s)}</code></li>`).join("")}</ul>`;
    const account = escapeHtml(state.accountId);
    const redirect =
      typeof details.params.redirect_uri === "string"
        ? `<p>Either way, your browser then goes back to <code id="redirect-uri">${escapeHtml(details.params.redirect_uri)}</code>.</p>`
        : "";
    const notice = options.notice === undefined ? "" : `<p id="notice"><strong>${escapeHtml(options.notice)}</strong></p>`;
    const accountField = accountFromForm ? `<input type="hidden" name="accountId" value="${account}">` : "";
    return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Authorize ${client}</title></head>
<body>
<h1>Authorize ${client}</h1>
${notice}
<p>The app <strong id="client">${client}</strong> asks for access to the account <strong id="account">${account}</strong>
with these scopes:</p>
${scopeList}
${redirect}
<form method="post" action="${action}/approve">${accountField}
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
          await finish(req, res, { accountId: state.accountId });
          return;
        }
        const details = await live.provider!.interactionDetails(req, res);
        res.writeHead(200, PAGE_HEADERS).end(interactionPage(uid, details));
        return;
      }
      if (action !== undefined && req.method === "POST") {
        const form = await readForm(req);
        if (action === "approve") {
          const fromForm = accountFromForm ? form.get("accountId") : null;
          await finish(req, res, { accountId: fromForm || state.accountId });
        } else {
          await finish(req, res, { deny: true, errorDescription: form.get("error_description") ?? undefined });
        }
        return;
      }
      res.writeHead(405, { "content-type": "text/plain" }).end("method not allowed");
    } catch (error) {
      if (!res.headersSent) {
        const { error_description: description } = error as { error_description?: unknown };
        const message = typeof description === "string" ? description : error instanceof Error ? error.message : String(error);
        res
          .writeHead(400, { "content-type": "text/plain; charset=utf-8" })
          .end(`interaction failed: ${message}\nStart again from the app that sent you here.\n`);
      }
    }
  }

  const server = createServer((req, res) => {
    let path: string;
    try {
      path = new URL(req.url ?? "/", "http://x").pathname;
    } catch {
      res.writeHead(400).end();
      return;
    }
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
  const host = options.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const close = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };

  const issuer = `http://${hostForUrl(host)}:${port}`;
  const resource = `${issuer}/api`;
  let provider: OidcProviderInstance;
  let discovery: Record<string, unknown>;
  try {
    const signingKey = await signingKeyOnce();

    const policy = oidc.interactionPolicy.base();
    if (options.alwaysPrompt ?? true) {
      // A live session would otherwise skip the login (and, with a stored grant, the consent): ask every time.
      policy
        .get("login")!
        .checks.push(
          new oidc.interactionPolicy.Check("always_prompt", "this server asks every time", (ctx) =>
            ctx.oidc.result?.login === undefined,
          ),
        );
    }

    provider = new Provider(issuer, {
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
        claims: () => ({ sub, name: `Demo ${sub}`, email: `${sub}@example.test`, email_verified: true }),
      }),
      clientBasedCORS: () => false,
      renderError: (ctx: { type: string; body: unknown }, out: Record<string, unknown>) => {
        ctx.type = "html";
        const details = escapeHtml(JSON.stringify(out, null, 2));
        ctx.body = `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Authorization error</title></head><body><h1>Authorization error</h1><pre>${details}</pre></body></html>`;
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

    if (hooks !== undefined) {
      provider.use(async (ctx, next) => {
        if (ctx.path !== "/token" || ctx.method !== "POST") {
          await next();
          return;
        }
        try {
          await hooks.onStart?.();
          await next();
        } finally {
          const params = ctx.oidc?.params ?? {};
          const body = ctx.body as { error?: unknown } | undefined;
          hooks.onEnd?.({
            grantType: typeof params.grant_type === "string" ? params.grant_type : undefined,
            clientId: ctx.oidc?.client?.clientId,
            status: ctx.status,
            error: typeof body?.error === "string" ? body.error : undefined,
            refreshToken: typeof params.refresh_token === "string" ? params.refresh_token : undefined,
            at: Date.now(),
          });
        }
      });
    }
    live.provider = provider;
    live.handle = provider.callback();

    const discoveryResponse = await fetch(`${issuer}/.well-known/openid-configuration`);
    if (!discoveryResponse.ok) throw new Error(`discovery failed: ${discoveryResponse.status}`);
    discovery = (await discoveryResponse.json()) as Record<string, unknown>;
  } catch (error) {
    await close();
    throw error;
  }

  return {
    issuer,
    port,
    resource,
    authorizationEndpoint: String(discovery.authorization_endpoint),
    tokenEndpoint: String(discovery.token_endpoint),
    discovery,
    get accountId() {
      return state.accountId;
    },
    set accountId(id: string) {
      state.accountId = id;
    },
    accessTokenInfo: async (accessToken) => {
      const token = await provider.AccessToken.find(accessToken);
      return token === undefined || token.isExpired
        ? undefined
        : { accountId: token.accountId, clientId: token.clientId, scope: token.scope ?? "" };
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
