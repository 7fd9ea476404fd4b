/**
 * What every bench entry point (run.ts, secrets.ts, cluster.ts, peers/run.ts) shares: where its processes run, the
 * credentials of the roombus servers it starts, a timestamped progress log, argument parsing helpers, the commit it
 * measured, and a runner that kills every child and removes every temp directory whatever way the run ends.
 */
import { execFileSync } from "node:child_process";
import { createServer } from "node:net";

/** Servers on core 0, the load generator on core 1, where taskset exists. */
export const SERVER_CPU = 0;
export const LOADGEN_CPU = 1;
/** `ulimit -n` for server children (thousands of sockets). */
export const FD_LIMIT = 65_536;

/** The roombus servers' token settings (HS256; bench tokens only). */
export const JWT_SECRET = "bench-secret-bench-secret-bench-secret-0123456789";
export const ISSUER = "roombus";
export const AUDIENCE = "roombus";

/** A progress logger for stderr: `[name  12.3s] line`, seconds since the bench started. */
export function createLog(name: string): (line: string) => void {
  const startedAt = performance.now();
  return (line) => {
    const seconds = ((performance.now() - startedAt) / 1000).toFixed(1).padStart(6);
    process.stderr.write(`[${name} ${seconds}s] ${line}\n`);
  };
}

/** A mistake on the command line: printed as one line (no stack), exit code 2. */
export class UsageError extends Error {}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** The integer after `prefix` in `arg` (`--rounds=3`), within [min, max]; else an error naming the flag. */
export function intArg(arg: string, prefix: string, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  const value = Number(arg.slice(prefix.length));
  if (!Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? (min === 1 ? "a positive integer" : `an integer ≥ ${min}`) : `an integer from ${min} to ${max}`;
    throw new UsageError(`${prefix.slice(0, -1)} needs ${range}`);
  }
  return value;
}

/** The comma-separated names after `prefix` (`--only=a,b`), each one of `allowed`. */
export function namesArg<Name extends string>(arg: string, prefix: string, allowed: readonly Name[], what: string): Set<Name> {
  const names = arg.slice(prefix.length).split(",");
  for (const name of names) {
    if (!allowed.includes(name as Name)) {
      throw new UsageError(`${prefix.slice(0, -1)}: unknown ${what} "${name}" (${allowed.join(", ")})`);
    }
  }
  return new Set(names as Name[]);
}

/** `--help`: prints the usage and exits. */
export function printUsage(usage: string): never {
  process.stdout.write(usage);
  process.exit(0);
}

/** The short commit of `root`, `+dirty` when src/ has uncommitted changes; undefined outside a git checkout. */
export function describeCommit(root: string): string | undefined {
  try {
    const head = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: root, encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--", "src"], { cwd: root, encoding: "utf8" }).trim();
    return dirty === "" ? head : `${head}+dirty`;
  } catch {
    return undefined;
  }
}

/** This process's environment without ROOMBUS_* (nothing of the caller's may change what is measured), plus `extra`. */
export function serverEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith("ROOMBUS_")) env[key] = value;
  return { ...env, ...extra };
}

/** A loopback port that was free a moment ago (for a server that cannot listen on port 0 itself, like redis-server). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Runs a bench's `main` (resolving to the exit code) and exits with it. `cleanUp` runs on every way out: the end, an
 * error, Ctrl-C or SIGTERM, and process exit; it must be synchronous and safe to call twice.
 */
export function runBench(main: () => Promise<number>, cleanUp: () => void, log: (line: string) => void): void {
  process.on("exit", cleanUp);
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => {
      log(`${signal}: stopping`);
      cleanUp();
      process.exit(130);
    });
  }
  main().then(
    (code) => {
      cleanUp();
      // Sockets of a failed phase may still hold the loop open; the run is over.
      process.exit(code);
    },
    (error: unknown) => {
      cleanUp();
      if (error instanceof UsageError) {
        process.stderr.write(`${error.message} (try --help)\n`);
        process.exit(2);
      }
      log(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      process.exit(1);
    },
  );
}
