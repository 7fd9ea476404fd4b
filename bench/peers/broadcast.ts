/**
 * W3: one publisher broadcasting to a room whose receivers are split over the two nodes (the publisher on node 0).
 * roombus: `messaging.broadcast`; Socket.IO: a `broadcast` event the server sends on with `socket.to(room).emit`.
 *
 * 1. saturated, per system: the publisher keeps a window of broadcasts in flight (sent − delivered / room size); every
 *    receiver counts frames without decoding them; deliveries per second and the servers' CPU per delivery;
 * 2. latency, per system, open loop at the same rate for both (a fraction of the slower system's saturated rate):
 *    sampled receivers decode each message and time it from its intended send time; the others count.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { PhaseContext } from "../lib/phases.js";
import { fixed, int } from "../lib/phases.js";
import { summarize, toMicros, type Summary } from "../lib/stats.js";
import { FailureHolder, type BenchContext } from "./context.js";
import type { System } from "./deployments.js";
import { pace, waitFor, waitForSilence } from "./loops.js";
import type { Member } from "./members.js";
import { startCpuMeter, type CpuUsage } from "./meter.js";

const PAD = "x".repeat(48);
/** Receivers joining at once while a room fills. */
const JOIN_CONCURRENCY = 25;

export interface SaturatedBroadcast {
  window: number;
  broadcastsPerSecond: number;
  deliveriesPerSecond: number;
  deliveries: number;
  cpu: CpuUsage;
  serverMicrosPerDelivery: number;
  redisMicrosPerDelivery: number;
}

export interface BroadcastLatency {
  /** Broadcasts per second (the same for both systems). */
  rate: number;
  deliveriesPerSecond: number;
  sampledReceivers: number;
  /** From the intended send time, over the sampled receivers. */
  latencyMicros: Summary;
  /** Deliveries that had not arrived when the wait for them ended. */
  lost: number;
  sendLagP99Micros: number;
  cpu: CpuUsage;
}

export interface BroadcastResult {
  system: string;
  roomSize: number;
  saturated: SaturatedBroadcast;
  latency?: BroadcastLatency;
}

interface BroadcastRoom {
  system: System;
  publisher: Member;
  receivers: Member[];
  failure: FailureHolder;
}

async function fillRoom(ctx: PhaseContext, bench: BenchContext, system: System, size: number): Promise<BroadcastRoom> {
  const room = `w3-room-${size}`;
  const failure = new FailureHolder();
  const receivers: Member[] = new Array<Member>(size);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < size && !ctx.signal.aborted) {
      const index = next++;
      const member = await system.join(system.nodes[index % 2]!, room, `receiver-${index}`, ctx.sockets);
      member.onError = failure.fail;
      receivers[index] = member;
    }
  };
  await Promise.all(Array.from({ length: JOIN_CONCURRENCY }, worker));
  const publisher = await system.join(system.nodes[0]!, room, "publisher", ctx.sockets);
  publisher.onError = failure.fail;
  // Joins announce themselves to the room (roombus): wait until those frames stop arriving.
  let frames = 0;
  for (const receiver of receivers) receiver.countMessages(() => frames++);
  if (!(await waitForSilence(() => frames, 300, 30_000, ctx.signal))) {
    bench.log(`W3 ${system.name}: the room of ${size} was still receiving join announcements after 30 s`);
  }
  return { system, publisher, receivers, failure };
}

async function saturate(ctx: PhaseContext, bench: BenchContext, room: BroadcastRoom, label: string): Promise<SaturatedBroadcast> {
  const { warmupMs, measureMs, inFlightDeliveries } = bench.plan.broadcast;
  const size = room.receivers.length;
  const window = Math.max(2, Math.ceil(inFlightDeliveries / size));
  let sent = 0;
  let delivered = 0;
  let running = true;
  const pump = (): void => {
    while (running && !ctx.signal.aborted && sent - Math.floor(delivered / size) < window) {
      room.publisher.broadcast(++sent, PAD);
    }
  };
  for (const receiver of room.receivers) {
    receiver.countMessages(() => {
      delivered++;
      pump();
    });
  }
  pump();
  await sleep(warmupMs);
  room.failure.throwIfFailed();
  const servers = room.system.nodes;
  const measured = await bench.profiled(label, servers, async () => {
    const stopMeter = await startCpuMeter(servers, room.system.redis);
    const before = delivered;
    await sleep(measureMs);
    const deliveries = delivered - before;
    return { deliveries, cpu: await stopMeter() };
  });
  running = false;
  await waitFor(() => delivered >= sent * size, 5_000, ctx.signal);
  room.failure.throwIfFailed();
  const { deliveries, cpu } = measured;
  return {
    window,
    broadcastsPerSecond: deliveries / size / cpu.seconds,
    deliveriesPerSecond: deliveries / cpu.seconds,
    deliveries,
    cpu,
    serverMicrosPerDelivery: cpu.serverMicros / deliveries,
    redisMicrosPerDelivery: cpu.redisMicros / deliveries,
  };
}

async function measureLatency(ctx: PhaseContext, bench: BenchContext, room: BroadcastRoom, rate: number): Promise<BroadcastLatency> {
  const { warmupMs, measureMs, sampledReceivers } = bench.plan.broadcast;
  const size = room.receivers.length;
  const warmupSends = Math.round((rate * warmupMs) / 1000);
  const measuredSends = Math.max(1, Math.round((rate * measureMs) / 1000));
  const total = warmupSends + measuredSends;
  // Seqs continue from the saturated phase's, far above anything still in flight from it.
  const first = 1_000_000_000;
  let delivered = 0;
  const latencies: number[] = [];
  const pacing = pace({ rate, total, signal: ctx.signal }, (k) => room.publisher.broadcast(first + k, PAD));
  // An odd stride, so the sampled receivers alternate between the two nodes (receiver i is on node i % 2).
  const stride = Math.max(1, Math.floor(size / sampledReceivers));
  const every = stride % 2 === 0 ? stride - 1 : stride;
  let sampled = 0;
  room.receivers.forEach((receiver, index) => {
    if (index % every === 0 && sampled < sampledReceivers) {
      sampled++;
      receiver.readMessages((seq) => {
        delivered++;
        const k = seq - first;
        if (k >= warmupSends && k < total) latencies.push(performance.now() - pacing.intendedAt(k));
      });
    } else {
      receiver.countMessages(() => delivered++);
    }
  });
  await waitFor(() => performance.now() >= pacing.intendedAt(warmupSends), warmupMs + 1000, ctx.signal);
  const stopMeter = await startCpuMeter(room.system.nodes, room.system.redis);
  const before = delivered;
  const sentCount = await pacing.done;
  const deliveries = delivered - before;
  const cpu = await stopMeter();
  await waitFor(() => delivered >= sentCount * size || room.failure.error !== undefined, 5_000, ctx.signal);
  room.failure.throwIfFailed();
  return {
    rate,
    deliveriesPerSecond: deliveries / cpu.seconds,
    sampledReceivers: sampled,
    latencyMicros: toMicros(summarize(latencies)),
    lost: sentCount * size - delivered,
    sendLagP99Micros: toMicros(summarize(pacing.lags.subarray(0, sentCount))).p99,
    cpu,
  };
}

/** W3 for one room size on every system: both saturate first, then both are timed at one common rate. */
export async function runBroadcast(
  ctx: PhaseContext,
  bench: BenchContext,
  systems: readonly System[],
  size: number,
): Promise<BroadcastResult[]> {
  const rooms: BroadcastRoom[] = [];
  for (const system of systems) {
    rooms.push(await fillRoom(ctx, bench, system, size));
    bench.log(`W3 ${system.name}: a room of ${int(size)} receivers and a publisher`);
  }
  const results: BroadcastResult[] = [];
  for (const room of rooms) {
    await bench.quiet();
    const saturated = await saturate(ctx, bench, room, `W3 ${room.system.name} ${size}`);
    bench.log(
      `W3 ${room.system.name}, room of ${int(size)}: ${int(saturated.deliveriesPerSecond)} deliveries/s, ` +
        `server ${fixed(saturated.serverMicrosPerDelivery, 2)} µs CPU per delivery`,
    );
    results.push({ system: room.system.name, roomSize: size, saturated });
  }
  const slowest = Math.min(...results.map((result) => result.saturated.broadcastsPerSecond));
  const rate = Math.max(1, Math.round(slowest * bench.plan.broadcast.latencyFraction));
  for (const [index, room] of rooms.entries()) {
    await bench.quiet();
    const latency = await measureLatency(ctx, bench, room, rate);
    results[index]!.latency = latency;
    bench.log(
      `W3 ${room.system.name}, room of ${int(size)} at ${int(rate)} broadcasts/s: p50 ${fixed(latency.latencyMicros.p50 / 1000, 2)} ms, ` +
        `p99 ${fixed(latency.latencyMicros.p99 / 1000, 2)} ms${latency.lost > 0 ? `, ${int(latency.lost)} lost` : ""}`,
    );
  }
  return results;
}
