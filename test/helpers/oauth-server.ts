/**
 * A real OAuth 2.0 / OpenID Connect authorization server for tests: the demo provider of src/demo/oauth-provider.ts
 * (oidc-provider 9) on http://127.0.0.1:<port 0>, with in-memory storage, signing keys made at start, PKCE S256
 * required for every client, exact redirect URI matching, refresh tokens for the code grant (rotated or not, as
 * configured) and short access token lifetimes on demand. See that module for how scopes and resources work.
 *
 * What this wrapper adds for tests: nobody has to sit at a browser, since `approve()` walks the authorization flow
 * over plain HTTP (fetch with manual redirects and a cookie jar) and hands back the final redirect to the client's
 * redirect_uri without following it; a log of token endpoint calls; a delay to widen race windows. The same
 * interaction routes serve a real browser: the interaction page shows "Approve" and "Deny" buttons (or finishes by
 * itself with `browserMode: "auto"`).
 */
import {
  APPROVE_BUTTON_TEXT,
  DENY_BUTTON_TEXT,
  startOAuthProvider,
  type OAuthProviderClient,
  type TokenRequestRecord,
} from "../../src/demo/oauth-provider.js";

export { APPROVE_BUTTON_TEXT, DENY_BUTTON_TEXT, type TokenRequestRecord };

export type OidcTestClient = OAuthProviderClient;

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

export async function startOidcProvider(options: OidcProviderOptions): Promise<OidcTestServer & AsyncDisposable> {
  const state = { tokenDelayMs: 0, inFlight: 0, maxInFlight: 0 };
  const tokenRequests: TokenRequestRecord[] = [];
  const { browserAccountId, ...providerOptions } = options;

  const op = await startOAuthProvider({
    ...providerOptions,
    host: "127.0.0.1",
    port: 0,
    accountId: browserAccountId ?? "user-1",
    // approve() names the account in the form, as the hidden field of the page does.
    accountFromForm: true,
    tokenRequestHooks: {
      async onStart() {
        state.inFlight += 1;
        state.maxInFlight = Math.max(state.maxInFlight, state.inFlight);
        if (state.tokenDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, state.tokenDelayMs));
      },
      onEnd(record) {
        state.inFlight -= 1;
        tokenRequests.push(record);
      },
    },
  });
  const { issuer } = op;

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

  return {
    issuer,
    resource: op.resource,
    authorizationEndpoint: op.authorizationEndpoint,
    tokenEndpoint: op.tokenEndpoint,
    discovery: op.discovery,
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
      return op.accountId;
    },
    set browserAccountId(id: string) {
      op.accountId = id;
    },
    isAccessTokenActive: async (accessToken) => (await op.accessTokenInfo(accessToken)) !== undefined,
    accessTokenInfo: (accessToken) => op.accessTokenInfo(accessToken),
    [Symbol.asyncDispose]: () => op.close(),
  };
}
