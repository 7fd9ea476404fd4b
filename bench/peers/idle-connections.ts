/**
 * W4: memory per idle authenticated connection. A fresh node of the system's cluster (started with --expose-gc, so
 * every reading follows two full collections), 100 warm-up connections opened and closed, then N connections in rooms
 * of `roomSize`, each with its own token, through a pool of handshakes in flight; the node's RSS and heap + external
 * before, at half, and after. (after − before) / N is the figure; (after − half) / (N / 2) is the marginal cost once
 * the first burst of handshakes has grown V8's young generation.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { ChildStats } from "../lib/child-ipc.js";
import type { ServerChild } from "../lib/children.js";
import { openMany, SocketSet } from "../lib/clients.js";
import type { PhaseContext } from "../lib/phases.js";
import type { BenchContext } from "./context.js";
import type { System } from "./deployments.js";

export interface IdleResult {
  system: string;
  connections: number;
  failed: number;
  firstError: string | undefined;
  roomSize: number;
  handshakesPerSecond: number;
  /** The node's own count of open sessions at the end. */
  serverConnections: number | undefined;
  before: ChildStats;
  middle: ChildStats;
  after: ChildStats;
  rssPerConnection: number;
  heapPerConnection: number;
  marginalRssPerConnection: number;
  marginalHeapPerConnection: number;
}

const WARMUP_CONNECTIONS = 100;

/** Polls `read` until it gives `wanted` or `timeoutMs` passes. */
async function waitForCount(read: () => Promise<number | undefined>, wanted: number, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const count = await read().catch(() => undefined);
    if (count === wanted || count === undefined) return;
    await sleep(100);
  }
}

export async function runIdleConnections(ctx: PhaseContext, bench: BenchContext, system: System): Promise<IdleResult> {
  const { connections, roomSize, settleMs } = bench.plan.idle;
  const label = `W4 ${system.name}`;
  const rooms = Math.max(1, Math.ceil(connections / roomSize));
  const node: ServerChild = await system.startNode(`${system.name}-idle`, { gc: true });
  try {
    const connect = async (index: number, sockets: SocketSet, prefix: string): Promise<void> => {
      const member = await system.join(node, `${prefix}-room-${index % rooms}`, `user-${index}`, sockets);
      // Join announcements are not what W4 measures: count them instead of decoding them.
      member.countMessages(() => undefined);
    };
    const pool = (poolLabel: string) => ({
      label: poolLabel,
      concurrency: bench.plan.idle.concurrency,
      log: bench.log,
      signal: ctx.signal,
      progressMs: 2000,
    });
    const warm = new SocketSet();
    await openMany({ to: WARMUP_CONNECTIONS }, pool(`${label} warm-up`), (index) => connect(index, warm, "w4-warm"));
    warm.terminateAll();
    await sleep(500);
    const before = await node.stats();

    const half = Math.floor(connections / 2);
    const first = await openMany({ to: half }, pool(label), (index) => connect(index, ctx.sockets, "w4"));
    await sleep(settleMs);
    const middle = await node.stats();
    const second = await openMany({ from: half, to: connections }, pool(label), (index) => connect(index, ctx.sockets, "w4"));
    await sleep(settleMs);
    const after = await node.stats();
    const serverConnections = await system.connections(node);

    const opened = first.opened + second.opened;
    const failed = first.failed + second.failed;
    if (opened === 0) throw new Error(`no connection opened: ${first.firstError ?? second.firstError ?? "?"}`);
    if (failed > connections * 0.01) {
      throw new Error(`${failed} of ${connections} connections failed (first: ${first.firstError ?? second.firstError ?? "?"})`);
    }
    const heapOf = (stats: ChildStats): number => stats.heapUsed + stats.external;
    return {
      system: system.name,
      connections: opened,
      failed,
      firstError: first.firstError ?? second.firstError,
      roomSize,
      handshakesPerSecond: opened / (first.seconds + second.seconds),
      serverConnections,
      before,
      middle,
      after,
      rssPerConnection: (after.rss - before.rss) / opened,
      heapPerConnection: (heapOf(after) - heapOf(before)) / opened,
      marginalRssPerConnection: (after.rss - middle.rss) / second.opened,
      marginalHeapPerConnection: (heapOf(after) - heapOf(middle)) / second.opened,
    };
  } finally {
    // Let the node see every departure before it stops, so its cluster has nothing left to clean up after it.
    ctx.sockets.terminateAll();
    await waitForCount(() => system.connections(node), 0, 10_000);
    await node.stop();
  }
}
