/**
 * One roombus node as the peer benchmarks run it: the `roombus serve` command itself (the CLI's entry, argv `serve`,
 * settings from ROOMBUS_* as an operator would set them), plus the bench's IPC in the same process so the load
 * generator can read its CPU time and memory and profile it (bench/lib/child-ipc.ts).
 *
 * The port is chosen by the load generator (ROOMBUS_PORT): `serve` only logs it, so this prints the ready line once
 * the node answers GET /readyz on that port, which also means its Redis connections are up.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { printReady, serveBenchIpc } from "../lib/child-ipc.js";

const READY_TIMEOUT_MS = 15_000;

const port = Number(process.env.ROOMBUS_PORT);
if (!Number.isInteger(port) || port <= 0) {
  process.stderr.write("roombus-serve: set ROOMBUS_PORT to the port to listen on\n");
  process.exit(2);
}

/**
 * `shutdown` from the load generator stops the node the way an operator does: SIGTERM, which `serve` answers with its
 * drain (sockets closed with 1001, departures announced, Redis connections closed) and exit 0. serveBenchIpc exits
 * on its own 3 s after asking, should the drain take longer. Asked once: serveBenchIpc also listens to SIGTERM.
 */
let drainRequested: Promise<void> | undefined;
serveBenchIpc({
  extra: () => ({}),
  close: () => {
    drainRequested ??= new Promise<void>(() => process.kill(process.pid, "SIGTERM"));
    return drainRequested;
  },
});

process.argv.splice(2, process.argv.length - 2, "serve");
// Not awaited: `serve` resolves only when the server stops.
void import("../../src/cli/main.js");

async function waitUntilReady(): Promise<void> {
  const deadline = performance.now() + READY_TIMEOUT_MS;
  while (performance.now() < deadline) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/readyz`);
      await response.arrayBuffer();
      if (response.ok) return;
    } catch {
      // Not listening yet.
    }
    await sleep(50);
  }
  throw new Error(`roombus serve did not become ready on port ${port} in ${READY_TIMEOUT_MS / 1000} s`);
}

waitUntilReady().then(
  () => printReady(port),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
