/**
 * A redis-server of the bench's own on a free loopback port (never the shared one on 6379), pinned to a core where
 * taskset exists. Pub/sub and presence only: no persistence, so no fsync lands inside a measured window. The process
 * is killed with SIGKILL on `stop()` and by `killAllRedis()`, which the bench's exit handler calls.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { freePort } from "./entry.js";

const live = new Set<ChildProcess>();

/** Kills every redis-server still running; synchronous so it can run in an 'exit' handler. */
export function killAllRedis(): void {
  for (const child of live) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
  live.clear();
}

export interface BenchRedis {
  readonly url: string;
  readonly pid: number;
  readonly version: string;
  /** CPU time the server has used so far, microseconds (from /proc), or undefined where /proc is missing. */
  cpuMicros(): number | undefined;
  /** Rejects when the server exits before `stop()`; never resolves. */
  readonly died: Promise<never>;
  stop(): Promise<void>;
}

export interface BenchRedisOptions {
  /** Core to pin the server to (taskset -c), or undefined. */
  cpu: number | undefined;
  log: (line: string) => void;
  readyTimeoutMs?: number;
}

/** utime + stime of a process from /proc/<pid>/stat, in microseconds (USER_HZ is 100 on Linux). */
export function readProcessCpuMicros(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may hold spaces; the fields after its closing parenthesis are plain.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // Fields 14 and 15 (utime, stime) are at 11 and 12 once fields 1 and 2 are cut off.
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  } catch {
    return undefined;
  }
}

export async function startBenchRedis(options: BenchRedisOptions): Promise<BenchRedis> {
  const port = await freePort();
  const serverArgs = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"];
  // `exec`-like: taskset replaces itself with redis-server, so the pid is the server's.
  const [command, args] =
    options.cpu === undefined
      ? ["redis-server", serverArgs]
      : ["taskset", ["-c", String(options.cpu), "redis-server", ...serverArgs]];
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
  live.add(child);
  let stopping = false;
  let rejectDied!: (error: Error) => void;
  const died = new Promise<never>((_resolve, reject) => (rejectDied = reject));
  died.catch(() => undefined);
  const exited = new Promise<void>((resolve) => {
    child.once("exit", (code, signal) => {
      live.delete(child);
      if (!stopping) rejectDied(new Error(`redis-server exited (code ${String(code)}, signal ${String(signal)})`));
      resolve();
    });
  });

  const version = await new Promise<string>((resolve, reject) => {
    let output = "";
    const timer = setTimeout(() => reject(new Error(`redis-server did not start: ${output}`)), options.readyTimeoutMs ?? 10_000);
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes("Ready to accept connections")) {
        clearTimeout(timer);
        resolve(/version=([\d.]+)/.exec(output)?.[1] ?? /v=([\d.]+)/.exec(output)?.[1] ?? "unknown");
      }
    });
    child.stderr.on("data", (chunk: Buffer) => options.log(`[redis] ${chunk.toString().trim()}`));
    died.catch((error: Error) => {
      clearTimeout(timer);
      reject(new Error(`${error.message}: ${output}`));
    });
  }).catch((error: unknown) => {
    child.kill("SIGKILL");
    throw error;
  });
  // Keep reading, so a full pipe never blocks the server.
  child.stdout.resume();

  const pid = child.pid!;
  return {
    url: `redis://127.0.0.1:${port}`,
    pid,
    version,
    cpuMicros: () => readProcessCpuMicros(pid),
    died,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      stopping = true;
      child.kill("SIGKILL");
      await exited;
    },
  };
}
