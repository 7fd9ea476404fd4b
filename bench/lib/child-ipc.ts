/**
 * The server side of the bench's IPC: a server child answers `stats` (after a forced GC when run with --expose-gc),
 * starts and stops a CPU profile (the inspector's sampling profiler, so a profile covers exactly one measured window),
 * writes heap snapshots, and exits cleanly on `shutdown` or when the load generator goes away.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { setImmediate as nextTurn } from "node:timers/promises";
import { writeHeapSnapshot } from "node:v8";

export interface ChildStats {
  /** Resident set size from /proc/self/status (VmRSS), bytes; process.memoryUsage().rss where /proc is missing. */
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  /** CPU time used so far, microseconds. */
  cpuUser: number;
  cpuSystem: number;
  /** Whether a full GC ran before the figures were taken. */
  gc: boolean;
  /** Server-specific counters (open sockets, ...). */
  extra: Record<string, number>;
}

export type ChildRequest =
  | { id: number; type: "stats" | "shutdown" | "profile-start" }
  /** Stops the CPU profile and writes it (.cpuprofile JSON) to `path`. */
  | { id: number; type: "profile-stop" | "heap-snapshot"; path: string };

export interface ChildReply {
  id: number;
  ok: boolean;
  stats?: ChildStats;
  error?: string;
}

/** The line a server child prints on stdout once it listens. */
export interface ReadyLine {
  bench: "ready";
  port: number;
  pid: number;
}

export function printReady(port: number): void {
  const line: ReadyLine = { bench: "ready", port, pid: process.pid };
  process.stdout.write(JSON.stringify(line) + "\n");
}

function readVmRss(): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync("/proc/self/status", "utf8"));
    return match === null ? undefined : Number(match[1]) * 1024;
  } catch {
    return undefined;
  }
}

async function collectStats(extra: () => Record<string, number>): Promise<ChildStats> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc !== undefined) {
    // Two full collections a turn apart: the first can leave work for finalizers and weak callbacks.
    gc();
    await nextTurn();
    gc();
    await nextTurn();
  }
  const memory = process.memoryUsage();
  const cpu = process.cpuUsage();
  return {
    rss: readVmRss() ?? memory.rss,
    heapUsed: memory.heapUsed,
    heapTotal: memory.heapTotal,
    external: memory.external,
    arrayBuffers: memory.arrayBuffers,
    cpuUser: cpu.user,
    cpuSystem: cpu.system,
    gc: gc !== undefined,
    extra: extra(),
  };
}

/** Sampling interval of the CPU profiler, microseconds (V8's default is 1000). */
const PROFILE_INTERVAL_US = 200;
let inspector: Session | undefined;

async function startProfile(): Promise<void> {
  inspector ??= new Session();
  inspector.connect();
  await inspector.post("Profiler.enable");
  await inspector.post("Profiler.setSamplingInterval", { interval: PROFILE_INTERVAL_US });
  await inspector.post("Profiler.start");
}

async function stopProfile(path: string): Promise<void> {
  if (inspector === undefined) throw new Error("no profile was started");
  const { profile } = await inspector.post("Profiler.stop");
  await inspector.post("Profiler.disable");
  inspector.disconnect();
  writeFileSync(path, JSON.stringify(profile));
}

/** Answers the load generator's requests; `close` stops the server before a clean exit. */
export function serveBenchIpc(options: { extra: () => Record<string, number>; close: () => Promise<void> }): void {
  const shutdown = async (): Promise<void> => {
    try {
      await Promise.race([options.close(), new Promise((resolve) => setTimeout(resolve, 3000))]);
    } finally {
      process.exit(0);
    }
  };
  process.on("SIGTERM", () => void shutdown());
  process.on("SIGINT", () => void shutdown());
  if (process.send === undefined) return;
  // The load generator died or let go: nobody will stop this server otherwise.
  process.on("disconnect", () => void shutdown());
  process.on("message", (message: ChildRequest) => {
    const reply = (body: Omit<ChildReply, "id">): void => {
      process.send?.({ id: message.id, ...body });
    };
    const answer = (work: Promise<ChildStats | undefined>): void => {
      work.then(
        (stats) => reply(stats === undefined ? { ok: true } : { ok: true, stats }),
        (error: unknown) => reply({ ok: false, error: String(error) }),
      );
    };
    switch (message.type) {
      case "stats":
        answer(collectStats(options.extra));
        break;
      case "profile-start":
        answer(startProfile().then(() => undefined));
        break;
      case "profile-stop":
        answer(stopProfile(message.path).then(() => undefined));
        break;
      case "heap-snapshot":
        answer(
          (async () => {
            // Collect first, so the snapshot holds what is live, not what is waiting for the collector.
            await collectStats(options.extra);
            writeHeapSnapshot(message.path);
            return undefined;
          })(),
        );
        break;
      case "shutdown":
        reply({ ok: true });
        void shutdown();
        break;
    }
  });
}
