/**
 * Checkpoints the embedded store's write-ahead log on a thread of its own, and keeps the log from growing without end.
 *
 * SQLite's automatic checkpoint runs inside whichever commit crosses the log's size threshold: two fsyncs and a few
 * megabytes of page copies on the event loop, a stall of many milliseconds several times a second under load. The
 * store turns it off on its own connection and lets this thread checkpoint instead (PASSIVE: it never blocks the
 * writer).
 *
 * A PASSIVE checkpoint copies the log up to where it was when the checkpoint began. The writer rewinds the log to its
 * start only when it finds every frame copied, so under steady writes (one commit every turn) it never does: the log
 * reached 500 MB within one run of the secrets benchmark, with every append a little slower and every fdatasync of a
 * growing file about twice the cost of one that overwrites. So once the log is past its limit, this thread asks the
 * store to hold its commits for a moment (`onHoldWanted`; the store answers with `held()`), copies the few frames
 * written since its last pass with no writer racing it, and lets go (`onRelease`); the store's next commit then
 * rewinds the log, and later commits overwrite the same file.
 *
 * The thread's code is a short string evaluated by the worker rather than a module of its own, because the same
 * code must start from the compiled package and from the TypeScript sources under the test runner, and a worker
 * thread cannot load TypeScript.
 */
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

export const DEFAULT_CHECKPOINT_INTERVAL_MS = 250;
/** Past this size the log is rewound (a hold of about a millisecond, at most every second or so under heavy load). */
export const DEFAULT_WAL_LIMIT_BYTES = 64 * 1024 * 1024;

/** Thread → store. */
type ThreadMessage = { type: "failed"; reason: string } | { type: "hold" } | { type: "release" };

const THREAD_CODE = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.driver);
const db = new Database(workerData.path);
db.pragma("busy_timeout = 5000");
const limitFrames = Math.max(1, Math.ceil(workerData.walLimitBytes / db.pragma("page_size", { simple: true })));
let holding = false;
const checkpoint = () => db.pragma("wal_checkpoint(PASSIVE)")[0];
const timer = setInterval(() => {
  if (holding) return;
  try {
    const result = checkpoint();
    if (result.log >= limitFrames) {
      holding = true;
      parentPort.postMessage({ type: "hold" });
    }
  } catch (error) {
    parentPort.postMessage({ type: "failed", reason: String(error && error.message) });
  }
}, workerData.intervalMs);
parentPort.on("message", (message) => {
  if (message === "held") {
    try {
      checkpoint();
    } catch (error) {
      parentPort.postMessage({ type: "failed", reason: String(error && error.message) });
    }
    holding = false;
    parentPort.postMessage({ type: "release" });
    return;
  }
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

export interface CheckpointerEvents {
  /** A checkpoint failed (the log then grows until one succeeds) or the thread died. */
  onFailure: (reason: string) => void;
  /** The log is past its limit: stop committing, then call `held()`. */
  onHoldWanted: () => void;
  /** Commit again (the next commit rewinds the log if the checkpoint caught up; if not, the next hold tries again). */
  onRelease: () => void;
}

export class Checkpointer {
  private readonly thread: Worker;

  constructor(path: string, limits: { intervalMs: number; walLimitBytes: number }, events: CheckpointerEvents) {
    const driver = createRequire(import.meta.url).resolve("better-sqlite3");
    this.thread = new Worker(THREAD_CODE, { eval: true, workerData: { path, driver, ...limits } });
    this.thread.unref();
    this.thread.on("message", (message: ThreadMessage) => {
      if (message.type === "failed") events.onFailure(message.reason);
      else if (message.type === "hold") events.onHoldWanted();
      else events.onRelease();
    });
    this.thread.on("error", (error) => {
      events.onFailure(error.message);
      // A thread that died while the store held its commits must not keep them held.
      events.onRelease();
    });
  }

  /** The store has stopped committing (no transaction is open): catch up with the log now. */
  held(): void {
    this.thread.postMessage("held");
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
