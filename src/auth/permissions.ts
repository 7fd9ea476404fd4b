/**
 * Permission checks as pure functions of (grants, request). Each returns a decision rather than throwing, so the
 * table-driven tests read as a specification; `require*` wrappers turn a refusal into the wire error.
 */
import { RoombusError } from "../protocol/errors.js";
import type { ApiName, Grants } from "./grants.js";

export function canJoinRoom(grants: Grants, room: string): boolean {
  return grants.room === "*" || grants.room === room;
}

export function hasApi(grants: Grants, api: ApiName): boolean {
  return grants.api[api] !== undefined && grants.api[api] !== null;
}

export function requireApi(grants: Grants, api: ApiName): void {
  if (!hasApi(grants, api)) {
    throw new RoombusError("permission_denied", `this token has no "${api}" grant; mint one with --api ${api}`);
  }
}

/**
 * The identity an op acts as: the caller, or `forIdentity` when the caller holds `api.admin`.
 * Naming yourself in `for_identity` needs no admin grant.
 */
export function actingIdentity(grants: Grants, forIdentity: string | undefined): string | undefined {
  if (forIdentity === undefined || forIdentity === grants.identity) return grants.identity;
  return hasApi(grants, "admin") ? forIdentity : undefined;
}

export function requireActingIdentity(grants: Grants, forIdentity: string | undefined): string {
  const acting = actingIdentity(grants, forIdentity);
  if (acting === undefined) {
    throw new RoombusError("permission_denied", "for_identity needs a token with the \"admin\" grant");
  }
  return acting;
}

/**
 * PROTOCOL.md §4: an absent or null allow-list allows any endpoint; otherwise an entry must match the client id and
 * the endpoint exactly, or by prefix when the entry's endpoint ends in `*`.
 */
export function isOAuthEndpointAllowed(grants: Grants, authorizationEndpoint: string, clientId: string): boolean {
  const allowList = grants.api.secrets?.request_oauth_token;
  if (allowList === undefined || allowList === null) return true;
  return allowList.some((entry) => {
    if (entry.client_id !== clientId) return false;
    if (entry.endpoint.endsWith("*")) return authorizationEndpoint.startsWith(entry.endpoint.slice(0, -1));
    return authorizationEndpoint === entry.endpoint;
  });
}
