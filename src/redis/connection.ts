/**
 * What every Redis connection of roombus (bus, presence, stores) shares: one set of connection options (fail fast while
 * Redis is down, never queue), a start that reports an unreachable Redis in one line, logging of connection state
 * changes, and URL redaction so a password never reaches a message or a log. The connection is to one Redis server or
 * to a Redis Cluster (`RedisClient`); the bus, presence and stores use only what both offer.
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from "ioredis";
import { Unpackr } from "msgpackr";
import type { Logger } from "pino";
import {
  checkRedisUrl,
  describeRedisEndpoint,
  parseClusterSeeds,
  passwordsOf,
  type ClusterSeeds,
  type RedisEndpoint,
} from "./endpoint.js";

export { redactRedisUrl, type RedisEndpoint } from "./endpoint.js";

/** A connection to one Redis server, or a client of a Redis Cluster that sends each command to its slot's owner. */
export type RedisClient = Redis | Cluster;

export type RedisLogger = Pick<Logger, "debug" | "info" | "warn">;

const noop = (): void => {};
export const SILENT_LOGGER: RedisLogger = { debug: noop, info: noop, warn: noop };

/**
 * A socket that has a command outstanding and receives nothing for this long is presumed dead (a half-open TCP
 * connection sends no RST): ioredis destroys it, which rejects the outstanding commands and starts a reconnect.
 */
const DEAD_SOCKET_MS = 5_000;
const MAX_RECONNECT_DELAY_MS = 2_000;

/**
 * Options for every roombus connection to Redis.
 *
 * - `enableOfflineQueue: false`: a command issued while the connection is not ready rejects at once instead of
 *   waiting in memory for a Redis that may not come back; callers answer 1013 and the client retries.
 * - `maxRetriesPerRequest: 0`: commands already written when the connection drops reject on that drop (ioredis
 *   flushes its queues at the first reconnect attempt) rather than after 20 attempts.
 * - `autoResendUnfulfilledCommands: false`: a command whose caller saw a rejection is never sent again later.
 * - `autoResubscribe: false`: the Bus re-subscribes from its own handler table, the one source of truth (see
 *   RedisBus.resubscribe).
 * - `lazyConnect`: `connectRedis` connects and reports failure; nothing connects behind the caller's back.
 */
export function redisClientOptions(connectionName: string): RedisOptions {
  return {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    autoResubscribe: false,
    socketTimeout: DEAD_SOCKET_MS,
    connectionName,
    // Exponential from 50 ms, capped low: the node is degraded until it is back. Jitter spreads a cluster's nodes.
    retryStrategy: (times) =>
      Math.min(50 * 2 ** Math.min(times - 1, 10), MAX_RECONNECT_DELAY_MS) + Math.floor(Math.random() * 100),
  };
}

/**
 * Options for a Redis Cluster client: the rules of `redisClientOptions`, for the cluster and for each node connection.
 *
 * - `enableOfflineQueue: false`: a command issued while the cluster is not ready, or aimed at a node whose connection
 *   is down, rejects at once.
 * - `clusterRetryStrategy`: the single connection's backoff, used when every node connection is lost.
 * - `retryDelayOnFailover: 0`: a command in flight on a node connection that drops rejects on that drop; ioredis
 *   would otherwise send it again to whichever node owns the slot next, and it may already have been applied.
 * - `retryDelayOnClusterDown: 0`: CLUSTERDOWN (a shard without a master) rejects at once instead of waiting in memory.
 *   MOVED, ASK and TRYAGAIN are still followed: a command refused with them was not applied.
 * - `shardedSubscribers`: one subscriber connection per master for SSUBSCRIBE; only the bus's subscriber needs it.
 * - `redisOptions`: the per-node options, with the seeds' credentials and TLS, so the nodes the client discovers
 *   (CLUSTER SLOTS names them by address only) connect as the seeds do.
 */
export function redisClusterOptions(
  connectionName: string,
  seeds: Pick<ClusterSeeds, "username" | "password" | "tls">,
  shardedSubscribers: boolean,
): ClusterOptions {
  // Taken out of the per-node options: ioredis reads them from the cluster options and refuses them per node.
  const { retryStrategy, enableOfflineQueue: _queue, lazyConnect: _lazy, ...perNode } = redisClientOptions(connectionName);
  return {
    lazyConnect: true,
    enableOfflineQueue: false,
    clusterRetryStrategy: retryStrategy ?? null,
    retryDelayOnFailover: 0,
    retryDelayOnClusterDown: 0,
    shardedSubscribers,
    redisOptions: {
      ...perNode,
      lazyConnect: true,
      ...(seeds.username === undefined ? {} : { username: seeds.username }),
      ...(seeds.password === undefined ? {} : { password: seeds.password }),
      ...(seeds.tls ? { tls: {} } : {}),
    },
  };
}

/**
 * A client for the endpoint, not yet connected: a `Redis` for one server, a `Cluster` for a Redis Cluster (with one
 * subscriber connection per master when `shardedSubscribers` is set). The URLs are checked here, so a bad one fails
 * with a message that does not quote its password.
 */
export function createRedisClient(
  endpoint: RedisEndpoint,
  connectionName: string,
  options: { shardedSubscribers?: boolean } = {},
): RedisClient {
  if (endpoint.cluster === true) {
    const seeds = parseClusterSeeds(endpoint.url);
    const cluster = new Cluster(seeds.nodes, redisClusterOptions(connectionName, seeds, options.shardedSubscribers === true));
    connectNewMasters(cluster);
    return cluster;
  }
  checkRedisUrl(endpoint.url);
  return new Redis(endpoint.url, redisClientOptions(connectionName));
}

/**
 * ioredis opens a cluster's node connections lazily, on their first command, and without an offline queue it refuses
 * a command for a node whose connection is still opening: the first commands to each shard would fail. So every
 * master is connected before `connectRedis` resolves, again each time the cluster client is ready after a reconnect
 * (it counts as ready only once those connections have opened or failed), and a master learnt later (a failover) as
 * soon as it is known. Never while the cluster is not ready: ioredis sends its own ready check (CLUSTER INFO) through
 * any node, and a node connection being opened would refuse it.
 */
const mastersOpened = new WeakMap<Cluster, boolean>();

function connectNewMasters(cluster: Cluster): void {
  let epoch = 0;
  cluster.on("close", () => {
    epoch++;
    mastersOpened.set(cluster, false);
  });
  cluster.on("ready", () => {
    const readyEpoch = epoch;
    void Promise.allSettled(openMasters(cluster)).then(() => {
      if (readyEpoch === epoch && cluster.status === "ready") mastersOpened.set(cluster, true);
    });
  });
  cluster.on("+node", () => {
    if (cluster.status === "ready") for (const opening of openMasters(cluster)) opening.catch(noop);
  });
}

/** One promise per master connection: resolves once it is open, rejects when it cannot be opened. */
function openMasters(cluster: Cluster): Promise<void>[] {
  return cluster.nodes("master").map(async (node) => {
    if (node.status === "ready") return;
    if (node.status === "wait") return void (await node.connect());
    await new Promise<void>((resolve, reject) => {
      const onReady = (): void => {
        node.off("end", onEnd);
        resolve();
      };
      const onEnd = (): void => {
        node.off("ready", onReady);
        reject(new Error(`the connection to cluster node ${node.options.host}:${node.options.port} closed`));
      };
      node.once("ready", onReady);
      node.once("end", onEnd);
    });
  });
}

/**
 * Ready for commands: the connection is up; for a cluster, the cluster client (its slot map known, some node
 * answering) and its master connections opened. A master lost later does not count: its shard's rooms answer 1013
 * while the others keep working, and every roombus node would see the same, so none should leave the balancer.
 */
export function isRedisReady(client: RedisClient): boolean {
  if (client.status !== "ready") return false;
  return !(client instanceof Cluster) || mastersOpened.get(client) === true;
}

/** Removes the endpoint's passwords from a text that might quote one (belt and braces: ioredis errors do not). */
function scrub(text: string, endpoint: RedisEndpoint): string {
  let scrubbed = text;
  for (const password of passwordsOf(endpoint)) scrubbed = scrubbed.split(password).join("***");
  return scrubbed;
}

/** An error's message; for a cluster no seed answered, with the last node's reason (a wrong password, …). */
function reasonOf(error: Error): string {
  const lastNodeError = (error as { lastNodeError?: unknown }).lastNodeError;
  if (!(lastNodeError instanceof Error)) return error.message;
  return `${error.message.replace(/\.$/, "")}: ${lastNodeError.message}`;
}

/**
 * Connects every client and resolves when all are ready. On failure disconnects them all (no reconnect loop is
 * left behind) and throws `cannot reach Redis at <url without password>: <reason>` (`Redis Cluster at <seeds>` for a
 * cluster). The ioredis error is not attached as `cause`: a failed AUTH carries the password in `error.command.args`.
 */
export async function connectRedis(clients: RedisClient[], endpoint: RedisEndpoint): Promise<void> {
  let firstError: Error | undefined;
  const onError = (error: Error): void => {
    firstError ??= error;
  };
  for (const client of clients) client.on("error", onError);
  try {
    await Promise.all(clients.map((client) => client.connect()));
    // At start every master must answer, as one Redis must: a node does not start degraded.
    for (const client of clients) {
      if (client instanceof Cluster) {
        await Promise.all(openMasters(client));
        mastersOpened.set(client, true);
      }
    }
  } catch (error) {
    for (const client of clients) {
      // A late error from the abandoned socket must not be printed as "Unhandled error event".
      client.on("error", noop);
      client.disconnect();
    }
    const reason = reasonOf(firstError ?? (error instanceof Error ? error : new Error(String(error))));
    throw new Error(`cannot reach ${describeRedisEndpoint(endpoint)}: ${scrub(reason, endpoint)}`);
  } finally {
    for (const client of clients) client.off("error", onError);
  }
}

/**
 * Logs a connection's losses and recoveries once each (not every reconnect attempt), and keeps ioredis from printing
 * "Unhandled error event". Only `error.message` is logged: ioredis errors carry the command's arguments. A cluster
 * client is lost when it has lost every node; one node's errors are logged at debug level as they come.
 */
export function watchRedisConnection(
  client: RedisClient,
  role: string,
  endpoint: RedisEndpoint,
  logger: RedisLogger,
  isClosing: () => boolean,
): void {
  let lost = false;
  const where = describeRedisEndpoint(endpoint).replace(/^Redis (Cluster )?at /, "");
  client.on("error", (error: Error) => {
    logger.debug({ redis: where, role, error: scrub(reasonOf(error), endpoint) }, "redis connection error");
  });
  client.on("node error", (error: Error, node: unknown) => {
    const fields = { redis: where, role, node: String(node), error: scrub(error.message, endpoint) };
    logger.debug(fields, "redis cluster node error");
  });
  client.on("close", () => {
    if (lost || isClosing()) return;
    lost = true;
    logger.warn({ redis: where, role }, "lost the connection to Redis; reconnecting");
  });
  client.on("ready", () => {
    if (!lost) return;
    lost = false;
    logger.info({ redis: where, role }, "reconnected to Redis");
  });
}

/**
 * QUIT when the connection is up (the server sees a clean close, after the replies already on their way); otherwise
 * stop the reconnect loop at once. On a cluster, QUIT goes to each node connection that is up: `Cluster.quit` would
 * first connect the nodes never used, and wait for any that is down.
 */
export async function closeRedis(client: RedisClient): Promise<void> {
  if (client instanceof Cluster) {
    const up = client.nodes().filter((node) => node.status === "ready");
    await Promise.all(up.map((node) => node.quit().catch(noop)));
  } else if (client.status === "ready") {
    await client.quit().catch(noop);
  }
  client.disconnect();
}

/**
 * Decodes msgpack written by another roombus node. Not `decodeMsgpackMap`: that one guards the WebSocket boundary
 * (depth limit 32, top-level map), while node messages nest a client's frame content a few levels deeper and come
 * from peers that encoded them with `encodeMsgpack`. The options match the codec's, so no msgpackr extension
 * (records, structured clone) is produced. Throws on malformed input; callers catch.
 */
const peerUnpackr = new Unpackr({
  useRecords: false,
  mapsAsObjects: true,
  structuredClone: false,
  moreTypes: false,
  int64AsType: "number",
});

export function decodePeerMsgpack(bytes: Uint8Array): unknown {
  return peerUnpackr.unpack(bytes);
}
