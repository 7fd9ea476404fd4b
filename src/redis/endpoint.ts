/**
 * Where roombus's Redis is, as the configuration says it: one server's URL, or a Redis Cluster's seed node URLs.
 * Parsing only (no connection), so the configuration can check a value before anything connects. No message here
 * ever quotes a password: a URL in a message is always redacted first.
 */

export interface RedisEndpoint {
  /** One server's `redis://` or `rediss://` URL; with `cluster`, one or more seed node URLs separated by commas. */
  url: string;
  /**
   * A Redis Cluster: the seeds tell the client which node owns which hash slot, and each command goes to its slot's
   * owner. Implies sharded pub/sub (SPUBLISH/SSUBSCRIBE).
   */
  cluster?: boolean | undefined;
}

export interface RedisSeed {
  host: string;
  port: number;
}

/** A cluster's seed nodes and the settings every node connection shares (taken from the seed URLs). */
export interface ClusterSeeds {
  nodes: RedisSeed[];
  username: string | undefined;
  password: string | undefined;
  tls: boolean;
}

const DEFAULT_PORT = 6379;

/** A Redis URL that cannot be used; the message names the problem and never the password. */
export class RedisUrlError extends Error {
  override readonly name = "RedisUrlError";
}

/**
 * Checks a single server's URL. Done before ioredis sees it, because ioredis would throw Node's ERR_INVALID_URL,
 * whose `input` property holds the whole URL, password included.
 */
export function checkRedisUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new RedisUrlError("invalid Redis URL: not a URL");
  }
  if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") {
    throw new RedisUrlError(`invalid Redis URL: ${redactRedisUrl(url)} (expected redis:// or rediss://)`);
  }
  return parsed;
}

/**
 * The seed nodes of a cluster from `redis://host:port` URLs separated by commas (a comma inside a password must be
 * written %2C). Every seed must use the same scheme, user and password: they become the settings of every node
 * connection, including the nodes the client discovers from the seeds. Only database 0 exists on a cluster.
 */
export function parseClusterSeeds(urls: string): ClusterSeeds {
  const parts = urls.split(",").map((part) => part.trim());
  if (parts.some((part) => part === "")) throw new RedisUrlError("invalid Redis Cluster seed list: an empty entry");
  const seeds = parts.map((part, index) => {
    let parsed: URL;
    try {
      parsed = checkRedisUrl(part);
    } catch {
      // Not quoted, redacted or not: the entry might be a fragment of a password that held a comma.
      throw new RedisUrlError(`invalid Redis Cluster seed ${index + 1}: expected a redis:// or rediss:// URL`);
    }
    if (parsed.pathname !== "" && parsed.pathname !== "/" && parsed.pathname !== "/0") {
      throw new RedisUrlError(`invalid Redis Cluster seed ${index + 1}: a cluster has only database 0 (drop the path)`);
    }
    return {
      host: parsed.hostname.replace(/^\[(.*)\]$/, "$1"),
      port: parsed.port === "" ? DEFAULT_PORT : Number(parsed.port),
      tls: parsed.protocol === "rediss:",
      username: decodeUrlPart(parsed.username) || undefined,
      password: passwordOf(parsed),
    };
  });
  const first = seeds[0]!;
  for (const seed of seeds) {
    if (seed.tls !== first.tls || seed.username !== first.username || seed.password !== first.password) {
      throw new RedisUrlError("invalid Redis Cluster seed list: every seed must use the same scheme, user and password");
    }
  }
  return {
    nodes: seeds.map(({ host, port }) => ({ host, port })),
    username: first.username,
    password: first.password,
    tls: first.tls,
  };
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

/** `Redis at <url>` or `Redis Cluster at <seed>,<seed>`, every URL without its password. */
export function describeRedisEndpoint(endpoint: RedisEndpoint): string {
  if (endpoint.cluster !== true) return `Redis at ${redactRedisUrl(endpoint.url)}`;
  const seeds = endpoint.url.split(",").map((part) => redactRedisUrl(part.trim()));
  return `Redis Cluster at ${seeds.join(",")}`;
}

/** Every password the endpoint's URLs hold, so a text that might quote one can be scrubbed. */
export function passwordsOf(endpoint: RedisEndpoint): string[] {
  const urls = endpoint.cluster === true ? endpoint.url.split(",").map((part) => part.trim()) : [endpoint.url];
  const passwords: string[] = [];
  for (const url of urls) {
    try {
      const password = passwordOf(new URL(url));
      if (password !== undefined) passwords.push(password);
    } catch {
      // Not a URL: nothing was connected with it, so nothing can quote it.
    }
  }
  return passwords;
}

function passwordOf(parsed: URL): string | undefined {
  return decodeUrlPart(parsed.password) || parsed.searchParams.get("password") || undefined;
}

/** Percent-decoding as a server would see the value; a malformed escape is kept as written. */
function decodeUrlPart(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
