/**
 * W5: one subscriber stops reading in a busy room. On node 0: a publisher broadcasting `rate` messages a second of
 * `padBytes` each (open loop), `readers` receivers that keep up, and one that stops reading at once (its socket is
 * paused: the kernel's buffers fill, then the server's). Sampled every `sampleMs`: the node's RSS and heap + external
 * (no forced GC: the node keeps serving) and, for Socket.IO, its connection count. roombus announces the cut-off to
 * the room (`participant.left`, reason `slow_consumer`); Socket.IO's is seen in its connection count.
 *
 * Figures: time from the pause until the server dropped the reader, memory growth (peak and at the end), and the
 * latency of the other readers, from each message's intended send time.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { PhaseContext } from "../lib/phases.js";
import { fixed, int } from "../lib/phases.js";
import { summarize, toMicros, type Summary } from "../lib/stats.js";
import { FailureHolder, type BenchContext } from "./context.js";
import type { System } from "./deployments.js";
import { pace, waitFor } from "./loops.js";
import type { Member } from "./members.js";
import { startCpuMeter, type CpuUsage } from "./meter.js";

export interface MemorySample {
  atMs: number;
  rss: number;
  heapUsed: number;
  external: number;
  connections: number | undefined;
}

export interface SlowConsumerResult {
  system: string;
  readers: number;
  rate: number;
  padBytes: number;
  durationMs: number;
  /** From the pause until the server dropped the reader; undefined when it never did within the run. */
  cutOffAfterMs: number | undefined;
  /** How the drop was seen: roombus's `participant.left` reason, or the connection count. */
  cutOffSeenAs: string | undefined;
  startRss: number;
  peakRssGrowth: number;
  endRssGrowth: number;
  peakHeapGrowth: number;
  endHeapGrowth: number;
  /** The other readers, from the intended send time. */
  othersLatencyMicros: Summary;
  othersLost: number;
  /** Where the CPU went over the run (how busy the rest of the machine was). */
  cpu: CpuUsage;
  samples: MemorySample[];
}

export async function runSlowConsumer(ctx: PhaseContext, bench: BenchContext, system: System): Promise<SlowConsumerResult> {
  const { readers: readerCount, rate, padBytes, durationMs, sampleMs } = bench.plan.slowConsumer;
  const label = `W5 ${system.name}`;
  const node = system.nodes[0]!;
  const room = "w5-room";
  const failure = new FailureHolder();
  const pad = "x".repeat(padBytes);

  const readers: Member[] = [];
  for (let i = 0; i < readerCount; i++) {
    const reader = await system.join(node, room, `reader-${i}`, ctx.sockets);
    reader.onError = failure.fail;
    readers.push(reader);
  }
  const slow = await system.join(node, room, "slow-reader", ctx.sockets);
  const publisher = await system.join(node, room, "publisher", ctx.sockets);
  publisher.onError = failure.fail;
  await sleep(300);

  const total = Math.round((rate * durationMs) / 1000);
  const first = 1;
  const latencies: number[] = [];
  let delivered = 0;
  let cutOffAt: number | undefined;
  let cutOffSeenAs: string | undefined;
  const pausedAt = performance.now();
  slow.ws.pause();
  const pacing = pace({ rate, total, signal: ctx.signal }, (k) => publisher.broadcast(first + k, pad));
  for (const reader of readers) {
    reader.readMessages((seq) => {
      delivered++;
      latencies.push(performance.now() - pacing.intendedAt(seq - first));
    });
    reader.onLeft = (participantId, reason) => {
      if (participantId === slow.id && cutOffAt === undefined) {
        cutOffAt = performance.now();
        cutOffSeenAs = `participant.left (${reason})`;
      }
    };
  }

  const stopMeter = await startCpuMeter([node], system.redis);
  const start = await node.stats();
  const initialConnections = start.extra.connections;
  const samples: MemorySample[] = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling && !ctx.signal.aborted) {
      const stats = await node.stats();
      const now = performance.now();
      const connections = stats.extra.connections;
      samples.push({ atMs: now - pausedAt, rss: stats.rss, heapUsed: stats.heapUsed, external: stats.external, connections });
      if (
        cutOffAt === undefined &&
        connections !== undefined &&
        initialConnections !== undefined &&
        connections < initialConnections
      ) {
        cutOffAt = now;
        cutOffSeenAs = "connection count";
      }
      await sleep(sampleMs);
    }
  })();
  const progress = setInterval(() => {
    const last = samples[samples.length - 1];
    bench.log(
      `${label}: ${fixed((performance.now() - pausedAt) / 1000, 0)} s, rss ${last === undefined ? "?" : int(last.rss / 1024 / 1024)} MiB, ` +
        (cutOffAt === undefined ? "slow reader still connected" : `slow reader cut off after ${fixed((cutOffAt - pausedAt) / 1000, 1)} s`),
    );
  }, 5000);
  let sent: number;
  try {
    sent = await pacing.done;
    await waitFor(() => delivered >= sent * readers.length || failure.error !== undefined, 5_000, ctx.signal);
  } finally {
    clearInterval(progress);
    sampling = false;
    await sampler;
  }
  const cpu = await stopMeter();
  failure.throwIfFailed();

  const heapOf = (sample: { heapUsed: number; external: number }): number => sample.heapUsed + sample.external;
  const peakRss = Math.max(start.rss, ...samples.map((sample) => sample.rss));
  const peakHeap = Math.max(heapOf(start), ...samples.map(heapOf));
  const end = samples[samples.length - 1] ?? { rss: start.rss, heapUsed: start.heapUsed, external: start.external };
  return {
    system: system.name,
    readers: readerCount,
    rate,
    padBytes,
    durationMs,
    cutOffAfterMs: cutOffAt === undefined ? undefined : cutOffAt - pausedAt,
    cutOffSeenAs,
    startRss: start.rss,
    peakRssGrowth: peakRss - start.rss,
    endRssGrowth: end.rss - start.rss,
    peakHeapGrowth: peakHeap - heapOf(start),
    endHeapGrowth: heapOf(end) - heapOf(start),
    othersLatencyMicros: toMicros(summarize(latencies)),
    othersLost: sent * readers.length - delivered,
    cpu,
    samples,
  };
}
