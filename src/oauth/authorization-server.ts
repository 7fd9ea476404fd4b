/**
 * The authorization server and client as oauth4webapi sees them, built from a request's `OAuthClient`. There is no
 * discovery: PROTOCOL.md names the two endpoints, so the issuer is inferred (see `issuerFor`).
 */
import * as oauth from "oauth4webapi";
import { RoombusError } from "../protocol/errors.js";
import type { OAuthClient } from "../protocol/ops.js";

/** How long one call to a token endpoint may take before it counts as failed (1008), unless configured. */
export const DEFAULT_TOKEN_ENDPOINT_TIMEOUT_MS = 10_000;

const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]"]);

/**
 * Endpoints must be https, except on this machine's loopback (development and tests). Refusing early also keeps a
 * token request from being aimed at arbitrary plain-http services.
 */
export function checkEndpoint(field: "authorization_endpoint" | "token_endpoint" | "redirect_uri", value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new RoombusError("invalid_request", `${field} is not a URL`);
  }
  if (url.protocol === "https:") return url;
  if (url.protocol === "http:" && LOOPBACK_HOSTS.has(url.hostname)) return url;
  throw new RoombusError("invalid_request", `${field} must be an https URL (plain http only on loopback)`);
}

/**
 * The issuer: the `iss` the authorization response carried (RFC 9207) when the authorization endpoint lives under it,
 * else the endpoint's origin. With it, oauth4webapi's checks of `iss` and of ID token issuers hold for providers
 * whose issuer is their origin (most) or a path prefix of their endpoints (Keycloak-style realms).
 */
export function issuerFor(client: OAuthClient, responseIss?: string): string {
  const endpoint = new URL(client.authorization_endpoint);
  if (responseIss !== undefined) {
    try {
      const iss = new URL(responseIss);
      if (iss.origin === endpoint.origin && endpoint.pathname.startsWith(iss.pathname.replace(/\/$/, ""))) return responseIss;
    } catch {
      // Not a URL: fall through to the origin, and oauth4webapi will refuse the mismatch.
    }
  }
  return endpoint.origin;
}

export function authorizationServer(client: OAuthClient, issuer: string): oauth.AuthorizationServer {
  return {
    issuer,
    authorization_endpoint: client.authorization_endpoint,
    token_endpoint: client.token_endpoint,
  };
}

export function oauthClient(client: OAuthClient): oauth.Client {
  return { client_id: client.client_id };
}

export function clientAuthentication(client: OAuthClient): oauth.ClientAuth {
  return client.client_secret === undefined ? oauth.None() : oauth.ClientSecretPost(client.client_secret);
}

export function requestOptions(endpoint: string, timeoutMs: number): oauth.TokenEndpointRequestOptions {
  return {
    signal: AbortSignal.timeout(timeoutMs),
    [oauth.allowInsecureRequests]: new URL(endpoint).protocol === "http:",
  };
}

/** The complete authorization URL of PROTOCOL.md §6 step 2. */
export function buildAuthorizationUrl(
  client: OAuthClient,
  redirectUri: string,
  state: string,
  codeChallenge: string | undefined,
): string {
  const url = new URL(client.authorization_endpoint);
  url.searchParams.set("response_type", "code");
  url.searchParams.set("client_id", client.client_id);
  url.searchParams.set("redirect_uri", redirectUri);
  if (client.scopes !== undefined && client.scopes.length > 0) url.searchParams.set("scope", client.scopes.join(" "));
  url.searchParams.set("state", state);
  if (codeChallenge !== undefined) {
    url.searchParams.set("code_challenge", codeChallenge);
    url.searchParams.set("code_challenge_method", "S256");
  }
  return url.toString();
}

export type TokenFailure = { kind: "invalid_grant" } | { kind: "upstream"; detail: string };

/**
 * Classifies what went wrong at a token endpoint. The detail names the failure (status, error code, "not JSON"),
 * never a token or a response body.
 */
export function classifyTokenError(error: unknown): TokenFailure {
  if (error instanceof oauth.ResponseBodyError) {
    if (error.error === "invalid_grant") return { kind: "invalid_grant" };
    return { kind: "upstream", detail: `the token endpoint answered ${error.status} ${error.error}` };
  }
  if (error instanceof oauth.OperationProcessingError) {
    if (error.code === oauth.RESPONSE_IS_NOT_JSON) return { kind: "upstream", detail: "the token endpoint did not answer JSON" };
    return { kind: "upstream", detail: `the token endpoint's answer was not usable (${error.code ?? "invalid"})` };
  }
  if (error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError")) {
    return { kind: "upstream", detail: "the token endpoint did not answer in time" };
  }
  return { kind: "upstream", detail: "the token endpoint could not be reached" };
}
