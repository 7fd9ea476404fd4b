/**
 * A redis-server of the test's own on a free loopback port, so a test may kill and restart it; it never touches the
 * shared Redis on 6379. Data lives in a temporary directory (AOF on, like the cluster setup).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { freePort } from "./free-port.js";

export interface TestRedis extends AsyncDisposable {
  port: number;
  url: string;
  /** Stops the server abruptly (SIGKILL): clients see the connection drop. */
  kill(): Promise<void>;
  /** Starts it again on the same port and data directory. */
  restart(): Promise<void>;
  /** A fresh client for assertions; closed on dispose. */
  client(): Redis;
}

export async function startTestRedis(): Promise<TestRedis> {
  const dir = await mkdtemp(join(tmpdir(), "roombus-redis-"));
  const port = await freePort();
  const clients: Redis[] = [];
  let child: ChildProcess | undefined;

  const start = async (): Promise<void> => {
    const proc = spawn(
      "redis-server",
      ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--appendonly", "yes", "--appendfsync", "always", "--save", ""],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    child = proc;
    await new Promise<void>((resolve, reject) => {
      let output = "";
      const timer = setTimeout(() => reject(new Error(`redis-server did not start: ${output}`)), 10_000);
      proc.stdout.on("data", (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes("Ready to accept connections")) {
          clearTimeout(timer);
          resolve();
        }
      });
      proc.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited with ${code}: ${output}`));
      });
    });
  };

  const stop = async (): Promise<void> => {
    const proc = child;
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((resolve) => proc.once("exit", resolve));
    proc.kill("SIGKILL");
    await exited;
  };

  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill: stop,
    restart: start,
    client() {
      const redis = new Redis(port, "127.0.0.1", { maxRetriesPerRequest: 1, lazyConnect: false });
      clients.push(redis);
      return redis;
    },
    async [Symbol.asyncDispose]() {
      for (const redis of clients) redis.disconnect();
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
