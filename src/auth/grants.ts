/** The claims of a roombus token (PROTOCOL.md §4), parsed into the grants the rest of the server checks. */
import { z } from "zod";
import { IDENTITY_PATTERN, ROOM_NAME_PATTERN, role, type Role } from "../protocol/common.js";

const oauthAllowEntry = z.object({ endpoint: z.string().min(1).max(2048), client_id: z.string().min(1).max(256) });

const apiClaim = z
  .object({
    messaging: z.object({}).optional(),
    toolkits: z.object({}).optional(),
    admin: z.object({}).optional(),
    secrets: z
      .object({ request_oauth_token: z.array(oauthAllowEntry).max(256).nullable().optional() })
      .optional(),
  })
  .default({});

export const tokenClaims = z.object({
  sub: z.string().regex(IDENTITY_PATTERN, "`sub` must be an identity"),
  room: z.union([z.literal("*"), z.string().regex(ROOM_NAME_PATTERN)], "`room` must be a room name or \"*\""),
  role: role.default("user"),
  api: apiClaim,
  exp: z.number(),
  jti: z.string().max(256).optional(),
});

export type ApiName = "messaging" | "toolkits" | "admin" | "secrets";
export const API_NAMES: readonly ApiName[] = ["messaging", "toolkits", "admin", "secrets"];

export interface OAuthAllowEntry {
  endpoint: string;
  client_id: string;
}

export interface Grants {
  identity: string;
  /** A room name, or "*" for any room. */
  room: string;
  role: Role;
  api: {
    messaging?: object;
    toolkits?: object;
    admin?: object;
    secrets?: { request_oauth_token?: OAuthAllowEntry[] | null };
  };
  /**
   * The last moment this server accepts the token, in milliseconds since the epoch: its `exp` plus the clock
   * tolerance the verifier allowed (grantsFromClaims alone gives `exp`).
   */
  expiresAt: number;
  jti?: string;
}

export function grantsFromClaims(claims: z.infer<typeof tokenClaims>): Grants {
  const grants: Grants = {
    identity: claims.sub,
    room: claims.room,
    role: claims.role,
    api: claims.api,
    expiresAt: claims.exp * 1000,
  };
  if (claims.jti !== undefined) grants.jti = claims.jti;
  return grants;
}
