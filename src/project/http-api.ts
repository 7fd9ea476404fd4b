/**
 * The project REST API under /v1 (docs/project-api.md): one table of routes, from which the dispatcher matches
 * requests and src/project/openapi.ts writes the OpenAPI document. The dispatcher is the one place where errors
 * become answers: an ApiError keeps its status and code, anything else becomes 500 `internal` with a correlation
 * id in the log. Every call that writes or returns values leaves an audit record before it is answered.
 */
import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { z } from "zod";
import type { Grants } from "../auth/grants.js";
import type { TokenVerifier } from "../auth/tokens.js";
import { ApiError } from "./api-error.js";
import { resolveEnvironment } from "./environment.js";
import { authenticate, errorReply, ForbiddenError, parseIfMatch, parseWith, readJson, sendReply, type Reply } from "./http.js";
import { collectionBytes, collectionView, createKeyCollection, deleteByName, findByName } from "./key-collections.js";
import { buildOpenApiDocument } from "./openapi.js";
import type { ProjectAudit, ProjectAuditEntry } from "./project-audit.js";
import { createSecret, deleteSecret, getSecret, secretView, updateSecret } from "./project-secrets.js";
import { mintProjectToken, type SigningSettings } from "./project-tokens.js";
import { isRecordId, type ProjectVault } from "./project-vault.js";
import { createPullSecret, dockerConfigOf, pullSecretView } from "./pull-secrets.js";
import {
  COLLECTION_NAME_PATTERN,
  createKeyCollectionBody,
  createPullSecretBody,
  createSecretBody,
  dockerConfig,
  errorBody,
  keyCollection,
  keyCollectionList,
  mintedToken,
  mintTokenBody,
  projectSecret,
  pullSecret,
  pullSecretList,
  resolvedEnvironment,
  resolveEnvironmentBody,
  secretList,
  updateSecretBody,
} from "./schemas.js";

export type Method = "GET" | "POST" | "PATCH" | "DELETE";

/** What a route handler gets: the caller, the path parameters, the body and headers, and its audit record to fill. */
export interface Call {
  grants: Grants;
  params: Record<string, string>;
  request: IncomingMessage;
  /** The body, validated: 400 naming the field, 413 past the limit. */
  body<S extends z.ZodType>(schema: S): Promise<z.output<S>>;
  /** The audit record of this call (audited routes only): add the target's fields and a value digest. */
  audit: ProjectAuditEntry;
}

export interface RouteDocs {
  summary: string;
  /** The request body's schema, if it takes one. */
  request?: z.ZodType;
  /** Status → [description, schema of the answer (none for 204)]. Errors are added by the document builder. */
  responses: Record<number, [string, z.ZodType?]>;
  /** Whether the route reads `If-Match`. */
  ifMatch?: boolean;
  /** Path parameters and what they hold. */
  params?: Record<string, string>;
}

export interface Route {
  method: Method;
  /** OpenAPI style: `/v1/secrets/{id}`. */
  path: string;
  /** The audit op, for routes that write or return values. */
  audit?: string;
  /** Served without a token (the OpenAPI document). */
  public?: boolean;
  docs: RouteDocs;
  handle(call: Call): Promise<Reply>;
}

const ETAG = (version: number) => ({ etag: `"${version}"` });

/** The routes, in the order the document lists them (the OpenAPI route is added by createProjectHttpApi). */
export function projectRoutes(vault: ProjectVault, audit: ProjectAudit, signing: SigningSettings): Route[] {
  const idParam = { id: "the secret's id (sec_…)" };
  const nameParam = (noun: string) => ({ name: `the ${noun}'s name` });
  return [
    {
      method: "POST",
      path: "/v1/secrets",
      audit: "project.secrets.create",
      docs: {
        summary: "Store a project secret",
        request: createSecretBody,
        responses: { 201: ["the record, without the value", projectSecret] },
      },
      async handle(call) {
        const input = await call.body(createSecretBody);
        call.audit.target.name = input.name;
        call.audit.valueDigest = audit.digest(input.value);
        const record = await createSecret(vault, input);
        Object.assign(call.audit.target, { id: record.id, scope: input.scope, profile_ids: input.profile_ids.join(",") });
        return { status: 201, body: secretView(record), headers: { ...ETAG(record.version), location: `/v1/secrets/${record.id}` } };
      },
    },
    {
      method: "GET",
      path: "/v1/secrets",
      docs: {
        summary: "List the project secrets (never their values)",
        responses: { 200: ["every project secret, by name", secretList] },
      },
      async handle() {
        return { status: 200, body: { secrets: (await vault.list("secret")).map(secretView) } };
      },
    },
    {
      method: "GET",
      path: "/v1/secrets/{id}",
      docs: {
        summary: "Read a project secret's record (never its value)",
        params: idParam,
        responses: { 200: ["the record", projectSecret] },
      },
      async handle(call) {
        const record = await getSecret(vault, call.params.id!);
        return { status: 200, body: secretView(record), headers: ETAG(record.version) };
      },
    },
    {
      method: "PATCH",
      path: "/v1/secrets/{id}",
      audit: "project.secrets.update",
      docs: {
        summary: "Change a project secret's value, scope or profiles; the next resolution sees the change",
        params: idParam,
        request: updateSecretBody,
        ifMatch: true,
        responses: { 200: ["the record, at its new version", projectSecret] },
      },
      async handle(call) {
        const ifMatch = parseIfMatch(call.request);
        const patch = await call.body(updateSecretBody);
        if (patch.value !== undefined) call.audit.valueDigest = audit.digest(patch.value);
        if (patch.scope !== undefined) call.audit.target.scope = patch.scope;
        if (patch.profile_ids !== undefined) call.audit.target.profile_ids = patch.profile_ids.join(",");
        const record = await updateSecret(vault, call.params.id!, patch, ifMatch);
        call.audit.target.name = record.name;
        return { status: 200, body: secretView(record), headers: ETAG(record.version) };
      },
    },
    {
      method: "DELETE",
      path: "/v1/secrets/{id}",
      audit: "project.secrets.delete",
      docs: { summary: "Delete a project secret", params: idParam, ifMatch: true, responses: { 204: ["deleted"] } },
      async handle(call) {
        await deleteSecret(vault, call.params.id!, parseIfMatch(call.request));
        return { status: 204 };
      },
    },
    {
      method: "POST",
      path: "/v1/keys",
      audit: "project.keys.create",
      docs: {
        summary: "Store a key collection: KEY=value pairs a service gets as environment variables",
        request: createKeyCollectionBody,
        responses: { 201: ["the collection, with key names and without values", keyCollection] },
      },
      async handle(call) {
        const input = await call.body(createKeyCollectionBody);
        call.audit.target.name = input.name;
        const record = await createKeyCollection(vault, input);
        call.audit.target.id = record.id;
        call.audit.target.keys = Object.keys(input.data).sort().join(",");
        call.audit.valueDigest = audit.digest(collectionBytes(input.data));
        return { status: 201, body: collectionView(record), headers: ETAG(record.version) };
      },
    },
    {
      method: "GET",
      path: "/v1/keys",
      docs: {
        summary: "List the key collections (key names, never values)",
        responses: { 200: ["every collection, by name", keyCollectionList] },
      },
      async handle() {
        return { status: 200, body: { keys: (await vault.list("keys")).map(collectionView) } };
      },
    },
    {
      method: "DELETE",
      path: "/v1/keys/{name}",
      audit: "project.keys.delete",
      docs: { summary: "Delete a key collection", params: nameParam("collection"), responses: { 204: ["deleted"] } },
      async handle(call) {
        const record = await deleteByName(vault, "keys", call.params.name!, "key collection");
        call.audit.target.id = record.id;
        return { status: 204 };
      },
    },
    {
      method: "POST",
      path: "/v1/pull-secrets",
      audit: "project.pull_secrets.create",
      docs: {
        summary: "Store an image-pull secret (a registry credential, only ever handed to whatever pulls images)",
        request: createPullSecretBody,
        responses: { 201: ["the record, without the password", pullSecret] },
      },
      async handle(call) {
        const input = await call.body(createPullSecretBody);
        Object.assign(call.audit.target, { name: input.name, server: input.server, username: input.username });
        call.audit.valueDigest = audit.digest(input.password);
        const record = await createPullSecret(vault, input);
        call.audit.target.id = record.id;
        return { status: 201, body: pullSecretView(record) };
      },
    },
    {
      method: "GET",
      path: "/v1/pull-secrets",
      docs: {
        summary: "List the image-pull secrets (never their passwords)",
        responses: { 200: ["every pull secret, by name", pullSecretList] },
      },
      async handle() {
        return { status: 200, body: { pull_secrets: (await vault.list("pull")).map(pullSecretView) } };
      },
    },
    {
      method: "DELETE",
      path: "/v1/pull-secrets/{name}",
      audit: "project.pull_secrets.delete",
      docs: { summary: "Delete an image-pull secret", params: nameParam("pull secret"), responses: { 204: ["deleted"] } },
      async handle(call) {
        const record = await deleteByName(vault, "pull", call.params.name!, "pull secret");
        call.audit.target.id = record.id;
        return { status: 204 };
      },
    },
    {
      method: "POST",
      path: "/v1/pull-secrets/{name}/docker-config",
      audit: "project.pull_secrets.docker_config",
      docs: {
        summary: "The pull secret as Docker's config.json, for whatever pulls images (POST, so nothing caches it)",
        params: nameParam("pull secret"),
        responses: { 200: ["Docker's config.json", dockerConfig] },
      },
      async handle(call) {
        const record = await findByName(vault, "pull", call.params.name!, "pull secret");
        Object.assign(call.audit.target, { id: record.id, server: String(record.meta.server) });
        return { status: 200, body: await dockerConfigOf(vault, record) };
      },
    },
    {
      method: "POST",
      path: "/v1/environment",
      audit: "project.environment.resolve",
      docs: {
        summary: "The values a starting process gets: project secrets in scope for the profile, and the listed key collections",
        request: resolveEnvironmentBody,
        responses: { 200: ["the values", resolvedEnvironment] },
      },
      async handle(call) {
        const input = await call.body(resolveEnvironmentBody);
        if (input.profile_id !== undefined) call.audit.target.profile_id = input.profile_id;
        if (input.keys !== undefined) call.audit.target.keys = input.keys.join(",");
        const resolved = await resolveEnvironment(vault, input);
        call.audit.target.names = Object.keys(resolved.project).sort().join(",");
        return { status: 200, body: resolved };
      },
    },
    {
      method: "POST",
      path: "/v1/tokens",
      audit: "project.tokens.mint",
      docs: {
        summary: "Mint a participant token with the server's signing key (409 when the server only verifies external tokens)",
        request: mintTokenBody,
        responses: { 201: ["the token", mintedToken] },
      },
      async handle(call) {
        const input = await call.body(mintTokenBody);
        Object.assign(call.audit.target, {
          room: input.room,
          identity: input.identity,
          role: input.role,
          api: Object.keys(input.api).join(","),
          ttl_s: String(input.ttl_s),
        });
        const minted = await mintProjectToken(signing, input);
        call.audit.target.jti = minted.jti;
        return { status: 201, body: minted };
      },
    },
  ];
}

/** `GET /v1/openapi.json`: served without a token, built once from the table it is part of. */
function openApiRoute(routes: () => readonly Route[]): Route {
  let document: unknown;
  return {
    method: "GET",
    path: "/v1/openapi.json",
    public: true,
    docs: { summary: "This API as an OpenAPI 3.1 document", responses: { 200: ["the document"] } },
    async handle() {
      document ??= buildOpenApiDocument(routes(), errorBody);
      return { status: 200, body: document };
    },
  };
}

export interface ProjectApiDeps {
  vault: ProjectVault;
  audit: ProjectAudit;
  verifier: TokenVerifier;
  signing: SigningSettings;
  logger: Logger;
}

export interface ProjectHttpApi {
  /** For Transport's `httpRoutes`: answers everything under /v1/, returns false for anything else. */
  route: (request: IncomingMessage, response: ServerResponse) => Promise<boolean>;
  /** Refuses a revoked token id from now on (the WebSocket upgrade refuses it too). */
  revoke: (jti: string) => void;
}

interface CompiledRoute extends Route {
  pattern: RegExp;
  paramNames: string[];
}

export function createProjectHttpApi(deps: ProjectApiDeps): ProjectHttpApi {
  const table = projectRoutes(deps.vault, deps.audit, deps.signing);
  table.push(openApiRoute(() => table));
  const routes = table.map(compile);
  const revoked = new Set<string>();

  async function route(request: IncomingMessage, response: ServerResponse): Promise<boolean> {
    const path = (request.url ?? "/").split("?", 1)[0]!;
    if (!path.startsWith("/v1/")) return false;
    const started = Date.now();
    let reply: Reply;
    let routeName = "unmatched";
    let actor: string | undefined;
    try {
      const matched = match(routes, request.method ?? "GET", path);
      routeName = `${matched.route.method} ${matched.route.path}`;
      const outcome = await serve(matched.route, matched.params, request);
      reply = outcome.reply;
      actor = outcome.actor;
    } catch (error) {
      reply = errorReply(toApiError(error, deps.logger));
      if (error instanceof MethodNotAllowed) reply.headers = { ...reply.headers, allow: error.allowed.join(", ") };
    }
    sendReply(response, reply);
    deps.logger.debug({ route: routeName, status: reply.status, actor, ms: Date.now() - started }, "project api call");
    return true;
  }

  async function serve(
    route: CompiledRoute,
    params: Record<string, string>,
    request: IncomingMessage,
  ): Promise<{ reply: Reply; actor?: string }> {
    if (route.public === true) return { reply: await route.handle(publicCall(params, request)) };
    const at = Date.now();
    let grants: Grants;
    try {
      grants = await authenticate(request, deps.verifier, (jti) => revoked.has(jti));
    } catch (error) {
      // A refused admin is audited under its identity; a caller without a valid token has none to name.
      if (error instanceof ForbiddenError && route.audit !== undefined) {
        await deps.audit.append({ op: route.audit, actor: error.grants.identity, target: auditParams(params) }, at, error.code, error.status);
      }
      throw error;
    }
    const entry: ProjectAuditEntry = { op: route.audit ?? "", actor: grants.identity, target: auditParams(params) };
    const call: Call = { grants, params, request, body: async (schema) => parseWith(schema, await readJson(request)), audit: entry };
    try {
      const reply = await route.handle(call);
      if (route.audit !== undefined) await deps.audit.append(entry, at, "ok");
      return { reply, actor: grants.identity };
    } catch (error) {
      const apiError = toApiError(error, deps.logger);
      if (route.audit !== undefined) await deps.audit.append(entry, at, apiError.code, apiError.status);
      return { reply: errorReply(apiError), actor: grants.identity };
    }
  }

  return { route, revoke: (jti) => void revoked.add(jti) };
}

/**
 * The path parameters as the audit record names them: a parameter that cannot be an id or a name is left out, since
 * the caller may have pasted anything (a value, even) into the path.
 */
function auditParams(params: Record<string, string>): Record<string, string> {
  const target: Record<string, string> = {};
  if (params.id !== undefined && isRecordId("secret", params.id)) target.id = params.id;
  if (params.name !== undefined && COLLECTION_NAME_PATTERN.test(params.name)) target.name = params.name;
  return target;
}

function publicCall(params: Record<string, string>, request: IncomingMessage): Call {
  return {
    grants: { identity: "", room: "", role: "user", api: {}, expiresAt: 0 },
    params,
    request,
    body: async (schema) => parseWith(schema, await readJson(request)),
    audit: { op: "", actor: "", target: {} },
  };
}

function compile(route: Route): CompiledRoute {
  const paramNames: string[] = [];
  const source = route.path.replace(/[.]/g, "\\.").replace(/\{(\w+)\}/g, (_, name: string) => {
    paramNames.push(name);
    return "([^/]+)";
  });
  return { ...route, pattern: new RegExp(`^${source}$`), paramNames };
}

/** The route for this method and path: 404 when no route has the path, 405 (with Allow) when none has the method. */
function match(routes: CompiledRoute[], method: string, path: string): { route: CompiledRoute; params: Record<string, string> } {
  const allowed: string[] = [];
  for (const route of routes) {
    const found = route.pattern.exec(path);
    if (found === null) continue;
    if (route.method !== method) {
      allowed.push(route.method);
      continue;
    }
    const params: Record<string, string> = {};
    route.paramNames.forEach((name, index) => {
      params[name] = decodeParam(found[index + 1]!);
    });
    return { route, params };
  }
  if (allowed.length > 0) throw new MethodNotAllowed(allowed);
  throw new ApiError("not_found", "no such endpoint: the API is described at GET /v1/openapi.json");
}

function decodeParam(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new ApiError("not_found", "the path is not valid percent-encoding");
  }
}

class MethodNotAllowed extends ApiError {
  constructor(readonly allowed: string[]) {
    super("method_not_allowed", `this endpoint takes ${allowed.join(", ")}`);
  }
}

function toApiError(error: unknown, logger: Logger): ApiError {
  if (error instanceof ApiError) return error;
  const correlationId = randomBytes(6).toString("hex");
  logger.error({ err: error, correlation_id: correlationId }, "project api call failed");
  return new ApiError("internal", `internal error (correlation id ${correlationId}); the server log has the details`);
}
