/**
 * Token verification and minting with jose. Algorithms are an explicit allow-list chosen by the kind of key, so a
 * token signed with HS256 using a public key's bytes, or with `alg: none`, is refused whatever its claims say.
 */
import { createPublicKey, type KeyObject } from "node:crypto";
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, SignJWT, type JWTVerifyGetKey } from "jose";
import { grantsFromClaims, tokenClaims, type ApiName, type Grants, type OAuthAllowEntry } from "./grants.js";
import type { Role } from "../protocol/common.js";

/** PROTOCOL.md §4 allows at most 30 s. */
export const CLOCK_TOLERANCE_SECONDS = 30;

export type TokenKey =
  | { kind: "shared-secret"; secret: Uint8Array }
  | { kind: "public-key"; pem: string }
  | { kind: "jwks"; url: string };

export interface TokenSettings {
  key: TokenKey;
  issuer: string;
  audience: string;
  /** Allowed clock skew between the token issuer and this server, 0–30 s (default 30). */
  clockToleranceSeconds?: number;
}

export type TokenFailure =
  | "missing"
  | "malformed"
  | "bad_signature"
  | "expired"
  | "not_yet_valid"
  | "bad_claims"
  /** The keys could not be fetched (JWKS unreachable): not the token's fault, try again. */
  | "unavailable";

export class TokenError extends Error {
  constructor(
    readonly reason: TokenFailure,
    message: string,
  ) {
    super(message);
    this.name = "TokenError";
  }
}

export interface TokenVerifier {
  /** Resolves to the token's grants, or rejects with a TokenError. */
  verify(token: string): Promise<Grants>;
}

const SHARED_SECRET_ALGORITHMS = ["HS256"];
const PUBLIC_KEY_ALGORITHMS = ["ES256", "EdDSA"];

export function createTokenVerifier(settings: TokenSettings, now: () => Date = () => new Date()): TokenVerifier {
  const tolerance = Math.min(Math.max(settings.clockToleranceSeconds ?? CLOCK_TOLERANCE_SECONDS, 0), CLOCK_TOLERANCE_SECONDS);
  let key: Uint8Array | KeyObject | JWTVerifyGetKey;
  let algorithms: string[];
  switch (settings.key.kind) {
    case "shared-secret":
      key = settings.key.secret;
      algorithms = SHARED_SECRET_ALGORITHMS;
      break;
    case "public-key":
      key = createPublicKey(settings.key.pem);
      algorithms = PUBLIC_KEY_ALGORITHMS;
      break;
    case "jwks":
      key = createRemoteJWKSet(new URL(settings.key.url));
      algorithms = PUBLIC_KEY_ALGORITHMS;
      break;
  }

  return {
    async verify(token: string): Promise<Grants> {
      if (token.length === 0) throw new TokenError("missing", "no token");
      let payload: unknown;
      try {
        const verified = await jwtVerify(token, key as Uint8Array, {
          algorithms,
          issuer: settings.issuer,
          audience: settings.audience,
          clockTolerance: tolerance,
          requiredClaims: ["exp", "iat", "iss", "aud", "sub"],
          currentDate: now(),
        });
        payload = verified.payload;
      } catch (error) {
        throw tokenErrorFrom(error);
      }
      const claims = tokenClaims.safeParse(payload);
      if (!claims.success) {
        const field = claims.error.issues[0]?.path.join(".") ?? "claims";
        throw new TokenError("bad_claims", `token claim "${field}" is missing or invalid`);
      }
      // A token accepted within the skew window stays accepted for the rest of it: the session closes with 4401 at
      // the same moment a new upgrade with this token would be refused.
      const grants = grantsFromClaims(claims.data);
      grants.expiresAt += tolerance * 1000;
      return grants;
    },
  };
}

function tokenErrorFrom(error: unknown): TokenError {
  if (error instanceof joseErrors.JWTExpired) return new TokenError("expired", "token expired");
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    if (error.claim === "nbf") return new TokenError("not_yet_valid", "token not valid yet (nbf)");
    return new TokenError("bad_claims", `token claim "${error.claim}" is missing or invalid`);
  }
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) {
    return new TokenError("bad_signature", "token signature does not verify");
  }
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return new TokenError("bad_signature", "token algorithm not allowed");
  if (error instanceof joseErrors.JWKSNoMatchingKey) return new TokenError("bad_signature", "no key matches the token");
  const keySetUnreachable =
    error instanceof joseErrors.JWKSTimeout ||
    error instanceof joseErrors.JWKSInvalid ||
    // A non-200 answer from the key set URL: jose raises a generic error for it.
    (error instanceof joseErrors.JOSEError && error.code === "ERR_JOSE_GENERIC" && /JSON Web Key Set/.test(error.message)) ||
    !(error instanceof joseErrors.JOSEError);
  if (keySetUnreachable) {
    return new TokenError("unavailable", "the token keys cannot be fetched right now");
  }
  return new TokenError("malformed", "token is malformed");
}

export interface MintRequest {
  identity: string;
  room: string;
  role?: Role;
  api?: ApiName[];
  /** Allow-list for `api.secrets.request_oauth_token`; omitted = any endpoint. */
  oauthAllowList?: OAuthAllowEntry[];
  ttlSeconds: number;
  jti?: string;
  now?: Date;
}

/** Mints an HS256 token with the shared secret; roombus only mints with a shared secret. */
export async function mintToken(
  settings: { secret: Uint8Array; issuer: string; audience: string },
  request: MintRequest,
): Promise<string> {
  const api: Record<string, object> = {};
  for (const name of request.api ?? []) {
    api[name] = name === "secrets" && request.oauthAllowList ? { request_oauth_token: request.oauthAllowList } : {};
  }
  const nowSeconds = Math.floor((request.now ?? new Date()).getTime() / 1000);
  const jwt = new SignJWT({ room: request.room, role: request.role ?? "user", api })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(request.identity)
    .setIssuer(settings.issuer)
    .setAudience(settings.audience)
    .setIssuedAt(nowSeconds)
    .setExpirationTime(nowSeconds + request.ttlSeconds);
  if (request.jti !== undefined) jwt.setJti(request.jti);
  return jwt.sign(settings.secret);
}
