/**
 * Authenticates a WebSocket upgrade before it completes (PROTOCOL.md §1). Every refusal is a plain HTTP answer
 * with a status and one line saying what to do; the token is never echoed.
 */
import type { IncomingMessage } from "node:http";
import type { Grants } from "../auth/grants.js";
import { canJoinRoom } from "../auth/permissions.js";
import { TokenError, type TokenVerifier } from "../auth/tokens.js";
import { ROOM_NAME_PATTERN } from "../protocol/common.js";

export const SUBPROTOCOL = "roombus.v1";
const TOKEN_SUBPROTOCOL_PREFIX = "roombus.token.";
const ROOM_PATH = /^\/rooms\/([^/]+)$/;

export type UpgradeDecision =
  | { ok: true; grants: Grants; room: string }
  | { ok: false; status: 400 | 401 | 403 | 404 | 503; message: string };


export interface UpgradePolicy {
  verifier: TokenVerifier;
  /** Exact origins allowed besides the server's own; empty = same origin only (non-browser clients send none). */
  allowedOrigins: readonly string[];
  isDraining(): boolean;
  isRevoked(grants: Grants): boolean;
}

export async function authenticateUpgrade(request: IncomingMessage, policy: UpgradePolicy): Promise<UpgradeDecision> {
  const path = (request.url ?? "/").split("?", 1)[0]!;
  const match = ROOM_PATH.exec(path);
  if (match === null) return { ok: false, status: 404, message: "connect to /rooms/{room}" };
  let room: string;
  try {
    room = decodeURIComponent(match[1]!);
  } catch {
    return { ok: false, status: 400, message: "bad room name" };
  }
  if (!ROOM_NAME_PATTERN.test(room)) {
    return { ok: false, status: 400, message: "bad room name: use letters, digits, '.', '_' or '-' (at most 128)" };
  }
  if (policy.isDraining()) return { ok: false, status: 503, message: "this node is shutting down; connect again" };
  if (!isOriginAllowed(request, policy.allowedOrigins)) {
    return { ok: false, status: 403, message: "origin not allowed: add it to ROOMBUS_ALLOWED_ORIGINS" };
  }

  const token = tokenFrom(request);
  if (token === undefined) {
    return {
      ok: false,
      status: 401,
      message: "no token: send 'Authorization: Bearer <token>' or the subprotocol roombus.token.<token>",
    };
  }
  let grants: Grants;
  try {
    grants = await policy.verifier.verify(token);
  } catch (error) {
    if (error instanceof TokenError && error.reason === "unavailable") {
      return { ok: false, status: 503, message: "cannot verify tokens right now (the key set is unreachable); try again" };
    }
    const detail = error instanceof TokenError ? error.message : "token refused";
    return { ok: false, status: 401, message: `${detail}; mint a new token with "roombus token"` };
  }
  if (policy.isRevoked(grants)) return { ok: false, status: 401, message: "token revoked" };
  if (!canJoinRoom(grants, room)) return { ok: false, status: 403, message: "this token is not for this room" };
  return { ok: true, grants, room };
}

function tokenFrom(request: IncomingMessage): string | undefined {
  const authorization = request.headers.authorization;
  if (authorization !== undefined) {
    const [scheme, value] = authorization.split(" ", 2);
    return scheme?.toLowerCase() === "bearer" && value !== undefined && value.length > 0 ? value : undefined;
  }
  const offered = request.headers["sec-websocket-protocol"];
  if (offered === undefined) return undefined;
  for (const protocol of offered.split(",")) {
    const trimmed = protocol.trim();
    if (trimmed.startsWith(TOKEN_SUBPROTOCOL_PREFIX)) return trimmed.slice(TOKEN_SUBPROTOCOL_PREFIX.length);
  }
  return undefined;
}

function isOriginAllowed(request: IncomingMessage, allowedOrigins: readonly string[]): boolean {
  const origin = request.headers.origin;
  if (origin === undefined) return true;
  if (allowedOrigins.includes("*") || allowedOrigins.includes(origin)) return true;
  try {
    return new URL(origin).host === request.headers.host;
  } catch {
    return false;
  }
}

/** Picks our subprotocol when offered; the token subprotocol is never echoed. */
export function chooseSubprotocol(offered: Set<string>): string | false {
  return offered.has(SUBPROTOCOL) ? SUBPROTOCOL : false;
}
