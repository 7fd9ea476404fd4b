/**
 * `POST /v1/tokens`: participant tokens minted with the server's own signing key, for services a launcher starts.
 * A server that only verifies tokens from an identity provider (ROOMBUS_JWT_PUBLIC_KEY, ROOMBUS_JWKS_URL) holds no
 * signing key and answers 409.
 */
import { randomBytes } from "node:crypto";
import type { z } from "zod";
import type { ApiName, OAuthAllowEntry } from "../auth/grants.js";
import { mintToken } from "../auth/tokens.js";
import { ApiError } from "./api-error.js";
import type { mintTokenBody } from "./schemas.js";

export interface SigningSettings {
  /** The shared secret, or undefined when tokens come from an external issuer. */
  secret: Uint8Array | undefined;
  issuer: string;
  audience: string;
}

export interface MintedToken {
  token: string;
  /** Milliseconds since the epoch (the token's `exp`). */
  expires_at: number;
  jti: string;
}

export async function mintProjectToken(
  signing: SigningSettings,
  input: z.output<typeof mintTokenBody>,
  now = Date.now(),
): Promise<MintedToken> {
  if (signing.secret === undefined) {
    throw new ApiError(
      "conflict",
      "this server verifies tokens from an external issuer (ROOMBUS_JWT_PUBLIC_KEY or ROOMBUS_JWKS_URL) and holds no " +
        "signing key: mint tokens with your identity provider",
    );
  }
  const api = Object.keys(input.api) as ApiName[];
  // null and absent both mean "any endpoint" (PROTOCOL.md §4); mintToken writes the list only when given one.
  const allowList: OAuthAllowEntry[] | undefined = input.api.secrets?.request_oauth_token ?? undefined;
  const jti = `tok_${randomBytes(12).toString("base64url")}`;
  const issuedAt = new Date(Math.floor(now / 1000) * 1000);
  const token = await mintToken(
    { secret: signing.secret, issuer: signing.issuer, audience: signing.audience },
    {
      identity: input.identity,
      room: input.room,
      role: input.role,
      api,
      oauthAllowList: allowList,
      ttlSeconds: input.ttl_s,
      jti,
      now: issuedAt,
    },
  );
  return { token, expires_at: issuedAt.getTime() + input.ttl_s * 1000, jti };
}
