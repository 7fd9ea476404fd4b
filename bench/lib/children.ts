/**
 * Server children of the load generator: each server runs in its own process, pinned to its own core where taskset
 * exists, with a raised fd limit. Every child is tracked so that any way out of the bench (end, error, Ctrl-C) kills it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import type { ChildReply, ChildRequest, ChildStats, ReadyLine } from "./child-ipc.js";
import { readFdLimit } from "./system.js";

const live = new Set<ChildProcess>();

/** Kills every child still running; synchronous so it can run in an 'exit' handler. */
export function killAllChildren(): void {
  for (const child of live) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
  live.clear();
}

export interface SpawnOptions {
  name: string;
  /** Absolute path of the compiled server script. */
  script: string;
  env: NodeJS.ProcessEnv;
  nodeArgs?: string[];
  /** Core to pin the child to (taskset -c), or undefined. */
  cpu?: number | undefined;
  /** `ulimit -n` for the child. */
  fdLimit: number;
  readyTimeoutMs?: number;
  log: (line: string) => void;
}

export interface ServerChild {
  readonly name: string;
  readonly pid: number;
  readonly port: number;
  /** The child's own fd limit (soft), as it took effect. */
  readonly fdLimit: number | undefined;
  /** Rejects when the child exits before `stop()` was called; never resolves. */
  readonly died: Promise<never>;
  stats(): Promise<ChildStats>;
  /** Starts the child's CPU profiler. */
  startProfile(): Promise<void>;
  /** Stops it and writes the profile to `path`. */
  stopProfile(path: string): Promise<void>;
  /** Writes a heap snapshot (after a GC) to `path`. */
  heapSnapshot(path: string): Promise<void>;
  /** Asks for a clean exit (so --cpu-prof writes its profile); SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

export async function spawnServer(options: SpawnOptions): Promise<ServerChild> {
  const nodeCommand = [process.execPath, ...(options.nodeArgs ?? []), options.script].map(shellQuote).join(" ");
  const pin = options.cpu === undefined ? "" : `taskset -c ${options.cpu} `;
  // `exec` keeps one process: the pid we hold is the server's, and the IPC channel (fd 3) passes through.
  // Where the wanted limit is refused, take the hard limit (Node would raise the soft limit to it anyway).
  const command =
    `ulimit -n ${options.fdLimit} 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true; ` +
    `exec ${pin}${nodeCommand}`;
  const child = spawn("/bin/sh", ["-c", command], {
    env: options.env,
    stdio: ["ignore", "pipe", "inherit", "ipc"],
  });
  live.add(child);

  let stopping = false;
  let nextId = 1;
  const waiting = new Map<number, { resolve: (reply: ChildReply) => void; reject: (error: Error) => void }>();
  let rejectDied!: (error: Error) => void;
  const died = new Promise<never>((_resolve, reject) => (rejectDied = reject));
  died.catch(() => undefined);
  const exited = new Promise<void>((resolve) => {
    child.once("exit", (code, signal) => {
      live.delete(child);
      const error = new Error(`${options.name} server exited (code ${String(code)}, signal ${String(signal)})`);
      for (const pending of waiting.values()) pending.reject(error);
      waiting.clear();
      if (!stopping) rejectDied(error);
      resolve();
    });
  });
  child.on("message", (message: ChildReply) => {
    const pending = waiting.get(message.id);
    waiting.delete(message.id);
    pending?.resolve(message);
  });

  const ready = await new Promise<ReadyLine>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${options.name} server did not print its port in time`)), options.readyTimeoutMs ?? 15_000);
    const lines = createInterface({ input: child.stdout! });
    let found = false;
    lines.on("line", (line) => {
      if (!found && line.startsWith('{"bench":"ready"')) {
        found = true;
        clearTimeout(timer);
        resolve(JSON.parse(line) as ReadyLine);
        return;
      }
      // The server's own log lines (level warn and up) stay visible.
      options.log(`[${options.name}] ${line}`);
    });
    died.catch((error: Error) => {
      clearTimeout(timer);
      reject(error);
    });
  }).catch((error: unknown) => {
    child.kill("SIGKILL");
    throw error;
  });

  type Body = ChildRequest extends infer R ? (R extends ChildRequest ? Omit<R, "id"> : never) : never;
  const request = (body: Body, timeoutMs: number): Promise<ChildReply> =>
    new Promise<ChildReply>((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error(`${options.name} server did not answer "${body.type}" in time`));
      }, timeoutMs);
      waiting.set(id, {
        resolve: (reply) => {
          clearTimeout(timer);
          resolve(reply);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      child.send({ id, ...body });
    });
  const expectOk = async (body: Body, timeoutMs: number): Promise<ChildReply> => {
    const reply = await request(body, timeoutMs);
    if (!reply.ok) throw new Error(`${options.name} ${body.type} failed: ${reply.error ?? "?"}`);
    return reply;
  };

  return {
    name: options.name,
    pid: ready.pid,
    port: ready.port,
    fdLimit: readFdLimit(ready.pid)?.soft,
    died,
    async stats() {
      const reply = await expectOk({ type: "stats" }, 30_000);
      if (reply.stats === undefined) throw new Error(`${options.name} sent no stats`);
      return reply.stats;
    },
    async startProfile() {
      await expectOk({ type: "profile-start" }, 10_000);
    },
    async stopProfile(path) {
      await expectOk({ type: "profile-stop", path }, 60_000);
    },
    async heapSnapshot(path) {
      await expectOk({ type: "heap-snapshot", path }, 120_000);
    },
    async stop(graceMs = 5000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      stopping = true;
      if (child.connected) child.send({ id: 0, type: "shutdown" } satisfies ChildRequest);
      else child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}
