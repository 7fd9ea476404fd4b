/**
 * A hand-written OAuth 2.0 authorization server on http://127.0.0.1:<port 0> that misbehaves on demand: the test
 * decides how each token endpoint call is answered (a queue of behaviours, then a default mode) and reads back
 * everything the client sent.
 *
 * - `GET /authorize` checks response_type=code, client_id, redirect_uri, state and a PKCE S256 challenge, then
 *   redirects (302) to redirect_uri with `code` and `state` (or, when `authorizeError` is set or the request is
 *   bad, `error` and `state`). Redirect URIs are not registered: any is accepted and the code is bound to it.
 * - `POST /token` answers per behaviour:
 *   - `"ok"`: a JSON token response (access_token, token_type "Bearer", expires_in, refresh_token, scope); on a
 *     refresh the same refresh token comes back;
 *   - `"rotate"`: like ok, but every refresh answers with a new refresh token and the presented one stops working;
 *   - `"no-rotate"`: like ok, but refresh answers carry no refresh_token at all;
 *   - `"invalid_grant"`: 400 {"error":"invalid_grant"} (the presented refresh token is revoked);
 *   - `"500"`: 500 with a plain-text body;
 *   - `"html"`: 200 text/html (a captive portal / login page instead of JSON);
 *   - `"slow"`: like ok after `delayMs` (default `slowMs`, 2000 ms); dispose ends pending answers at once;
 *   - `"skewed"`: like ok with `expires_in` = `expiresIn` of the behaviour (default `skewedExpiresIn`, -30 s).
 *   For the answering modes the grant is checked for real (unknown, used or revoked codes and refresh tokens, a
 *   redirect_uri differing from the authorization request, a code_verifier not matching the challenge, and client
 *   authentication when a secret is configured give 400/401 errors), so a test sees what a strict server would say.
 */
import { createHash, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export type FaultyTokenMode = "ok" | "rotate" | "no-rotate" | "invalid_grant" | "500" | "html" | "slow" | "skewed";

export interface FaultyTokenBehaviour {
  mode: FaultyTokenMode;
  /** For "slow": how long to wait before answering. */
  delayMs?: number;
  /** For the answering modes: the expires_in to send (skewed defaults to `skewedExpiresIn`). */
  expiresIn?: number;
  /** For the answering modes: the scope to send (default: the scope of the authorization request). */
  scope?: string;
}

export interface FaultyOAuthServerOptions {
  /** Default "faulty-client". */
  clientId?: string;
  /** When set, the token endpoint requires it (client_secret_basic or client_secret_post). */
  clientSecret?: string;
  /** The mode used when the queue is empty (default "ok"). */
  mode?: FaultyTokenMode;
  /** expires_in of normal answers (default 3600). */
  expiresIn?: number;
  /** expires_in of "skewed" answers (default -30). */
  skewedExpiresIn?: number;
  /** Delay of "slow" answers (default 2000 ms). */
  slowMs?: number;
}

export interface FaultyAuthorizeRecord {
  clientId: string | null;
  redirectUri: string | null;
  state: string | null;
  scope: string | null;
  codeChallenge: string | null;
  codeChallengeMethod: string | null;
  /** The code handed out, or undefined when the request was refused. */
  code: string | undefined;
  at: number;
}

export interface FaultyTokenRecord {
  grantType: string | null;
  code: string | null;
  codeVerifier: string | null;
  redirectUri: string | null;
  refreshToken: string | null;
  scope: string | null;
  /** client_id from the Authorization header or the body. */
  clientId: string | null;
  clientSecret: string | null;
  clientAuth: "client_secret_basic" | "client_secret_post" | "none";
  /** The behaviour this call was answered with. */
  mode: FaultyTokenMode;
  /** For a code grant: whether S256(code_verifier) equals the challenge of the authorization request. */
  pkceValid: boolean | undefined;
  /** HTTP status of the answer (undefined while a slow answer is pending). */
  status: number | undefined;
  /** The whole form body, as received. */
  form: Record<string, string>;
  at: number;
}

export interface FaultyOAuthServer {
  /** `http://127.0.0.1:<port>`. */
  origin: string;
  authorizationEndpoint: string;
  tokenEndpoint: string;
  clientId: string;
  /** The mode for token calls when the queue is empty. */
  mode: FaultyTokenMode;
  /** Behaviours for the next token calls, first in first out. */
  enqueue(...behaviours: (FaultyTokenMode | FaultyTokenBehaviour)[]): void;
  /** When set, /authorize answers `error=<this>` (with the state) instead of a code. */
  authorizeError: string | undefined;
  authorizeRequests: FaultyAuthorizeRecord[];
  tokenRequests: FaultyTokenRecord[];
  /** How many token calls had grant_type=refresh_token. */
  refreshCount(): number;
  /** Token calls being handled right now, and the most seen at once. */
  readonly tokenRequestsInFlight: number;
  readonly maxTokenRequestsInFlight: number;
  /** Every access token and refresh token this server has handed out, in order. */
  issuedAccessTokens: string[];
  issuedRefreshTokens: string[];
  /** Whether a refresh token is still accepted. */
  isRefreshTokenValid(refreshToken: string): boolean;
  /** Revokes a refresh token, as if the user withdrew the grant. */
  revokeRefreshToken(refreshToken: string): void;
}

/** base64url(SHA-256(verifier)), the PKCE S256 challenge. */
export function s256(verifier: string): string {
  return createHash("sha256").update(verifier).digest("base64url");
}

interface CodeEntry {
  clientId: string;
  redirectUri: string;
  codeChallenge: string;
  scope: string;
  used: boolean;
}

const token = (prefix: string) => `${prefix}_${randomBytes(24).toString("base64url")}`;

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res
    .writeHead(status, { "content-type": "application/json", "cache-control": "no-store", ...headers })
    .end(JSON.stringify(body));
}

export async function startFaultyOAuthServer(
  options: FaultyOAuthServerOptions = {},
): Promise<FaultyOAuthServer & AsyncDisposable> {
  const clientId = options.clientId ?? "faulty-client";
  const expiresIn = options.expiresIn ?? 3600;
  const queue: FaultyTokenBehaviour[] = [];
  const codes = new Map<string, CodeEntry>();
  /** refresh token → scope, for the ones still accepted. */
  const refreshTokens = new Map<string, string>();
  const pending = new Set<{ timer: NodeJS.Timeout; res: ServerResponse }>();
  const authorizeRequests: FaultyAuthorizeRecord[] = [];
  const tokenRequests: FaultyTokenRecord[] = [];
  const issuedAccessTokens: string[] = [];
  const issuedRefreshTokens: string[] = [];
  const state: { mode: FaultyTokenMode; authorizeError: string | undefined; inFlight: number; maxInFlight: number } = {
    mode: options.mode ?? "ok",
    authorizeError: undefined,
    inFlight: 0,
    maxInFlight: 0,
  };

  function authorize(url: URL, res: ServerResponse): void {
    const q = url.searchParams;
    const record: FaultyAuthorizeRecord = {
      clientId: q.get("client_id"),
      redirectUri: q.get("redirect_uri"),
      state: q.get("state"),
      scope: q.get("scope"),
      codeChallenge: q.get("code_challenge"),
      codeChallengeMethod: q.get("code_challenge_method"),
      code: undefined,
      at: Date.now(),
    };
    authorizeRequests.push(record);
    let redirect: URL;
    try {
      redirect = new URL(record.redirectUri ?? "");
    } catch {
      res.writeHead(400, { "content-type": "text/plain" }).end("redirect_uri missing or invalid");
      return;
    }
    const answer = (params: Record<string, string>) => {
      for (const [key, value] of Object.entries(params)) redirect.searchParams.set(key, value);
      if (record.state !== null) redirect.searchParams.set("state", record.state);
      res.writeHead(302, { location: redirect.href }).end();
    };
    if (q.get("response_type") !== "code") return answer({ error: "unsupported_response_type" });
    if (record.clientId !== clientId) return answer({ error: "unauthorized_client" });
    if (record.codeChallengeMethod !== "S256" || record.codeChallenge === null || record.codeChallenge === "") {
      return answer({ error: "invalid_request", error_description: "PKCE with S256 is required" });
    }
    if (state.authorizeError !== undefined) return answer({ error: state.authorizeError });
    const code = token("code");
    record.code = code;
    codes.set(code, {
      clientId,
      redirectUri: record.redirectUri!,
      codeChallenge: record.codeChallenge,
      scope: record.scope ?? "",
      used: false,
    });
    answer({ code });
  }

  function clientAuthentication(req: IncomingMessage, form: URLSearchParams) {
    const header = req.headers.authorization;
    if (header?.toLowerCase().startsWith("basic ")) {
      const decoded = Buffer.from(header.slice(6).trim(), "base64").toString("utf8");
      const colon = decoded.indexOf(":");
      const unform = (s: string) => decodeURIComponent(s.replace(/\+/g, " "));
      return {
        clientAuth: "client_secret_basic" as const,
        clientId: unform(decoded.slice(0, colon)),
        clientSecret: unform(decoded.slice(colon + 1)),
      };
    }
    if (form.has("client_secret")) {
      return {
        clientAuth: "client_secret_post" as const,
        clientId: form.get("client_id"),
        clientSecret: form.get("client_secret"),
      };
    }
    return { clientAuth: "none" as const, clientId: form.get("client_id"), clientSecret: null };
  }

  /** Checks the grant and makes the token answer; returns [status, body]. */
  function grantTokens(record: FaultyTokenRecord, behaviour: FaultyTokenBehaviour): [number, Record<string, unknown>] {
    if (record.clientId !== clientId) return [401, { error: "invalid_client" }];
    if (options.clientSecret !== undefined && record.clientSecret !== options.clientSecret) {
      return [401, { error: "invalid_client" }];
    }
    let scope: string;
    let refreshToken: string | undefined;
    if (record.grantType === "authorization_code") {
      const entry = record.code === null ? undefined : codes.get(record.code);
      if (entry === undefined || entry.used) {
        return [400, { error: "invalid_grant", error_description: "unknown or used code" }];
      }
      entry.used = true;
      if (record.redirectUri !== entry.redirectUri) {
        return [400, { error: "invalid_grant", error_description: "redirect_uri mismatch" }];
      }
      if (record.pkceValid !== true) return [400, { error: "invalid_grant", error_description: "PKCE verification failed" }];
      scope = entry.scope;
      refreshToken = token("rt");
    } else if (record.grantType === "refresh_token") {
      const presented = record.refreshToken ?? "";
      const known = refreshTokens.get(presented);
      if (known === undefined) return [400, { error: "invalid_grant", error_description: "unknown or revoked refresh token" }];
      scope = known;
      if (behaviour.mode === "rotate") {
        refreshTokens.delete(presented);
        refreshToken = token("rt");
      } else if (behaviour.mode === "no-rotate") {
        refreshToken = undefined;
      } else {
        refreshToken = presented;
      }
    } else {
      return [400, { error: "unsupported_grant_type" }];
    }
    const accessToken = token("at");
    issuedAccessTokens.push(accessToken);
    if (refreshToken !== undefined && !refreshTokens.has(refreshToken)) {
      refreshTokens.set(refreshToken, scope);
      issuedRefreshTokens.push(refreshToken);
    }
    const expires =
      behaviour.expiresIn ?? (behaviour.mode === "skewed" ? (options.skewedExpiresIn ?? -30) : expiresIn);
    return [
      200,
      {
        access_token: accessToken,
        token_type: "Bearer",
        expires_in: expires,
        ...(refreshToken === undefined ? {} : { refresh_token: refreshToken }),
        scope: behaviour.scope ?? scope,
      },
    ];
  }

  async function tokenEndpoint(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const form = new URLSearchParams(await readBody(req));
    const auth = clientAuthentication(req, form);
    const behaviour = queue.shift() ?? { mode: state.mode };
    const code = form.get("code");
    const codeVerifier = form.get("code_verifier");
    const entry = code === null ? undefined : codes.get(code);
    const record: FaultyTokenRecord = {
      grantType: form.get("grant_type"),
      code,
      codeVerifier,
      redirectUri: form.get("redirect_uri"),
      refreshToken: form.get("refresh_token"),
      scope: form.get("scope"),
      ...auth,
      mode: behaviour.mode,
      pkceValid:
        form.get("grant_type") === "authorization_code"
          ? entry !== undefined && codeVerifier !== null && s256(codeVerifier) === entry.codeChallenge
          : undefined,
      status: undefined,
      form: Object.fromEntries(form),
      at: Date.now(),
    };
    tokenRequests.push(record);

    const send = (status: number, write: () => void) => {
      record.status = status;
      write();
    };
    switch (behaviour.mode) {
      case "500":
        send(500, () => res.writeHead(500, { "content-type": "text/plain" }).end("internal server error"));
        return;
      case "html":
        send(200, () =>
          res
            .writeHead(200, { "content-type": "text/html; charset=utf-8" })
            .end("<!DOCTYPE html><html><body><h1>Please sign in</h1></body></html>"),
        );
        return;
      case "invalid_grant":
        if (record.refreshToken !== null) refreshTokens.delete(record.refreshToken);
        send(400, () => json(res, 400, { error: "invalid_grant" }));
        return;
      case "slow": {
        const delay = behaviour.delayMs ?? options.slowMs ?? 2000;
        await new Promise<void>((resolve) => {
          const item = {
            res,
            timer: setTimeout(() => {
              pending.delete(item);
              resolve();
            }, delay),
          };
          pending.add(item);
          // The client gave up (or dispose destroyed the socket): stop waiting.
          res.once("close", () => {
            clearTimeout(item.timer);
            pending.delete(item);
            resolve();
          });
        });
        if (res.destroyed || res.writableEnded) return;
        break;
      }
      case "ok":
      case "rotate":
      case "no-rotate":
      case "skewed":
        break;
    }
    const [status, body] = grantTokens(record, behaviour);
    send(status, () => json(res, status, body));
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    if (req.method === "GET" && url.pathname === "/authorize") {
      authorize(url, res);
      return;
    }
    if (req.method === "POST" && url.pathname === "/token") {
      // In flight from arrival until the answer is written (or the socket is gone).
      state.inFlight += 1;
      state.maxInFlight = Math.max(state.maxInFlight, state.inFlight);
      res.once("close", () => void (state.inFlight -= 1));
      tokenEndpoint(req, res).catch((error: unknown) => {
        if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" }).end(String(error));
      });
      return;
    }
    res.writeHead(404, { "content-type": "text/plain" }).end("not found");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    origin,
    authorizationEndpoint: `${origin}/authorize`,
    tokenEndpoint: `${origin}/token`,
    clientId,
    get mode() {
      return state.mode;
    },
    set mode(mode: FaultyTokenMode) {
      state.mode = mode;
    },
    enqueue(...behaviours) {
      for (const b of behaviours) queue.push(typeof b === "string" ? { mode: b } : b);
    },
    get authorizeError() {
      return state.authorizeError;
    },
    set authorizeError(error: string | undefined) {
      state.authorizeError = error;
    },
    authorizeRequests,
    tokenRequests,
    refreshCount: () => tokenRequests.filter((r) => r.grantType === "refresh_token").length,
    get tokenRequestsInFlight() {
      return state.inFlight;
    },
    get maxTokenRequestsInFlight() {
      return state.maxInFlight;
    },
    issuedAccessTokens,
    issuedRefreshTokens,
    isRefreshTokenValid: (refreshToken) => refreshTokens.has(refreshToken),
    revokeRefreshToken: (refreshToken) => void refreshTokens.delete(refreshToken),
    async [Symbol.asyncDispose]() {
      for (const item of pending) {
        clearTimeout(item.timer);
        item.res.destroy();
      }
      pending.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
