/**
 * The project API's bodies, as zod schemas: requests are parsed with them, and the OpenAPI document is generated
 * from them (src/project/openapi.ts), so the two cannot drift. Strict objects (an unknown field is refused) with a
 * bound on every string and array. Messages never quote the input.
 */
import { z } from "zod";
import { IDENTITY_PATTERN, ROOM_NAME_PATTERN, role } from "../protocol/common.js";
import { MAX_SECRET_BYTES } from "../protocol/limits.js";

/** The largest request body read; larger ones get 413 before they are parsed. */
export const MAX_BODY_BYTES = 1024 * 1024;
/** Names of project secrets and collection keys: they become environment variable names. */
export const ENV_NAME_PATTERN = /^[A-Z_][A-Z0-9_]*$/;
/** Names of key collections and pull secrets: they appear in service specs and URL paths. */
export const COLLECTION_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,62}$/;
export const PROFILE_ID_PATTERN = IDENTITY_PATTERN;
export const MAX_ENV_NAME_CHARS = 256;
export const MAX_PROFILE_IDS = 256;
export const MAX_COLLECTION_KEYS = 256;
/** All values of one key collection together; each one alone is at most MAX_SECRET_BYTES. */
export const MAX_COLLECTION_BYTES = 256 * 1024;
export const MAX_COLLECTIONS_PER_RESOLUTION = 64;
export const DEFAULT_TOKEN_TTL_S = 3600;
/** As `roombus token`: a bound that catches a typo, not a policy. */
export const MAX_TOKEN_TTL_S = 366 * 86_400;

const utf8Bytes = (text: string): number => Buffer.byteLength(text, "utf8");

const envName = z
  .string()
  .min(1, "must not be empty")
  .max(MAX_ENV_NAME_CHARS, `must be at most ${MAX_ENV_NAME_CHARS} characters`)
  .regex(ENV_NAME_PATTERN, "must be an environment variable name: A-Z, 0-9 and _, not starting with a digit");

/** A value that can become an environment variable: no NUL byte, at most 64 KiB. */
const envValue = z
  .string()
  .max(MAX_SECRET_BYTES, `must be at most ${MAX_SECRET_BYTES} bytes`)
  .refine((value) => !value.includes("\0"), "must not contain a NUL character (an environment variable cannot hold one)")
  .refine((value) => utf8Bytes(value) <= MAX_SECRET_BYTES, `must be at most ${MAX_SECRET_BYTES} bytes (UTF-8)`);

export const collectionName = z
  .string()
  .regex(COLLECTION_NAME_PATTERN, "must be 1 to 63 of a-z, 0-9, '.', '_' or '-', starting with a letter or digit");

const profileId = z
  .string()
  .regex(PROFILE_ID_PATTERN, "must be 1 to 128 of letters, digits, '.', '_', ':', '@' or '-', starting with a letter or digit");

const scope = z.enum(["all", "agents"], "must be \"all\" or \"agents\"");

const profileIds = z
  .array(profileId)
  .max(MAX_PROFILE_IDS, `at most ${MAX_PROFILE_IDS} profile ids`)
  .superRefine((ids, ctx) => {
    const seen = new Set<string>();
    ids.forEach((id, index) => {
      if (seen.has(id)) ctx.addIssue({ code: "custom", path: [index], message: "is listed twice" });
      seen.add(id);
    });
  });

/** scope "agents" needs profiles to grant; scope "all" grants every profile, so a list would mislead. */
function checkScope(value: { scope?: "all" | "agents" | undefined; profile_ids?: string[] | undefined }, ctx: z.RefinementCtx): void {
  if (value.scope === "agents" && (value.profile_ids === undefined || value.profile_ids.length === 0)) {
    ctx.addIssue({ code: "custom", path: ["profile_ids"], message: "scope \"agents\" needs at least one profile id" });
  }
  if (value.scope === "all" && value.profile_ids !== undefined && value.profile_ids.length > 0) {
    ctx.addIssue({ code: "custom", path: ["profile_ids"], message: "profile ids apply only with scope \"agents\"" });
  }
}

export const createSecretBody = z
  .strictObject({
    name: envName,
    value: envValue,
    scope: scope.default("all"),
    profile_ids: profileIds.default([]),
  })
  .superRefine(checkScope);

export const updateSecretBody = z
  .strictObject({
    value: envValue.optional(),
    scope: scope.optional(),
    profile_ids: profileIds.optional(),
  })
  .refine((patch) => patch.value !== undefined || patch.scope !== undefined || patch.profile_ids !== undefined, {
    message: "nothing to change: send value, scope or profile_ids",
  });

export const createKeyCollectionBody = z
  .strictObject({
    name: collectionName,
    data: z
      .record(envName, envValue)
      .refine((data) => Object.keys(data).length >= 1, "must hold at least one KEY: value pair")
      .refine((data) => Object.keys(data).length <= MAX_COLLECTION_KEYS, `must hold at most ${MAX_COLLECTION_KEYS} keys`)
      .refine(
        (data) => Object.entries(data).reduce((sum, [key, value]) => sum + key.length + utf8Bytes(value), 0) <= MAX_COLLECTION_BYTES,
        `keys and values together must be at most ${MAX_COLLECTION_BYTES} bytes`,
      ),
  });

export const createPullSecretBody = z.strictObject({
  name: collectionName,
  server: z
    .string()
    .min(1, "must not be empty")
    .max(512, "must be at most 512 characters")
    .regex(/^[\x21-\x7e]+$/, "must be a registry host (registry.example.com[:port]) or URL, without spaces"),
  username: z
    .string()
    .min(1, "must not be empty")
    .max(256, "must be at most 256 characters")
    // Docker's auth is base64("username:password"): a ":" in the username would split it in the wrong place.
    // eslint-disable-next-line no-control-regex
    .regex(/^[^:\u0000-\u001f\u007f]+$/, "must not contain ':' or control characters"),
  password: z
    .string()
    .min(1, "must not be empty")
    .max(MAX_SECRET_BYTES, `must be at most ${MAX_SECRET_BYTES} bytes`)
    .refine((value) => utf8Bytes(value) <= MAX_SECRET_BYTES, `must be at most ${MAX_SECRET_BYTES} bytes (UTF-8)`),
});

export const resolveEnvironmentBody = z.strictObject({
  profile_id: profileId.optional(),
  keys: z
    .array(collectionName)
    .max(MAX_COLLECTIONS_PER_RESOLUTION, `at most ${MAX_COLLECTIONS_PER_RESOLUTION} collections`)
    .superRefine((names, ctx) => {
      const seen = new Set<string>();
      names.forEach((name, index) => {
        if (seen.has(name)) ctx.addIssue({ code: "custom", path: [index], message: "is listed twice" });
        seen.add(name);
      });
    })
    .optional(),
});

const emptyGrant = z.strictObject({});

/** The `api` claim of PROTOCOL.md §4, strict: an unknown grant name is a typo to report, not to drop. */
export const apiClaim = z.strictObject({
  messaging: emptyGrant.optional(),
  toolkits: emptyGrant.optional(),
  admin: emptyGrant.optional(),
  secrets: z
    .strictObject({
      request_oauth_token: z
        .array(z.strictObject({ endpoint: z.string().min(1).max(2048), client_id: z.string().min(1).max(256) }))
        .max(256)
        .nullable()
        .optional(),
    })
    .optional(),
});

export const mintTokenBody = z.strictObject({
  room: z.union(
    [z.literal("*"), z.string().regex(ROOM_NAME_PATTERN)],
    "must be a room name (letters, digits, '.', '_' or '-', at most 128) or \"*\"",
  ),
  identity: z
    .string()
    .regex(IDENTITY_PATTERN, "must be 1 to 128 of letters, digits, '.', '_', ':', '@' or '-', starting with a letter or digit"),
  role: role.default("user"),
  api: apiClaim.default({ messaging: {}, toolkits: {} }),
  ttl_s: z
    .int("must be a whole number of seconds")
    .min(1, "must be at least 1")
    .max(MAX_TOKEN_TTL_S, `must be at most ${MAX_TOKEN_TTL_S} (366 days)`)
    .default(DEFAULT_TOKEN_TTL_S),
});

// ----------------------------------------------------------------------------------------------------- answers

const timestamp = z.int().describe("milliseconds since the epoch");

export const projectSecret = z.strictObject({
  id: z.string().describe("sec_<random>"),
  name: z.string(),
  scope,
  profile_ids: z.array(z.string()),
  version: z.int(),
  created_at: timestamp,
  updated_at: timestamp,
});

export const keyCollection = z.strictObject({
  id: z.string().describe("key_<random>"),
  name: z.string(),
  keys: z.array(z.string()).describe("the key names, never the values"),
  version: z.int(),
  created_at: timestamp,
  updated_at: timestamp,
});

export const pullSecret = z.strictObject({
  id: z.string().describe("pull_<random>"),
  name: z.string(),
  server: z.string(),
  username: z.string(),
  created_at: timestamp,
  updated_at: timestamp,
});

export const secretList = z.strictObject({ secrets: z.array(projectSecret) });
export const keyCollectionList = z.strictObject({ keys: z.array(keyCollection) });
export const pullSecretList = z.strictObject({ pull_secrets: z.array(pullSecret) });

export const resolvedEnvironment = z.strictObject({
  project: z.record(z.string(), z.string()).describe("the project secrets in scope: NAME → value"),
  keys: z.record(z.string(), z.record(z.string(), z.string())).describe("collection name → {KEY → value}"),
});

export const dockerConfig = z.strictObject({
  auths: z.record(z.string(), z.strictObject({ auth: z.string().describe("base64 of username:password") })),
});

export const mintedToken = z.strictObject({
  token: z.string(),
  expires_at: timestamp,
  jti: z.string().describe("the token's id, in the audit record"),
});

export const errorBody = z.strictObject({
  error: z.strictObject({
    code: z.string().describe("invalid_request, unauthorized, forbidden, not_found, method_not_allowed, conflict, too_large, internal, unavailable"),
    message: z.string().describe("what went wrong and what to do; never a value"),
    field: z.string().optional().describe("the JSON path of the bad field, or the header name"),
  }),
});

export type ProjectSecretView = z.infer<typeof projectSecret>;
export type KeyCollectionView = z.infer<typeof keyCollection>;
export type PullSecretView = z.infer<typeof pullSecret>;
