/**
 * What every Redis connection of roombus (bus, presence, store) shares: one set of connection options (fail fast while Redis is
 * down, never queue), a start that reports an unreachable Redis in one line, logging of connection state changes,
 * and URL redaction so a password never reaches a message or a log.
 */
import { Redis, type RedisOptions } from "ioredis";
import { Unpackr } from "msgpackr";
import type { Logger } from "pino";

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
 * A client for `url`, not yet connected. The URL is checked here because ioredis would throw Node's
 * ERR_INVALID_URL, whose `input` property holds the whole URL, password included.
 */
export function createRedisClient(url: string, connectionName: string): Redis {
  let protocol: string;
  try {
    protocol = new URL(url).protocol;
  } catch {
    throw new Error("invalid Redis URL: not a URL");
  }
  if (protocol !== "redis:" && protocol !== "rediss:") {
    throw new Error(`invalid Redis URL: ${redactRedisUrl(url)} (expected redis:// or rediss://)`);
  }
  return new Redis(url, redisClientOptions(connectionName));
}

/** The URL without its password (user info and `?password=`), for messages and logs. */
export function redactRedisUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return "(unparsable Redis URL)";
  }
  parsed.password = "";
  parsed.searchParams.delete("password");
  return parsed.toString();
}

/** Removes the URL's password from a text that might quote it (belt and braces: ioredis errors do not). */
function scrub(text: string, url: string): string {
  let password = "";
  try {
    const parsed = new URL(url);
    password = decodeURIComponent(parsed.password) || (parsed.searchParams.get("password") ?? "");
  } catch {
    return text;
  }
  return password === "" ? text : text.split(password).join("***");
}

/**
 * Connects every client and resolves when all are ready. On failure disconnects them all (no reconnect loop is
 * left behind) and throws `cannot reach Redis at <url without password>: <reason>`. The ioredis error is not
 * attached as `cause`: a failed AUTH carries the password in `error.command.args`.
 */
export async function connectRedis(clients: Redis[], url: string): Promise<void> {
  let firstError: Error | undefined;
  const onError = (error: Error): void => {
    firstError ??= error;
  };
  for (const client of clients) client.on("error", onError);
  try {
    await Promise.all(clients.map((client) => client.connect()));
  } catch (error) {
    for (const client of clients) {
      // A late error from the abandoned socket must not be printed as "Unhandled error event".
      client.on("error", noop);
      client.disconnect();
    }
    const reason = (firstError ?? (error instanceof Error ? error : new Error(String(error)))).message;
    throw new Error(`cannot reach Redis at ${redactRedisUrl(url)}: ${scrub(reason, url)}`);
  } finally {
    for (const client of clients) client.off("error", onError);
  }
}

/**
 * Logs a connection's losses and recoveries once each (not every reconnect attempt), and keeps ioredis from printing
 * "Unhandled error event". Only `error.message` is logged: ioredis errors carry the command's arguments.
 */
export function watchRedisConnection(
  client: Redis,
  role: string,
  url: string,
  logger: RedisLogger,
  isClosing: () => boolean,
): void {
  let lost = false;
  const where = redactRedisUrl(url);
  client.on("error", (error: Error) => {
    logger.debug({ redis: where, role, error: scrub(error.message, url) }, "redis connection error");
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

/** QUIT when the connection is up (the server sees a clean close); otherwise stop the reconnect loop at once. */
export async function closeRedis(client: Redis): Promise<void> {
  if (client.status === "ready") await client.quit().catch(noop);
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
