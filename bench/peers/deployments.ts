/**
 * The systems under test, each as a small cluster of its own: a bench-owned redis-server and two nodes, every
 * server process pinned to the servers' core. roombus nodes are `roombus serve` processes (roombus-serve.ts) in Redis
 * mode (ROOMBUS_REDIS_URL, a shared JWT secret and encryption key); Socket.IO nodes are socketio-server.ts with the
 * Redis adapter. `join` connects one member through the system's own handshake (a token in both cases).
 */
import { mkdtempSync, rmSync } from "node:fs";

import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { mintToken } from "../../src/auth/tokens.js";
import { newMasterKeyBase64 } from "../../src/secrets/keyring.js";
import { spawnServer, type ServerChild } from "../lib/children.js";
import { AUDIENCE, FD_LIMIT, freePort, ISSUER, JWT_SECRET } from "../lib/entry.js";
import { connectRoombus, type SocketSet } from "../lib/clients.js";
import { startBenchRedis, type BenchRedis } from "../lib/redis-server.js";
import { RoombusMember, SocketIoMember, type Member } from "./members.js";
import { connectSocketIo } from "./socketio-wire.js";
import type { SystemName } from "./systems.js";

const TOKEN_SECRET = { secret: new TextEncoder().encode(JWT_SECRET), issuer: ISSUER, audience: AUDIENCE };
const here = dirname(fileURLToPath(import.meta.url));
/** Every roombus node's data directory, removed by `removeDataDirs` however the run ends. */
const dataDirs: string[] = [];

/** Synchronous, so it can run in an 'exit' handler. */
export function removeDataDirs(): void {
  for (const dir of dataDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

export interface Placement {
  /** Core of every server process (nodes and Redis), or undefined when not pinned. */
  serverCpu: number | undefined;
  log: (line: string) => void;
}

export interface System {
  readonly name: SystemName;
  readonly redis: BenchRedis;
  /** Node 0 and node 1 (a workload "on one node" uses node 0). */
  readonly nodes: readonly ServerChild[];
  /** Connects a member to a room on one node and resolves once it is in the room. */
  join(node: ServerChild, room: string, identity: string, sockets: SocketSet): Promise<Member>;
  /** A fresh node of the same cluster (W4); `gc` exposes the collector so memory is read after a full GC. */
  startNode(name: string, options: { gc: boolean }): Promise<ServerChild>;
  /** Open sessions as the node itself counts them. */
  connections(node: ServerChild): Promise<number | undefined>;
  stop(): Promise<void>;
}

/** The caller's environment without any ROOMBUS_* (a Redis URL or a low rate limit must not change what is measured). */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith("ROOMBUS_")) env[key] = value;
  return { ...env, ...extra };
}

function token(identity: string, room: string): Promise<string> {
  return mintToken(TOKEN_SECRET, { identity, room, api: ["messaging", "toolkits"], ttlSeconds: 3600 });
}

export async function startRoombus(placement: Placement): Promise<System> {
  const redis = await startBenchRedis({ cpu: placement.serverCpu, log: placement.log });
  const encryptionKey = newMasterKeyBase64();
  const startNode = async (name: string, options: { gc: boolean }): Promise<ServerChild> => {
    const dataDir = mkdtempSync(join(tmpdir(), "roombus-peers-"));
    dataDirs.push(dataDir);
    return spawnServer({
      name,
      script: join(here, "roombus-serve.js"),
      nodeArgs: options.gc ? ["--expose-gc"] : [],
      env: cleanEnv({
        ROOMBUS_HOST: "127.0.0.1",
        ROOMBUS_PORT: String(await freePort()),
        ROOMBUS_REDIS_URL: redis.url,
        ROOMBUS_JWT_SECRET: JWT_SECRET,
        ROOMBUS_ISSUER: ISSUER,
        ROOMBUS_AUDIENCE: AUDIENCE,
        ROOMBUS_ENCRYPTION_KEY: encryptionKey,
        ROOMBUS_DATA_DIR: dataDir,
        ROOMBUS_LOG_LEVEL: "warn",
        ROOMBUS_LOG_FORMAT: "json",
        // The rate limit protects a node from one client; a load generator is one client sending for many.
        ROOMBUS_RATE_LIMIT: "1000000",
        ROOMBUS_RATE_BURST: "1000000",
      }),
      cpu: placement.serverCpu,
      fdLimit: FD_LIMIT,
      log: placement.log,
    });
  };
  // One after the other: the first node creates the cluster's data key, the second reads it.
  const nodes = [await startNode("roombus-0", { gc: false }), await startNode("roombus-1", { gc: false })];
  return {
    name: "roombus",
    redis,
    nodes,
    async join(node, room, identity, sockets) {
      const connection = await connectRoombus(`ws://127.0.0.1:${node.port}/rooms/${room}`, await token(identity, room), sockets);
      return new RoombusMember(connection);
    },
    startNode,
    async connections(node) {
      try {
        const response = await fetch(`http://127.0.0.1:${node.port}/metrics`);
        const match = /^roombus_sessions (\d+)/m.exec(await response.text());
        return match === null ? undefined : Number(match[1]);
      } catch {
        return undefined;
      }
    },
    async stop() {
      await Promise.all(nodes.map((node) => node.stop()));
      await redis.stop();
    },
  };
}

export async function startSocketIo(placement: Placement): Promise<System> {
  const redis = await startBenchRedis({ cpu: placement.serverCpu, log: placement.log });
  const startNode = (name: string, options: { gc: boolean }): Promise<ServerChild> =>
    spawnServer({
      name,
      script: join(here, "socketio-server.js"),
      nodeArgs: options.gc ? ["--expose-gc"] : [],
      env: cleanEnv({
        BENCH_PORT: "0",
        BENCH_JWT_SECRET: JWT_SECRET,
        BENCH_ISSUER: ISSUER,
        BENCH_AUDIENCE: AUDIENCE,
        BENCH_REDIS_URL: redis.url,
        // socket.io and engine.io log through `debug`; a DEBUG from the caller would measure the logging.
        DEBUG: "",
      }),
      cpu: placement.serverCpu,
      fdLimit: FD_LIMIT,
      log: placement.log,
    });
  const nodes = [await startNode("socket.io-0", { gc: false }), await startNode("socket.io-1", { gc: false })];
  return {
    name: "socket.io",
    redis,
    nodes,
    async join(node, room, identity, sockets) {
      return new SocketIoMember(await connectSocketIo(node.port, { token: await token(identity, room), room }, sockets));
    },
    startNode,
    async connections(node) {
      return (await node.stats()).extra.connections;
    },
    async stop() {
      await Promise.all(nodes.map((node) => node.stop()));
      await redis.stop();
    },
  };
}

export function startSystem(name: SystemName, placement: Placement): Promise<System> {
  return name === "roombus" ? startRoombus(placement) : startSocketIo(placement);
}

/** The raw `ws` server of the baselines (raw-ws-server.ts), pinned like the systems' nodes. */
export function startRawServer(placement: Placement): Promise<ServerChild> {
  return spawnServer({
    name: "raw-ws",
    script: join(here, "raw-ws-server.js"),
    env: cleanEnv({}),
    cpu: placement.serverCpu,
    fdLimit: FD_LIMIT,
    log: placement.log,
  });
}
