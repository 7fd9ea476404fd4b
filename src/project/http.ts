/**
 * The HTTP edges of the project API: who is calling (the bearer token, verified as a WebSocket upgrade's is), the
 * body (bounded, JSON, validated with a schema that names the bad field) and the answer (JSON, never cached).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { z } from "zod";
import type { Grants } from "../auth/grants.js";
import { hasApi } from "../auth/permissions.js";
import { TokenError, type TokenVerifier } from "../auth/tokens.js";
import { ApiError, jsonPath } from "./api-error.js";
import { MAX_BODY_BYTES } from "./schemas.js";

/** Past the body limit, this much more is read and dropped so the caller can read the 413; beyond it the socket is cut. */
const MAX_DISCARD_BYTES = 16 * 1024 * 1024;

const MINT_ADVICE = "mint one with `roombus token --identity ID --room '*' --api admin`";

/**
 * The caller's grants, if its bearer token is valid (401 otherwise, 503 when the key set cannot be fetched) and
 * makes it a project admin: `api.admin` for every room (403 otherwise; a room's admin is not the project's).
 */
export async function authenticate(
  request: IncomingMessage,
  verifier: TokenVerifier,
  isRevoked: (jti: string) => boolean,
): Promise<Grants> {
  const header = request.headers.authorization;
  if (header === undefined) throw new ApiError("unauthorized", `no token: send "Authorization: Bearer <token>"; ${MINT_ADVICE}`);
  const [scheme, token] = header.split(" ", 2);
  if (scheme?.toLowerCase() !== "bearer" || token === undefined || token.length === 0) {
    throw new ApiError("unauthorized", `the Authorization header must be "Bearer <token>"; ${MINT_ADVICE}`);
  }
  let grants: Grants;
  try {
    grants = await verifier.verify(token);
  } catch (error) {
    if (error instanceof TokenError && error.reason === "unavailable") {
      throw new ApiError("unavailable", "cannot verify tokens right now (the key set is unreachable); try again");
    }
    const detail = error instanceof TokenError ? error.message : "token refused";
    throw new ApiError("unauthorized", `${detail}; ${MINT_ADVICE}`);
  }
  if (grants.jti !== undefined && isRevoked(grants.jti)) throw new ApiError("unauthorized", `token revoked; ${MINT_ADVICE}`);
  if (grants.room !== "*" || !hasApi(grants, "admin")) {
    throw new ForbiddenError(grants, `this token is not a project admin (it needs the admin grant for room "*"); ${MINT_ADVICE}`);
  }
  return grants;
}

/** A 403 that still knows who called, so the refusal can be audited under their identity. */
export class ForbiddenError extends ApiError {
  constructor(
    readonly grants: Grants,
    message: string,
  ) {
    super("forbidden", message);
  }
}

/**
 * The body as JSON: `{}` when empty, 413 past MAX_BODY_BYTES (declared or counted), 400 when it is not JSON.
 * An oversized body is still read to its end (up to MAX_DISCARD_BYTES) so that the caller is not cut off before
 * it can read the 413.
 */
export async function readJson(request: IncomingMessage): Promise<unknown> {
  const bytes = await readBody(request);
  if (bytes.byteLength === 0) return {};
  try {
    return JSON.parse(bytes.toString("utf8")) as unknown;
  } catch {
    throw new ApiError("invalid_request", "the body is not valid JSON; send Content-Type: application/json with a JSON object");
  }
}

function readBody(request: IncomingMessage): Promise<Buffer> {
  const tooLarge = () => new ApiError("too_large", `the body is larger than ${MAX_BODY_BYTES} bytes`);
  return new Promise((resolve, reject) => {
    const declared = Number(request.headers["content-length"] ?? "0");
    if (declared > MAX_DISCARD_BYTES) {
      request.resume();
      reject(tooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let total = 0;
    let over = declared > MAX_BODY_BYTES;
    request.on("data", (chunk: Buffer) => {
      total += chunk.byteLength;
      if (total > MAX_DISCARD_BYTES) {
        request.destroy();
        reject(tooLarge());
        return;
      }
      if (total > MAX_BODY_BYTES) over = true;
      if (!over) chunks.push(chunk);
    });
    request.on("end", () => (over ? reject(tooLarge()) : resolve(Buffer.concat(chunks))));
    request.on("error", reject);
  });
}

/** Validates `value` with `schema`; the first problem becomes a 400 naming its field (never quoting the input). */
export function parseWith<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  // An unknown field is reported at its own path, so the field is the one to remove.
  const path = issue.code === "unrecognized_keys" ? [...issue.path, issue.keys[0] ?? ""] : issue.path;
  const field = path.length === 0 ? undefined : jsonPath(path);
  const message =
    issue.code === "unrecognized_keys"
      ? "is not a field of this request"
      : issue.code === "invalid_type" && issue.message.endsWith("received undefined")
        ? "is required"
        : issue.message;
  return failValidation(field, message);
}

function failValidation(field: string | undefined, message: string): never {
  throw new ApiError("invalid_request", field === undefined ? message : `${field}: ${message}`, field);
}

/**
 * The version an `If-Match` header asks for: `"3"` (as ETag gives it), `W/"3"` or `3`; undefined when absent or
 * `*` (any existing record: the route's 404 covers "none"). 400 for anything else.
 */
export function parseIfMatch(request: IncomingMessage): number | undefined {
  const header = request.headers["if-match"];
  if (header === undefined || header.trim() === "*") return undefined;
  const match = /^\s*(?:W\/)?"?(\d{1,10})"?\s*$/.exec(header);
  const version = match === null ? Number.NaN : Number(match[1]);
  if (!Number.isSafeInteger(version) || version < 1) {
    throw new ApiError("invalid_request", 'If-Match must be the version in quotes, as the ETag header gives it: If-Match: "3"', "If-Match");
  }
  return version;
}

export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

const RESPONSE_HEADERS = {
  "content-type": "application/json; charset=utf-8",
  // Answers may hold values (environment, docker config, tokens): no cache may keep them.
  "cache-control": "no-store",
  "x-content-type-options": "nosniff",
};

export function sendReply(response: ServerResponse, reply: Reply): void {
  if (response.headersSent) return;
  if (reply.body === undefined) {
    response.writeHead(reply.status, { "cache-control": "no-store", ...reply.headers });
    response.end();
    return;
  }
  const body = JSON.stringify(reply.body);
  response.writeHead(reply.status, { ...RESPONSE_HEADERS, "content-length": Buffer.byteLength(body), ...reply.headers });
  response.end(body);
}

export function errorReply(error: ApiError): Reply {
  const headers: Record<string, string> = {};
  // RFC 6750 §3: a 401 names the scheme the caller should use.
  if (error.status === 401) headers["www-authenticate"] = 'Bearer realm="roombus", error="invalid_token"';
  // A 413 that came before the whole body was read ends the connection: what follows is not a request.
  if (error.status === 413) headers.connection = "close";
  return { status: error.status, body: error.toJSON(), headers };
}
