/**
 * A Redis Cluster of the test's own: three redis-server masters (no replicas) on free loopback ports, each in its own
 * temporary directory, joined with `redis-cli --cluster create`. Ready when every node's CLUSTER INFO says
 * `cluster_state:ok`; `await using` kills them all and removes the directories. It never touches the shared Redis.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Cluster, Redis } from "ioredis";
import { afterAll, beforeAll, describe, it } from "vitest";
import { channelKey } from "../../src/bus/bus.js";
import { freePort } from "./free-port.js";

const START_TIMEOUT_MS = 20_000;

export interface TestRedisCluster extends AsyncDisposable {
  /** The masters' client ports. */
  ports: number[];
  /** Every node's URL, comma-separated: the value of ROOMBUS_REDIS_URL with ROOMBUS_REDIS_CLUSTER=true. */
  url: string;
  /** A plain client to one node, for assertions on that node; closed on dispose. */
  node(port: number): Redis;
  /** A cluster client for assertions; closed on dispose. */
  client(): Cluster;
  /** The hash slot of a key (or of its `{tag}`), from CLUSTER KEYSLOT. */
  slotOf(key: string): Promise<number>;
  /** The port of the master that owns a key's slot. */
  ownerOf(key: string): Promise<number>;
  /** One room name (`<prefix>-<n>`) per master: rooms whose `{room}` hash tags land on different shards. */
  roomPerShard(prefix: string): Promise<string[]>;
  /** Every key matching `pattern` on every master (SCAN on each: a cluster has no one keyspace to scan). */
  keys(pattern: string): Promise<string[]>;
  /** SIGKILLs every node: clients see every connection drop. */
  kill(): Promise<void>;
  /** Starts every node again on its port and directory (the cluster's configuration is on disk) until it is ok. */
  restart(): Promise<void>;
}

/**
 * Why this machine cannot run the cluster tests, or undefined when it can: Redis Cluster with sharded pub/sub and
 * `--cluster-port` needs redis-server 7 or newer, and `redis-cli --cluster` joins the nodes.
 */
export function redisClusterUnsupported(): string | undefined {
  const server = spawnSync("redis-server", ["--version"], { encoding: "utf8" });
  if (server.error !== undefined || server.status !== 0) return "redis-server is not installed";
  const major = Number(/v=(\d+)\./.exec(server.stdout)?.[1] ?? 0);
  if (major < 7) return `redis-server ${major} lacks sharded pub/sub (Redis Cluster tests need 7 or newer)`;
  const cli = spawnSync("redis-cli", ["--cluster", "help"], { encoding: "utf8" });
  if (cli.error !== undefined || !`${cli.stdout}${cli.stderr}`.includes("create")) {
    return "redis-cli lacks --cluster (it joins the test cluster's nodes)";
  }
  return undefined;
}

interface ClusterNode {
  port: number;
  /** The cluster bus port: given explicitly, since the default (port + 10000) may be past 65535 or taken. */
  busPort: number;
  dir: string;
  process: ChildProcess | undefined;
}

async function startNode(node: ClusterNode): Promise<void> {
  const proc = spawn(
    "redis-server",
    [
      "--port", String(node.port),
      "--bind", "127.0.0.1",
      "--dir", node.dir,
      "--cluster-enabled", "yes",
      "--cluster-port", String(node.busPort),
      "--cluster-config-file", "nodes.conf",
      "--appendonly", "yes",
      "--appendfsync", "always",
      "--save", "",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  node.process = proc;
  await new Promise<void>((resolve, reject) => {
    let output = "";
    const timer = setTimeout(() => reject(new Error(`redis-server (cluster node) did not start: ${output}`)), START_TIMEOUT_MS);
    proc.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes("Ready to accept connections")) {
        clearTimeout(timer);
        resolve();
      }
    });
    proc.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server (cluster node) exited with ${code}: ${output}`));
    });
  });
}

async function stopNode(node: ClusterNode): Promise<void> {
  const proc = node.process;
  if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((resolve) => proc.once("exit", resolve));
  proc.kill("SIGKILL");
  await exited;
}

async function joinNodes(ports: number[]): Promise<void> {
  const proc = spawn(
    "redis-cli",
    ["--cluster", "create", ...ports.map((port) => `127.0.0.1:${port}`), "--cluster-replicas", "0", "--cluster-yes"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  proc.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  proc.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(new Error(`redis-cli --cluster create did not finish: ${output}`));
    }, START_TIMEOUT_MS);
    proc.once("exit", (exitCode) => {
      clearTimeout(timer);
      resolve(exitCode);
    });
  });
  if (code !== 0) throw new Error(`redis-cli --cluster create exited with ${code}: ${output}`);
}

/** Polls each node's CLUSTER INFO until all say `cluster_state:ok` (each node has its own view of the cluster). */
async function waitUntilOk(ports: number[]): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  const clients = ports.map((port) => new Redis(port, "127.0.0.1", { lazyConnect: true, maxRetriesPerRequest: 1 }));
  try {
    for (const client of clients) {
      for (;;) {
        const info = await client.cluster("INFO").catch(() => "");
        if (/^cluster_state:ok\r?$/m.test(info)) break;
        if (Date.now() > deadline) throw new Error(`the test Redis Cluster did not reach cluster_state:ok: ${info}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  } finally {
    for (const client of clients) client.disconnect();
  }
}

/**
 * Declares a test file's Redis Cluster suites: one cluster of the file's own is started before them (handed over with
 * `started`) and stopped after. Where this machine cannot run one, a single skipped test named `title` says why.
 */
export function withTestRedisCluster(title: string, started: (cluster: TestRedisCluster) => void, suites: () => void): void {
  const unsupported = redisClusterUnsupported();
  if (unsupported !== undefined) {
    describe(title, () => {
      it.skip(`skipped: ${unsupported}`, () => {});
    });
    return;
  }
  let cluster: TestRedisCluster | undefined;
  beforeAll(async () => {
    cluster = await startTestRedisCluster();
    started(cluster);
  });
  afterAll(async () => {
    await cluster?.[Symbol.asyncDispose]();
  });
  suites();
}

export async function startTestRedisCluster(size = 3): Promise<TestRedisCluster> {
  const root = await mkdtemp(join(tmpdir(), "roombus-redis-cluster-"));
  const nodes: ClusterNode[] = [];
  const clients: (Redis | Cluster)[] = [];
  const nodeClients = new Map<number, Redis>();

  const stopAll = async (): Promise<void> => {
    await Promise.all(nodes.map(stopNode));
  };
  const startAll = async (): Promise<void> => {
    await Promise.all(nodes.map(startNode));
  };

  try {
    for (let i = 0; i < size; i++) {
      const dir = join(root, `node-${i}`);
      await mkdir(dir);
      nodes.push({ port: await freePort(), busPort: await freePort(), dir, process: undefined });
    }
    await startAll();
    const ports = nodes.map((node) => node.port);
    await joinNodes(ports);
    await waitUntilOk(ports);
  } catch (error) {
    await stopAll();
    await rm(root, { recursive: true, force: true });
    throw error;
  }

  const ports = nodes.map((node) => node.port);
  const node = (port: number): Redis => {
    let client = nodeClients.get(port);
    if (client === undefined) {
      client = new Redis(port, "127.0.0.1", { maxRetriesPerRequest: 1 });
      // While the test has the nodes down, reconnect attempts fail; they are expected, not worth a printed warning.
      client.on("error", () => {});
      nodeClients.set(port, client);
      clients.push(client);
    }
    return client;
  };
  const slotOf = async (key: string): Promise<number> => Number(await node(ports[0]!).cluster("KEYSLOT", key));
  const ownerOf = async (key: string): Promise<number> => {
    const slot = await slotOf(key);
    const ranges = await node(ports[0]!).cluster("SLOTS");
    const master = ranges.find(([first, last]) => slot >= first && slot <= last)?.[2];
    if (master === undefined) throw new Error(`no master owns slot ${slot}`);
    return master[1];
  };

  return {
    ports,
    url: ports.map((port) => `redis://127.0.0.1:${port}`).join(","),
    node,
    client() {
      const cluster = new Cluster([{ host: "127.0.0.1", port: ports[0]! }], { redisOptions: { maxRetriesPerRequest: 1 } });
      cluster.on("error", () => {});
      clients.push(cluster);
      return cluster;
    },
    slotOf,
    ownerOf,
    async roomPerShard(prefix) {
      const byOwner = new Map<number, string>();
      for (let i = 0; byOwner.size < ports.length; i++) {
        if (i > 1_000) throw new Error("no room name found for some shard");
        const room = `${prefix}-${i}`;
        const owner = await ownerOf(channelKey({ room }));
        if (!byOwner.has(owner)) byOwner.set(owner, room);
      }
      return [...byOwner.values()];
    },
    async keys(pattern) {
      const found: string[] = [];
      for (const port of ports) {
        let cursor = "0";
        do {
          const [next, batch] = await node(port).scan(cursor, "MATCH", pattern, "COUNT", 500);
          found.push(...batch);
          cursor = next;
        } while (cursor !== "0");
      }
      return found;
    },
    kill: stopAll,
    async restart() {
      await startAll();
      await waitUntilOk(ports);
    },
    async [Symbol.asyncDispose]() {
      for (const client of clients) client.disconnect();
      await stopAll();
      await rm(root, { recursive: true, force: true });
    },
  };
}
