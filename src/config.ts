/**
 * Configuration: read once from the environment, flags override, one zod schema. A bad value stops the start with
 * one line that names the variable. Nothing else in the server reads the environment.
 */
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { z } from "zod";
import type { TokenKey } from "./auth/tokens.js";
import { KeyringError, newMasterKeyBase64, parseMasterKey, type MasterKey } from "./secrets/keyring.js";
import { checkRedisUrl, parseClusterSeeds } from "./redis/endpoint.js";
import { DEFAULT_MAX_FRAME_BYTES } from "./protocol/limits.js";

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

const intFrom = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** Each field names the environment variable it comes from; flags use the same names in kebab-case. */
const configSchema = z.object({
  ROOMBUS_HOST: z.string().min(1).default("127.0.0.1"),
  ROOMBUS_PORT: intFrom(0, 65535).default(8765),
  ROOMBUS_DATA_DIR: z.string().min(1).default("./.roombus"),
  /** One server's URL; with ROOMBUS_REDIS_CLUSTER=true, the seed nodes' URLs, comma-separated (see checkRedisSettings). */
  ROOMBUS_REDIS_URL: z.string().optional(),
  ROOMBUS_REDIS_CLUSTER: z.enum(["true", "false"]).default("false"),
  /** Unset: false for one server, true (and nothing else) for a cluster. */
  ROOMBUS_REDIS_SHARDED: z.enum(["true", "false"]).optional(),
  ROOMBUS_JWT_SECRET: z.string().min(32, "must be at least 32 characters").optional(),
  ROOMBUS_JWT_PUBLIC_KEY: z.string().includes("BEGIN PUBLIC KEY", { message: "must be a PEM public key" }).optional(),
  ROOMBUS_JWKS_URL: z.url({ protocol: /^https?$/ }).optional(),
  ROOMBUS_ISSUER: z.string().min(1).default("roombus"),
  ROOMBUS_AUDIENCE: z.string().min(1).default("roombus"),
  ROOMBUS_CLOCK_TOLERANCE_S: intFrom(0, 30).default(30),
  ROOMBUS_ENCRYPTION_KEY: z.string().optional(),
  ROOMBUS_ENCRYPTION_KEYS_OLD: z.string().optional(),
  ROOMBUS_PUBLIC_URL: z.url({ protocol: /^https?$/ }).optional(),
  ROOMBUS_ALLOWED_ORIGINS: z
    .string()
    .default("")
    .transform((value) => value.split(",").map((origin) => origin.trim()).filter((origin) => origin.length > 0)),
  ROOMBUS_LOG_LEVEL: z.enum(LOG_LEVELS).default("info"),
  ROOMBUS_LOG_FORMAT: z.enum(["json", "pretty"]).optional(),
  ROOMBUS_MAX_FRAME_BYTES: intFrom(1024, 16 * 1024 * 1024).default(DEFAULT_MAX_FRAME_BYTES),
  ROOMBUS_HEARTBEAT_MS: intFrom(100, 600_000).default(30_000),
  ROOMBUS_OUTBOUND_BUFFER_BYTES: intFrom(64 * 1024, 1024 * 1024 * 1024).default(4 * 1024 * 1024),
  ROOMBUS_RATE_LIMIT: intFrom(1, 1_000_000).default(1000),
  ROOMBUS_RATE_BURST: intFrom(1, 1_000_000).default(2000),
  ROOMBUS_DRAIN_MS: intFrom(0, 600_000).default(10_000),
  ROOMBUS_OAUTH_TIMEOUT_MS: intFrom(100, 120_000).default(10_000),
  ROOMBUS_NODE_TTL_MS: intFrom(300, 600_000).default(5_000),
});

export type ConfigInput = z.input<typeof configSchema>;
export const CONFIG_VARIABLES = Object.keys(configSchema.shape) as (keyof ConfigInput)[];

export interface Config {
  host: string;
  port: number;
  dataDir: string;
  /** One server's URL, or with `redisCluster` the seed nodes' URLs, comma-separated. */
  redisUrl: string | undefined;
  /** `redisUrl` names seed nodes of a Redis Cluster. */
  redisCluster: boolean;
  /** Sharded pub/sub (SPUBLISH/SSUBSCRIBE); always on with `redisCluster`. */
  redisSharded: boolean;
  jwtSecret: string | undefined;
  jwtPublicKey: string | undefined;
  jwksUrl: string | undefined;
  issuer: string;
  audience: string;
  clockToleranceSeconds: number;
  encryptionKey: string | undefined;
  /** Previous master keys, comma-separated base64: they still unwrap data keys until `roombus keys rotate`. */
  oldEncryptionKeys: string[];
  allowedOrigins: string[];
  /** The server's address as browsers reach it (for the OAuth callback); default `http://HOST:PORT`. */
  publicUrl: string | undefined;
  logLevel: (typeof LOG_LEVELS)[number];
  /** Unset: pretty on a terminal, JSON otherwise. */
  logFormat: "json" | "pretty" | undefined;
  maxFrameBytes: number;
  heartbeatMs: number;
  outboundBufferBytes: number;
  rateLimitPerSecond: number;
  rateLimitBurst: number;
  drainMs: number;
  /** How long a call to an OAuth token endpoint may take. */
  oauthTimeoutMs: number;
  /** Cluster: a node that has not heart-beaten for this long is presumed dead and its participants leave. */
  nodeTtlMs: number;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/**
 * Reads the configuration from `env` with `overrides` (from flags) on top. Throws a ConfigError whose message is one
 * line naming the bad variable; it never repeats the value (it may be a key).
 */
export function loadConfig(env: NodeJS.ProcessEnv, overrides: Partial<Record<keyof ConfigInput, string>> = {}): Config {
  const input: Record<string, string> = {};
  for (const name of CONFIG_VARIABLES) {
    const value = overrides[name] ?? env[name];
    if (value !== undefined && value !== "") input[name] = value;
  }
  const parsed = configSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(`${String(issue.path[0])}: ${issue.message}`);
  }
  const c = parsed.data;
  const redisCluster = c.ROOMBUS_REDIS_CLUSTER === "true";
  checkRedisSettings(c.ROOMBUS_REDIS_URL, redisCluster, c.ROOMBUS_REDIS_SHARDED);
  const keySources = [c.ROOMBUS_JWT_SECRET, c.ROOMBUS_JWT_PUBLIC_KEY, c.ROOMBUS_JWKS_URL].filter((v) => v !== undefined);
  if (keySources.length > 1) {
    throw new ConfigError(
      "ROOMBUS_JWT_SECRET, ROOMBUS_JWT_PUBLIC_KEY and ROOMBUS_JWKS_URL: set only one of them",
    );
  }
  return {
    host: c.ROOMBUS_HOST,
    port: c.ROOMBUS_PORT,
    dataDir: resolve(c.ROOMBUS_DATA_DIR),
    redisUrl: c.ROOMBUS_REDIS_URL,
    redisCluster,
    redisSharded: redisCluster || c.ROOMBUS_REDIS_SHARDED === "true",
    jwtSecret: c.ROOMBUS_JWT_SECRET,
    jwtPublicKey: c.ROOMBUS_JWT_PUBLIC_KEY,
    jwksUrl: c.ROOMBUS_JWKS_URL,
    issuer: c.ROOMBUS_ISSUER,
    audience: c.ROOMBUS_AUDIENCE,
    clockToleranceSeconds: c.ROOMBUS_CLOCK_TOLERANCE_S,
    encryptionKey: c.ROOMBUS_ENCRYPTION_KEY,
    oldEncryptionKeys: (c.ROOMBUS_ENCRYPTION_KEYS_OLD ?? "")
      .split(",")
      .map((key) => key.trim())
      .filter((key) => key.length > 0),
    allowedOrigins: c.ROOMBUS_ALLOWED_ORIGINS,
    publicUrl: c.ROOMBUS_PUBLIC_URL?.replace(/\/+$/, ""),
    logLevel: c.ROOMBUS_LOG_LEVEL,
    logFormat: c.ROOMBUS_LOG_FORMAT,
    maxFrameBytes: c.ROOMBUS_MAX_FRAME_BYTES,
    heartbeatMs: c.ROOMBUS_HEARTBEAT_MS,
    outboundBufferBytes: c.ROOMBUS_OUTBOUND_BUFFER_BYTES,
    rateLimitPerSecond: c.ROOMBUS_RATE_LIMIT,
    rateLimitBurst: c.ROOMBUS_RATE_BURST,
    drainMs: c.ROOMBUS_DRAIN_MS,
    oauthTimeoutMs: c.ROOMBUS_OAUTH_TIMEOUT_MS,
    nodeTtlMs: c.ROOMBUS_NODE_TTL_MS,
  };
}

/**
 * ROOMBUS_REDIS_URL, ROOMBUS_REDIS_CLUSTER and ROOMBUS_REDIS_SHARDED together. Messages never repeat a URL: it may
 * hold a password.
 */
function checkRedisSettings(url: string | undefined, cluster: boolean, sharded: "true" | "false" | undefined): void {
  if (url === undefined) {
    if (cluster) throw new ConfigError("ROOMBUS_REDIS_CLUSTER: needs ROOMBUS_REDIS_URL, the seed nodes' URLs (comma-separated)");
    return;
  }
  if (cluster) {
    if (sharded === "false") {
      throw new ConfigError(
        "ROOMBUS_REDIS_SHARDED: cannot be false with ROOMBUS_REDIS_CLUSTER=true (a cluster's channels use sharded pub/sub)",
      );
    }
    try {
      parseClusterSeeds(url);
    } catch (error) {
      throw new ConfigError(`ROOMBUS_REDIS_URL: ${error instanceof Error ? error.message : "invalid"}`);
    }
    return;
  }
  try {
    checkRedisUrl(url);
  } catch {
    const parts = url.split(",");
    const seedList = parts.length > 1 && parts.every((part) => URL.canParse(part.trim()));
    throw new ConfigError(
      seedList
        ? "ROOMBUS_REDIS_URL: several URLs are the seeds of a Redis Cluster: set ROOMBUS_REDIS_CLUSTER=true"
        : "ROOMBUS_REDIS_URL: expected a redis:// or rediss:// URL",
    );
  }
}

export const JWT_SECRET_FILE = "jwt-secret";

/** The signing secret kept in the data directory on the embedded default. */
export function dataDirSecretPath(config: Config): string {
  return join(config.dataDir, JWT_SECRET_FILE);
}

export interface ResolvedTokenKey {
  key: TokenKey;
  /** The shared secret when there is one: `roombus token` can only mint with it. */
  secret: Uint8Array | undefined;
  /** Set when this call created the secret file, so the caller can say so. */
  createdFile: string | undefined;
}

/**
 * Picks the token key: the configured secret, public key or JWKS URL; otherwise the secret in the data directory,
 * created (mode 0600) when `create` is set and none exists yet.
 */
export function resolveTokenKey(config: Config, options: { create: boolean }): ResolvedTokenKey {
  if (config.jwtSecret !== undefined) {
    const secret = new TextEncoder().encode(config.jwtSecret);
    return { key: { kind: "shared-secret", secret }, secret, createdFile: undefined };
  }
  if (config.jwtPublicKey !== undefined) {
    return { key: { kind: "public-key", pem: config.jwtPublicKey }, secret: undefined, createdFile: undefined };
  }
  if (config.jwksUrl !== undefined) {
    return { key: { kind: "jwks", url: config.jwksUrl }, secret: undefined, createdFile: undefined };
  }
  if (config.redisUrl !== undefined) {
    throw new ConfigError(
      "ROOMBUS_JWT_SECRET: required with ROOMBUS_REDIS_URL (every node must verify the same tokens), or set ROOMBUS_JWT_PUBLIC_KEY / ROOMBUS_JWKS_URL",
    );
  }
  const path = dataDirSecretPath(config);
  let createdFile: string | undefined;
  if (!existsSync(path)) {
    if (!options.create) {
      throw new ConfigError(
        `no signing key: set ROOMBUS_JWT_SECRET, or run "roombus serve" once so it creates ${path}`,
      );
    }
    mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
    writeFileSync(path, randomBytes(32).toString("base64url") + "\n", { mode: 0o600, flag: "wx" });
    chmodSync(path, 0o600);
    createdFile = path;
  }
  const text = readFileSync(path, "utf8").trim();
  if (text.length < 32) throw new ConfigError(`${path}: the signing secret must be at least 32 characters`);
  const secret = new TextEncoder().encode(text);
  return { key: { kind: "shared-secret", secret }, secret, createdFile };
}

export const ENCRYPTION_KEY_FILE = "encryption-key";

export interface ResolvedMasterKeys {
  /** Current key first, then old ones. */
  masters: MasterKey[];
  createdFile: string | undefined;
}

/**
 * The master keys: ROOMBUS_ENCRYPTION_KEY (and ROOMBUS_ENCRYPTION_KEYS_OLD), or on the embedded default the key file
 * in the data directory, created (mode 0600) on first start. A key that is not 32 bytes stops the start.
 */
export function resolveMasterKeys(config: Config, options: { create: boolean }): ResolvedMasterKeys {
  const parse = (text: string, variable: string): MasterKey => {
    try {
      return parseMasterKey(text, variable);
    } catch (error) {
      throw new ConfigError(error instanceof KeyringError ? error.message : `${variable}: invalid key`);
    }
  };
  const old = config.oldEncryptionKeys.map((text) => parse(text, "ROOMBUS_ENCRYPTION_KEYS_OLD"));
  if (config.encryptionKey !== undefined) {
    return { masters: [parse(config.encryptionKey, "ROOMBUS_ENCRYPTION_KEY"), ...old], createdFile: undefined };
  }
  if (config.redisUrl !== undefined) {
    throw new ConfigError("ROOMBUS_ENCRYPTION_KEY: required with ROOMBUS_REDIS_URL (every node needs the same key)");
  }
  const path = join(config.dataDir, ENCRYPTION_KEY_FILE);
  let createdFile: string | undefined;
  if (!existsSync(path)) {
    if (!options.create) {
      throw new ConfigError(`no encryption key: set ROOMBUS_ENCRYPTION_KEY, or run "roombus serve" once so it creates ${path}`);
    }
    mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
    writeFileSync(path, newMasterKeyBase64() + "\n", { mode: 0o600, flag: "wx" });
    chmodSync(path, 0o600);
    createdFile = path;
  }
  return { masters: [parse(readFileSync(path, "utf8"), path), ...old], createdFile };
}
