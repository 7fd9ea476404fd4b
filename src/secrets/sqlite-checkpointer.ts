/**
 * Checkpoints the embedded store's write-ahead log on a thread of its own.
 *
 * SQLite's automatic checkpoint runs inside whichever commit crosses the log's size threshold: two fsyncs and a few
 * megabytes of page copies on the event loop, a stall of many milliseconds several times a second under load. The
 * store turns it off on its own connection and lets this thread checkpoint instead (PASSIVE: it never blocks the
 * writer; the writer rewinds the log on its next commit once a checkpoint has caught up).
 *
 * The thread's code is a short string evaluated by the worker rather than a module of its own, because the same
 * code must start from the compiled package and from the TypeScript sources under the test runner, and a worker
 * thread cannot load TypeScript.
 */
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

const CHECKPOINT_INTERVAL_MS = 250;

const THREAD_CODE = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.driver);
const db = new Database(workerData.path);
db.pragma("busy_timeout = 5000");
const timer = setInterval(() => {
  try {
    db.pragma("wal_checkpoint(PASSIVE)");
  } catch (error) {
    parentPort.postMessage({ failed: String(error && error.message) });
  }
}, workerData.intervalMs);
parentPort.on("message", () => {
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

export class Checkpointer {
  private readonly thread: Worker;

  /** `onFailure` hears a checkpoint that failed (the log then grows until one succeeds) or a thread that died. */
  constructor(path: string, onFailure: (reason: string) => void) {
    const driver = createRequire(import.meta.url).resolve("better-sqlite3");
    this.thread = new Worker(THREAD_CODE, { eval: true, workerData: { path, driver, intervalMs: CHECKPOINT_INTERVAL_MS } });
    this.thread.unref();
    this.thread.on("message", (message: { failed: string }) => onFailure(message.failed));
    this.thread.on("error", (error) => onFailure(error.message));
  }

  /** Stops checkpointing and closes the thread's connection. */
  async stop(): Promise<void> {
    const exited = new Promise<void>((resolve) => this.thread.once("exit", () => resolve()));
    // Held until it has exited: a command that closes its store as its last act must not end before the thread.
    this.thread.ref();
    this.thread.postMessage("stop");
    await exited;
  }
}
