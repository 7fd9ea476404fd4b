/** Wires the parts together. Only this file and config.ts know which backends exist. */
import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import { createTokenVerifier } from "./auth/tokens.js";
import type { Bus } from "./bus/bus.js";
import { MemoryHub } from "./bus/memory-bus.js";
import { MemoryLiveness, MemoryPresence, type NodeLiveness, type PresenceDirectory } from "./bus/presence.js";
import { createRedisBus } from "./bus/redis-bus.js";
import { createRedisPresence } from "./bus/redis-presence.js";
import type { RedisEndpoint } from "./redis/endpoint.js";
import { createRedisStore } from "./secrets/redis-store.js";
import type { SecretStore } from "./secrets/secret-store.js";
import { join } from "node:path";
import { resolveMasterKeys, resolveTokenKey, type Config } from "./config.js";
import { createLogger } from "./logger.js";
import { Metrics } from "./metrics.js";
import type { Handlers } from "./room/handler.js";
import { createMessagingHandlers } from "./room/handlers/messaging.js";
import { createRoomHandlers } from "./room/handlers/presence.js";
import { createToolkitHandlers } from "./room/handlers/toolkits.js";
import type { NodeMessage } from "./room/node-messages.js";
import { RoomNode } from "./room/room-node.js";
import { Router } from "./room/router.js";
import { AuditTrail } from "./secrets/audit.js";
import { createSecretsHandlers } from "./secrets/handlers.js";
import { openKeyring, refreshKeyring } from "./secrets/key-management.js";
import { RequestExchange } from "./secrets/request-exchange.js";
import { SqliteStore } from "./secrets/sqlite-store.js";
import { Vault } from "./secrets/vault.js";
import { Transport } from "./transport/server.js";
import { openProjectApi } from "./project/open-project-api.js";
import { createWebPageRoutes } from "./transport/web-page.js";
import { CALLBACK_PATH, createOAuthCallbackRoute } from "./oauth/callback-route.js";
import { CredentialStore } from "./oauth/credentials.js";
import { createOAuthHandlers } from "./oauth/handlers.js";
import { OAuthBroker } from "./oauth/oauth-broker.js";
import type { IncomingMessage, ServerResponse } from "node:http";

/** The embedded store's file in the data directory. */
export const SQLITE_FILE = "roombus.db";

export interface RoombusServer {
  /** The bound port (useful with port 0). */
  readonly port: number;
  /** `http://host:port`. */
  readonly httpUrl: string;
  /** `ws://host:port/rooms/{room}`. */
  roomUrl(room: string): string;
  /** Closes every socket whose token has this `jti` (4401), on every node, and refuses the token from now on. */
  revoke(jti: string): Promise<void>;
  /** Stop accepting, close every socket with 1001, flush; resolves when done. */
  drain(): Promise<void>;
  /** Immediate shutdown (tests). */
  close(): Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
}

export async function startServer(config: Config, options: StartOptions = {}): Promise<RoombusServer> {
  const logger =
    options.logger ??
    createLogger(config.logLevel, undefined, config.logFormat ?? (process.stdout.isTTY ? "pretty" : "json"));
  const metrics = new Metrics();
  const tokenKey = resolveTokenKey(config, { create: true });
  if (tokenKey.createdFile !== undefined) {
    logger.info({ file: tokenKey.createdFile }, "created a token signing secret in the data directory (mode 0600)");
  }
  const verifier = createTokenVerifier({
    key: tokenKey.key,
    issuer: config.issuer,
    audience: config.audience,
    clockToleranceSeconds: config.clockToleranceSeconds,
  });

  const masterKeys = resolveMasterKeys(config, { create: true });
  if (masterKeys.createdFile !== undefined) {
    logger.info({ file: masterKeys.createdFile }, "created an encryption key in the data directory (mode 0600); back it up");
  }
  const nodeId = randomBytes(6).toString("hex");
  const { bus, presence, liveness, store, backend } =
    config.redisUrl === undefined
      ? embeddedBackends(config, nodeId)
      : await redisBackends({ url: config.redisUrl, cluster: config.redisCluster }, config.redisSharded, nodeId, logger);
  const keyring = await openKeyring(store, masterKeys.masters);
  const vault = new Vault(store, keyring, logger, () => refreshKeyring(keyring, store, masterKeys.masters));
  const audit = new AuditTrail(store, keyring, logger);
  const project = await openProjectApi({
    redisUrl: config.redisUrl,
    redisCluster: config.redisCluster,
    sqlitePath: join(config.dataDir, SQLITE_FILE),
    auditStore: store,
    keyring,
    verifier,
    signing: { secret: tokenKey.secret, issuer: config.issuer, audience: config.audience },
    refreshKeys: () => refreshKeyring(keyring, store, masterKeys.masters),
    logger,
  });

  const node = new RoomNode({
    bus,
    presence,
    liveness,
    nodeTtlMs: config.nodeTtlMs,
    sealer: {
      seal: (callId, plaintext) => keyring.seal(plaintext, `roombus.answer.v1:${callId}`),
      open: (callId, sealed) => keyring.open(sealed, `roombus.answer.v1:${callId}`),
    },
    logger,
    metrics,
  });
  await node.start();

  const requests = new RequestExchange(node, vault);
  // The callback URL needs the bound port, known only after listening; the broker asks for it when it needs it.
  let callbackUrl = "";
  const oauthBroker = new OAuthBroker(node, vault, requests, new CredentialStore(vault, logger, config.oauthTimeoutMs), () => callbackUrl, logger);
  const handlers: Handlers = {
    ...createRoomHandlers(),
    ...createMessagingHandlers(),
    ...createToolkitHandlers(),
    ...createSecretsHandlers({ vault, node, audit, requests }),
    ...createOAuthHandlers(oauthBroker, audit),
  };
  const router = new Router(handlers, logger, metrics);

  const transport = await Transport.listen({
    host: config.host,
    port: config.port,
    verifier,
    allowedOrigins: config.allowedOrigins,
    maxFrameBytes: config.maxFrameBytes,
    heartbeatMs: config.heartbeatMs,
    drainMs: config.drainMs,
    outboundBufferBytes: config.outboundBufferBytes,
    rateLimitPerSecond: config.rateLimitPerSecond,
    rateLimitBurst: config.rateLimitBurst,
    node,
    router,
    logger,
    metrics,
    isReady: () => bus.isHealthy() && store.isHealthy() && project.isHealthy(),
    httpRoutes: routes(createWebPageRoutes(), createOAuthCallbackRoute(oauthBroker), project.route),
  });

  node.onRevoke = (jti) => {
    transport.revoke(jti);
    project.revoke(jti);
  };
  const host = config.host.includes(":") ? `[${config.host}]` : config.host;
  const httpUrl = `http://${host}:${transport.port}`;
  const wildcard = config.host === "0.0.0.0" || config.host === "::";
  // A wildcard address is not one a browser can open: default to loopback, and say how to set the real one.
  const publicUrl = config.publicUrl ?? (wildcard ? `http://127.0.0.1:${transport.port}` : httpUrl);
  if (config.publicUrl === undefined && wildcard) {
    logger.warn(`set ROOMBUS_PUBLIC_URL to the address browsers use; OAuth callbacks go to ${publicUrl}${CALLBACK_PATH} until then`);
  }
  callbackUrl = `${publicUrl}${CALLBACK_PATH}`;
  logger.info(
    { url: `ws://${host}:${transport.port}/rooms/{room}`, node: nodeId, backend },
    `roombus listening on ws://${host}:${transport.port}`,
  );
  if (tokenKey.secret !== undefined) {
    logger.info(`mint a token: roombus token --identity alice --room demo --data-dir ${config.dataDir}`);
  }

  let stopped: Promise<void> | undefined;
  const stop = (how: "drain" | "close"): Promise<void> => {
    stopped ??= (async () => {
      if (how === "drain") await transport.drain();
      else await transport.close();
      await node.close();
      await bus.close();
      await presence.close();
      await store.close();
      await project.close();
      // In the Redis setup, presence and liveness are one object (closed above).
      if ((liveness as unknown) !== presence) await liveness.close?.();
      logger.info("roombus stopped");
      logger.flush();
    })();
    return stopped;
  };

  return {
    port: transport.port,
    httpUrl,
    roomUrl: (room) => `ws://${host}:${transport.port}/rooms/${encodeURIComponent(room)}`,
    revoke: (jti) => node.revoke(jti),
    drain: () => stop("drain"),
    close: () => stop("close"),
  };
}

type Route = (request: IncomingMessage, response: ServerResponse) => boolean | Promise<boolean>;

/** Tries each route in turn; the first that answers wins. */
function routes(...list: Route[]): Route {
  return async (request, response) => {
    for (const route of list) if (await route(request, response)) return true;
    return false;
  };
}

interface Backends {
  bus: Bus<NodeMessage>;
  presence: PresenceDirectory;
  liveness: NodeLiveness & { close?(): Promise<void> };
  store: SecretStore;
  backend: "embedded" | "redis" | "redis-cluster";
}

/** One process, no other service: the in-memory bus and presence, SQLite in the data directory. */
function embeddedBackends(config: Config, nodeId: string): Backends {
  const presence = new MemoryPresence();
  return {
    bus: new MemoryHub().bus<NodeMessage>(nodeId),
    presence,
    liveness: new MemoryLiveness(),
    store: new SqliteStore(join(config.dataDir, SQLITE_FILE)),
    backend: "embedded",
  };
}

/**
 * Many nodes on one Redis or one Redis Cluster: pub/sub between nodes, presence and liveness in hashes, the store in
 * Redis. A cluster always uses sharded pub/sub (the configuration sees to it).
 */
async function redisBackends(redis: RedisEndpoint, sharded: boolean, nodeId: string, logger: Logger): Promise<Backends> {
  const bus = await createRedisBus<NodeMessage>({ ...redis, nodeId, sharded, logger });
  const presence = await createRedisPresence({ ...redis, logger });
  const store = await createRedisStore({ ...redis, logger });
  return { bus, presence, liveness: presence, store, backend: redis.cluster === true ? "redis-cluster" : "redis" };
}
