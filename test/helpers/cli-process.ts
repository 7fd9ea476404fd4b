/**
 * Running the built CLI (`dist/src/cli/main.js`) from tests: once to completion, or as a long-lived child whose
 * output lines can be awaited. Only PATH is taken from this environment, so no ROOMBUS_* setting leaks in.
 */
import { execFile, spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { ApiName } from "../../src/auth/grants.js";
import type { TestNode } from "./start-test-node.js";

export const ROOT = resolve(fileURLToPath(import.meta.url), "../../..");
export const CLI = join(ROOT, "dist/src/cli/main.js");
const RUN_TIMEOUT_MS = 15_000;

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout as bytes, for raw secret values. */
  stdoutBytes: Buffer;
}

export interface RunOptions {
  cwd?: string;
  /** Written to the child's stdin, which is then closed. */
  input?: string | Buffer;
}

export function assertBuilt(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first with \`npx tsc -p tsconfig.json\``);
}

export function runCli(args: string[], env: Record<string, string> = {}, options: RunOptions = {}): Promise<CliResult> {
  return new Promise((resolvePromise) => {
    const child = execFile(
      process.execPath,
      [CLI, ...args],
      {
        cwd: options.cwd,
        env: { PATH: process.env.PATH ?? "", ...env },
        timeout: RUN_TIMEOUT_MS,
        encoding: "buffer",
      },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1;
        resolvePromise({ code, stdout: stdout.toString("utf8"), stderr: stderr.toString("utf8"), stdoutBytes: stdout });
      },
    );
    child.stdin?.end(options.input ?? "");
  });
}

/** The ROOMBUS_URL and ROOMBUS_TOKEN a room command needs to reach `node` as `identity`. */
export async function roomEnv(node: TestNode, identity: string, api: ApiName[] = ["messaging", "secrets"]): Promise<Record<string, string>> {
  return { ROOMBUS_URL: node.server.httpUrl.replace(/^http/, "ws"), ROOMBUS_TOKEN: await node.token(identity, { api }) };
}

/** Lines of one output stream, with waits for the next line that matches. */
export class LineWatch {
  readonly lines: string[] = [];
  #partial = "";
  #cursor = 0;
  #waiters: (() => void)[] = [];
  #ended = false;

  constructor(stream: NodeJS.ReadableStream) {
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => {
      const parts = (this.#partial + chunk).split("\n");
      this.#partial = parts.pop() ?? "";
      this.lines.push(...parts);
      this.#wake();
    });
    stream.on("end", () => {
      if (this.#partial.length > 0) this.lines.push(this.#partial);
      this.#ended = true;
      this.#wake();
    });
  }

  /** Resolves with the first line after the previous match that matches `pattern`; rejects when the stream ends first. */
  async next(pattern: RegExp): Promise<string> {
    for (;;) {
      while (this.#cursor < this.lines.length) {
        const line = this.lines[this.#cursor++]!;
        if (pattern.test(line)) return line;
      }
      if (this.#ended) throw new Error(`the stream ended without a line matching ${String(pattern)}:\n${this.lines.join("\n")}`);
      await new Promise<void>((resolveWait) => this.#waiters.push(resolveWait));
    }
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}

export interface LiveCli {
  child: ChildProcessWithoutNullStreams;
  stdout: LineWatch;
  stderr: LineWatch;
  /** Resolves with the exit code (or -1 when killed by a signal it did not handle). */
  exited: Promise<number>;
}

/** Starts the CLI as a child with piped stdin, stdout and stderr. The caller must end it. */
export function startCli(args: string[], env: Record<string, string>): LiveCli {
  const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? "", ...env }, stdio: "pipe" });
  const exited = new Promise<number>((resolveExit) => child.on("exit", (code) => resolveExit(code ?? -1)));
  return { child, stdout: new LineWatch(child.stdout), stderr: new LineWatch(child.stderr), exited };
}
