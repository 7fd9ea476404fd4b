/**
 * The raw limits, measured in the same run as the systems:
 *
 * - raw `ws` echo: one client, closed loop (latency); 50 clients, one message each in flight (CPU per echo);
 * - raw `ws` relay: W1's four hops without a protocol: A → server → B → server → A; one pair closed loop (latency),
 *   50 pairs (CPU per round trip: W1's baseline);
 * - raw `ws` broadcast: W3's fan-out from one process, the same bytes to every other socket of the room, a window of
 *   broadcasts in flight (deliveries per second and CPU per delivery: W3's baseline);
 * - the Redis hop: an ioredis publish → subscribe ping-pong between two pairs of connections (two pub/sub hops per
 *   round trip, as a W2 round trip has), and `redis-benchmark` PUBLISH with a subscriber attached (Redis's ceiling).
 */
import { execFile } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import type WebSocket from "ws";
import type { ServerChild } from "../lib/children.js";
import { openSocket } from "../lib/clients.js";
import type { PhaseContext } from "../lib/phases.js";
import { fixed, int } from "../lib/phases.js";
import type { BenchRedis } from "../lib/redis-server.js";
import { summarize, toMicros, type Summary } from "../lib/stats.js";
import { hasCommand } from "../lib/system.js";
import type { BenchContext } from "./context.js";
import { waitFor } from "./loops.js";
import { startCpuMeter, type CpuUsage } from "./meter.js";

/** About as long as a W1 request on the roombus wire. */
const PAYLOAD = Buffer.alloc(110, 0x61);
const CLIENTS = 50;

export interface RawSaturated {
  rate: number;
  cpu: CpuUsage;
  serverMicrosPerMessage: number;
}

export interface RawBroadcast {
  roomSize: number;
  deliveriesPerSecond: number;
  cpu: CpuUsage;
  serverMicrosPerDelivery: number;
}

export interface RedisBaseline {
  version: string;
  /** Two pub/sub hops per round trip, closed loop. */
  pingPongMicros: Summary;
  redisMicrosPerPublish: number;
  /** redis-benchmark PUBLISH, 50 clients, one subscriber attached; undefined when redis-benchmark is missing. */
  benchmarkPublishesPerSecond: number | undefined;
}

export interface BaselineResults {
  echoMicros?: Summary;
  echoSaturated?: RawSaturated;
  relayMicros?: Summary;
  relaySaturated?: RawSaturated;
  broadcast: RawBroadcast[];
  redis?: RedisBaseline;
}

/** One message out, wait for one back, repeat: the latency of a closed loop (ms samples). */
async function closedLoop(ctx: PhaseContext, bench: BenchContext, sender: WebSocket, receiver: WebSocket): Promise<Summary> {
  const { closedWarmup, closedCount } = bench.plan.baselines;
  const total = closedWarmup + closedCount;
  const samples = new Float64Array(closedCount);
  let done = 0;
  let sentAt = 0;
  receiver.on("message", () => {
    if (done >= closedWarmup) samples[done - closedWarmup] = performance.now() - sentAt;
    done++;
    if (done < total && !ctx.signal.aborted) {
      sentAt = performance.now();
      sender.send(PAYLOAD);
    }
  });
  sentAt = performance.now();
  sender.send(PAYLOAD);
  if (!(await waitFor(() => done === total, 60_000, ctx.signal))) throw new Error(`closed loop: ${done} of ${total} in 60 s`);
  receiver.removeAllListeners("message");
  return toMicros(summarize(samples));
}

/**
 * Every loop at once, one message each in flight, for the measured window: the server's rate and CPU per message.
 * A loop's `send` sends its next message; the handler given to its `onAnswer` must be called when the answer is back.
 */
async function saturate(
  ctx: PhaseContext,
  bench: BenchContext,
  server: ServerChild,
  loops: { send: () => void; onAnswer: (handler: () => void) => void }[],
): Promise<RawSaturated> {
  let running = true;
  let answered = 0;
  for (const loop of loops) {
    loop.onAnswer(() => {
      answered++;
      if (running && !ctx.signal.aborted) loop.send();
    });
    loop.send();
  }
  await sleep(bench.plan.requestResponse.capacityWarmupMs);
  const stopMeter = await startCpuMeter([server], undefined);
  const before = answered;
  await sleep(bench.plan.requestResponse.capacityMs);
  const messages = answered - before;
  const cpu = await stopMeter();
  running = false;
  await sleep(200);
  return { rate: messages / cpu.seconds, cpu, serverMicrosPerMessage: cpu.serverMicros / messages };
}

export async function measureEcho(ctx: PhaseContext, bench: BenchContext, server: ServerChild, results: BaselineResults): Promise<void> {
  const url = `ws://127.0.0.1:${server.port}/echo`;
  const one = await openSocket(url, ctx.sockets);
  await bench.quiet();
  results.echoMicros = await closedLoop(ctx, bench, one, one);
  const clients = await Promise.all(Array.from({ length: CLIENTS }, () => openSocket(url, ctx.sockets)));
  await bench.quiet();
  results.echoSaturated = await saturate(
    ctx,
    bench,
    server,
    clients.map((ws) => ({ send: () => ws.send(PAYLOAD), onAnswer: (handler) => ws.on("message", handler) })),
  );
  bench.log(
    `raw echo: p50 ${fixed(results.echoMicros.p50)} µs; ${int(results.echoSaturated.rate)}/s with ${CLIENTS} clients, ` +
      `${fixed(results.echoSaturated.serverMicrosPerMessage, 2)} µs CPU per echo`,
  );
}

export async function measureRelay(ctx: PhaseContext, bench: BenchContext, server: ServerChild, results: BaselineResults): Promise<void> {
  const pair = async (name: string): Promise<{ a: WebSocket; b: WebSocket }> => {
    const url = `ws://127.0.0.1:${server.port}/relay/${name}`;
    const a = await openSocket(url, ctx.sockets);
    const b = await openSocket(url, ctx.sockets);
    // B answers each message with the same bytes: A → B → A is one round trip, four hops through the server.
    b.on("message", (data: Buffer) => b.send(data));
    return { a, b };
  };
  const first = await pair("relay-0");
  await bench.quiet();
  results.relayMicros = await closedLoop(ctx, bench, first.a, first.a);
  const pairs = await Promise.all(Array.from({ length: CLIENTS }, (_unused, i) => pair(`relay-${i + 1}`)));
  await bench.quiet();
  results.relaySaturated = await saturate(
    ctx,
    bench,
    server,
    pairs.map(({ a }) => ({ send: () => a.send(PAYLOAD), onAnswer: (handler) => a.on("message", handler) })),
  );
  bench.log(
    `raw relay: p50 ${fixed(results.relayMicros.p50)} µs; ${int(results.relaySaturated.rate)} round trips/s with ${CLIENTS} pairs, ` +
      `${fixed(results.relaySaturated.serverMicrosPerMessage, 2)} µs CPU per round trip`,
  );
}

export async function measureBroadcast(
  ctx: PhaseContext,
  bench: BenchContext,
  server: ServerChild,
  size: number,
): Promise<RawBroadcast> {
  const { warmupMs, measureMs, inFlightDeliveries } = bench.plan.broadcast;
  const url = `ws://127.0.0.1:${server.port}/room/w3-${size}`;
  const receivers: WebSocket[] = [];
  for (let i = 0; i < size; i += 50) {
    receivers.push(...(await Promise.all(Array.from({ length: Math.min(50, size - i) }, () => openSocket(url, ctx.sockets)))));
  }
  const publisher = await openSocket(url, ctx.sockets);
  const window = Math.max(2, Math.ceil(inFlightDeliveries / size));
  let sent = 0;
  let delivered = 0;
  let running = true;
  const pump = (): void => {
    while (running && !ctx.signal.aborted && sent - Math.floor(delivered / size) < window) {
      sent++;
      publisher.send(PAYLOAD);
    }
  };
  for (const receiver of receivers) {
    receiver.on("message", () => {
      delivered++;
      pump();
    });
  }
  await bench.quiet();
  pump();
  await sleep(warmupMs);
  const stopMeter = await startCpuMeter([server], undefined);
  const before = delivered;
  await sleep(measureMs);
  const deliveries = delivered - before;
  const cpu = await stopMeter();
  running = false;
  await waitFor(() => delivered >= sent * size, 5_000, ctx.signal);
  for (const ws of [...receivers, publisher]) ws.terminate();
  const result = {
    roomSize: size,
    deliveriesPerSecond: deliveries / cpu.seconds,
    cpu,
    serverMicrosPerDelivery: cpu.serverMicros / deliveries,
  };
  bench.log(
    `raw broadcast, room of ${int(size)}: ${int(result.deliveriesPerSecond)} deliveries/s, ` +
      `${fixed(result.serverMicrosPerDelivery, 2)} µs CPU per delivery`,
  );
  return result;
}

const run = promisify(execFile);

/** redis-benchmark's PUBLISH rate with one subscriber attached, pinned to the load generator's core where it can be. */
async function redisBenchmarkPublish(bench: BenchContext, redis: BenchRedis, loadGeneratorCpu: number | undefined): Promise<number | undefined> {
  if (!hasCommand("redis-benchmark")) return undefined;
  const { port } = new URL(redis.url);
  const subscriber = new Redis(redis.url);
  let received = 0;
  subscriber.on("messageBuffer", () => received++);
  await subscriber.subscribe("bench-publish");
  const args = ["-h", "127.0.0.1", "-p", port, "-n", String(bench.plan.baselines.redisBenchmarkRequests), "-c", "50", "--csv"];
  const command = [...args, "publish", "bench-publish", PAYLOAD.toString()];
  try {
    const { stdout } = await (loadGeneratorCpu === undefined
      ? run("redis-benchmark", command, { timeout: 60_000 })
      : run("taskset", ["-c", String(loadGeneratorCpu), "redis-benchmark", ...command], { timeout: 60_000 }));
    // CSV: a header line, then "test","rps",...
    const row = stdout.trim().split("\n").pop() ?? "";
    const rps = Number(row.split(",")[1]?.replaceAll('"', ""));
    bench.log(`redis-benchmark PUBLISH: ${int(rps)}/s (the subscriber got ${int(received)})`);
    return Number.isFinite(rps) ? rps : undefined;
  } finally {
    subscriber.disconnect();
  }
}

export async function measureRedisHop(
  ctx: PhaseContext,
  bench: BenchContext,
  redis: BenchRedis,
  loadGeneratorCpu: number | undefined,
): Promise<RedisBaseline> {
  const { closedWarmup, closedCount } = bench.plan.baselines;
  // Two "nodes", each with a publishing and a subscribed connection, as a roombus or Socket.IO node has.
  const connections = [new Redis(redis.url), new Redis(redis.url), new Redis(redis.url), new Redis(redis.url)];
  const [pubA, subA, pubB, subB] = connections as [Redis, Redis, Redis, Redis];
  try {
    await subA.subscribe("bench-pong");
    await subB.subscribe("bench-ping");
    // B answers each ping with the same bytes: two pub/sub hops per round trip.
    subB.on("messageBuffer", (_channel: Buffer, message: Buffer) => void pubB.publish("bench-pong", message));
    const total = closedWarmup + closedCount;
    const samples = new Float64Array(closedCount);
    let done = 0;
    let sentAt = 0;
    subA.on("messageBuffer", () => {
      if (done >= closedWarmup) samples[done - closedWarmup] = performance.now() - sentAt;
      done++;
      if (done < total && !ctx.signal.aborted) {
        sentAt = performance.now();
        void pubA.publish("bench-ping", PAYLOAD);
      }
    });
    await bench.quiet();
    const redisBefore = redis.cpuMicros() ?? 0;
    sentAt = performance.now();
    void pubA.publish("bench-ping", PAYLOAD);
    if (!(await waitFor(() => done === total, 60_000, ctx.signal))) throw new Error(`Redis ping-pong: ${done} of ${total} in 60 s`);
    const redisMicros = (redis.cpuMicros() ?? 0) - redisBefore;
    const pingPongMicros = toMicros(summarize(samples));
    bench.log(`Redis ping-pong (two pub/sub hops): p50 ${fixed(pingPongMicros.p50)} µs, p99 ${fixed(pingPongMicros.p99)} µs`);
    return {
      version: redis.version,
      pingPongMicros,
      redisMicrosPerPublish: redisMicros / (2 * total),
      benchmarkPublishesPerSecond: await redisBenchmarkPublish(bench, redis, loadGeneratorCpu),
    };
  } finally {
    for (const connection of connections) connection.disconnect();
  }
}
