/**
 * The OpenAPI 3.1 document of the project API, generated from the route table and its zod schemas (zod 4's
 * `z.toJSONSchema`, JSON Schema 2020-12 as OpenAPI 3.1 uses), so the document lists exactly what is served.
 */
import { z } from "zod";
import { readVersion } from "../cli/version.js";
import type { Route } from "./http-api.js";
import { MAX_BODY_BYTES } from "./schemas.js";

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: "invalid_request: the body, a path parameter or If-Match is not valid; `field` names it",
  401: "unauthorized: no token, or an invalid, expired or revoked one",
  403: "forbidden: the token is valid but not a project admin (api.admin for room \"*\")",
  404: "not_found: no such record (or collection: `field` names it)",
  409: "conflict: the name is taken, the version does not match If-Match, or (tokens) the server cannot sign",
  413: `too_large: the body is larger than ${MAX_BODY_BYTES} bytes`,
  500: "internal: a stored value cannot be decrypted, or an unexpected error (the log has a correlation id)",
  503: "unavailable: the store or the token key set is unreachable; try again",
};

export function buildOpenApiDocument(routes: readonly Route[], errorBody: z.ZodType): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const operations = (paths[route.path] ??= {});
    operations[route.method.toLowerCase()] = operation(route);
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "roombus project API",
      version: readVersion(),
      description:
        "Project secrets, key collections and image-pull secrets, the environment a starting process gets, and " +
        "participant tokens. Every call but this document's needs a roombus token with the admin grant for room \"*\". " +
        "Values go in, and come out only from /v1/environment, docker-config and /v1/tokens; never in a list or an error.",
    },
    paths,
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT" } },
      schemas: { Error: jsonSchema(errorBody, "output") },
    },
  };
}

function operation(route: Route): Record<string, unknown> {
  const docs = route.docs;
  const parameters: Record<string, unknown>[] = Object.entries(docs.params ?? {}).map(([name, description]) => ({
    name,
    in: "path",
    required: true,
    description,
    schema: { type: "string" },
  }));
  if (docs.ifMatch === true) {
    parameters.push({
      name: "If-Match",
      in: "header",
      required: false,
      description: "the version, as the ETag header gives it (\"3\"): the call applies only to that version (409 otherwise)",
      schema: { type: "string" },
    });
  }
  const responses: Record<string, unknown> = {};
  for (const [status, [description, schema]] of Object.entries(docs.responses)) {
    responses[status] =
      schema === undefined ? { description } : { description, content: { "application/json": { schema: jsonSchema(schema, "output") } } };
  }
  if (route.public !== true) {
    for (const status of errorStatuses(route)) {
      responses[String(status)] = {
        description: ERROR_DESCRIPTIONS[status],
        content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
      };
    }
  }
  return {
    operationId: operationId(route),
    summary: docs.summary,
    ...(route.public === true ? { security: [] } : { security: [{ bearer: [] }] }),
    ...(parameters.length === 0 ? {} : { parameters }),
    ...(docs.request === undefined
      ? {}
      : { requestBody: { required: true, content: { "application/json": { schema: jsonSchema(docs.request, "input") } } } }),
    responses,
  };
}

/** `POST /v1/pull-secrets/{name}/docker-config` → `postV1PullSecretsByNameDockerConfig`. */
function operationId(route: Route): string {
  const words = route.path.replace(/\{(\w+)\}/g, "by-$1").split(/[^A-Za-z0-9]+/).filter((word) => word.length > 0);
  return route.method.toLowerCase() + words.map((word) => word[0]!.toUpperCase() + word.slice(1)).join("");
}

function errorStatuses(route: Route): number[] {
  const docs = route.docs;
  const statuses = [401, 403];
  if (docs.request !== undefined || docs.ifMatch === true) statuses.push(400);
  if (docs.params !== undefined || route.path === "/v1/environment") statuses.push(404);
  if (docs.ifMatch === true || (route.method === "POST" && docs.request !== undefined && route.path !== "/v1/environment")) statuses.push(409);
  if (docs.request !== undefined) statuses.push(413);
  statuses.push(500, 503);
  return statuses.sort();
}

/** The schema as JSON Schema 2020-12, without its `$schema` line (the document says which dialect). */
function jsonSchema(schema: z.ZodType, io: "input" | "output"): Record<string, unknown> {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { target: "draft-2020-12", io, unrepresentable: "any" });
  return rest;
}
