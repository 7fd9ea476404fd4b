/**
 * A roombus server in its own process (`roombus serve` from the build), for tests of what only a real process shows:
 * signals, exit codes, startup lines.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { mintToken } from "../../src/auth/tokens.js";
import { connect, type RoomClient } from "../../src/client/index.js";
import { CLI } from "./cli-process.js";
import { TEST_SECRET } from "./start-test-node.js";

type Api = "messaging" | "toolkits" | "secrets" | "admin";

export interface ServerProcess extends AsyncDisposable {
  child: ChildProcess;
  port: number;
  /** Every stdout line so far (JSON log lines). */
  lines: string[];
  exited: Promise<number | null>;
  /** A token for this server: `api` defaults to messaging; `jti` names it for revocation. */
  token(identity: string, room: string, api?: Api[], options?: { jti?: string }): Promise<string>;
  /** `ws://127.0.0.1:<port>/rooms/<room>`. */
  roomUrl(room: string): string;
}

export async function startServerProcess(env: Record<string, string> = {}): Promise<ServerProcess> {
  const dataDir = await mkdtemp(join(tmpdir(), "roombus-proc-"));
  const child = spawn(process.execPath, [CLI, "serve", "--port", "0", "--data-dir", dataDir], {
    env: { ...process.env, ROOMBUS_JWT_SECRET: TEST_SECRET, ROOMBUS_LOG_FORMAT: "json", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${lines.join("\n")}`)), 15_000);
    createInterface({ input: child.stdout }).on("line", (line) => {
      lines.push(line);
      const match = /roombus listening on ws:\/\/[^:]+:(\d+)/.exec(line);
      if (match !== null) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    void exited.then((code) => reject(new Error(`server exited with ${code}: ${lines.join("\n")}`)));
  });
  return {
    child,
    port,
    lines,
    exited,
    token: (identity, room, api = ["messaging"], options = {}) =>
      mintToken(
        { secret: new TextEncoder().encode(TEST_SECRET), issuer: "roombus", audience: "roombus" },
        { identity, room, api, ttlSeconds: 300, ...options },
      ),
    roomUrl: (room) => `ws://127.0.0.1:${port}/rooms/${room}`,
    async [Symbol.asyncDispose]() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export interface ServerProcesses extends AsyncDisposable {
  nodes: ServerProcess[];
  /** A client of `identity` in `room` on `node` (messaging, toolkits and secrets unless `api` says otherwise). */
  join(node: ServerProcess, identity: string, room: string, options?: { api?: Api[]; jti?: string }): Promise<RoomClient>;
}

/** `count` server processes with the same `env` (one cluster on one Redis); disposing closes every client and node. */
export async function startServerProcesses(count: number, env: Record<string, string>): Promise<ServerProcesses> {
  const nodes = await Promise.all(Array.from({ length: count }, () => startServerProcess(env)));
  const clients: RoomClient[] = [];
  return {
    nodes,
    async join(node, identity, room, options = {}) {
      const { api = ["messaging", "toolkits", "secrets"], ...claims } = options;
      const client = await connect(node.roomUrl(room), await node.token(identity, room, api, claims));
      clients.push(client);
      return client;
    },
    async [Symbol.asyncDispose]() {
      await Promise.all(clients.map((client) => client.close().catch(() => undefined)));
      await Promise.all(nodes.map((node) => node[Symbol.asyncDispose]()));
    },
  };
}
