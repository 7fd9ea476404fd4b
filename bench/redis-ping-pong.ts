/**
 * Baseline of bench/cluster.ts: the raw ioredis publish → subscribe round trip, with nothing of roombus in the way.
 * Two sides, each with its own publisher and subscriber connection (as a RedisBus node has): the pinger publishes on
 * one channel, the ponger's subscriber hears it and its publisher sends the same bytes back on a second channel; the
 * round trip ends when the pinger's subscriber has them. Closed loop, one message in flight.
 *
 * Run as its own process, pinned to the core the roombus nodes use, so each of its hops crosses the same kind of
 * process boundary as a hop between two nodes. Configured from the environment (BENCH_REDIS_URL, required;
 * BENCH_REDIS_PID, to report the server's CPU time too; BENCH_WARMUP, BENCH_COUNT, BENCH_PAYLOAD_BYTES,
 * BENCH_DEADLINE_MS); prints one JSON line with the samples (ms) and the CPU time used while measuring, then exits.
 * It gives up (exit 1) at its deadline.
 */
import { Redis } from "ioredis";
import { readProcessCpuMicros } from "./lib/redis-server.js";

export interface PingPongReport {
  bench: "ping-pong";
  /** Round trips, milliseconds. */
  samples: number[];
  /** CPU time of this process over the measured round trips, microseconds. */
  cpuMicros: number;
  /** CPU time of the Redis server over the same round trips (with BENCH_REDIS_PID), microseconds. */
  redisCpuMicros: number | undefined;
  /** CPU time of this process over its whole life so far (start-up, connections, warm-up), microseconds. */
  lifetimeCpuMicros: number;
  seconds: number;
}

const PING = "bench:ping";
const PONG = "bench:pong";

function readInt(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a whole number`);
  return value;
}

const url = process.env.BENCH_REDIS_URL;
if (url === undefined || url === "") throw new Error("BENCH_REDIS_URL is required (the bench's own Redis)");
const redisPid = process.env.BENCH_REDIS_PID === undefined ? undefined : Number(process.env.BENCH_REDIS_PID);
const warmup = readInt("BENCH_WARMUP", 500);
const count = readInt("BENCH_COUNT", 5_000);
const payloadBytes = Math.max(4, readInt("BENCH_PAYLOAD_BYTES", 256));
const deadlineMs = readInt("BENCH_DEADLINE_MS", 60_000);

const deadline = setTimeout(() => {
  process.stderr.write(`ping-pong: over its ${deadlineMs / 1000} s deadline\n`);
  process.exit(1);
}, deadlineMs);

const connections = Array.from({ length: 4 }, () => new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0 }));
const [pingPublisher, pingSubscriber, pongPublisher, pongSubscriber] = connections as [Redis, Redis, Redis, Redis];
await Promise.all(connections.map((connection) => connection.connect()));
await pongSubscriber.subscribe(PING);
await pingSubscriber.subscribe(PONG);

pongSubscriber.on("messageBuffer", (_channel: Buffer, payload: Buffer) => {
  void pongPublisher.publish(PONG, payload);
});

const samples = new Float64Array(count);
const payload = Buffer.alloc(payloadBytes, 0x61);
let done = 0;
let sentAt = 0;
let cpuBefore: NodeJS.CpuUsage | undefined;
let redisBefore: number | undefined;
let measuredFrom = 0;
const startMeasuring = (): void => {
  cpuBefore = process.cpuUsage();
  redisBefore = redisPid === undefined ? undefined : readProcessCpuMicros(redisPid);
  measuredFrom = performance.now();
};

const finished = new Promise<void>((resolve, reject) => {
  const sendNext = (): void => {
    // The sequence number rides in the first bytes, so a lost or reordered message fails the run.
    payload.writeUInt32BE(done, 0);
    sentAt = performance.now();
    void pingPublisher.publish(PING, payload);
  };
  pingSubscriber.on("messageBuffer", (_channel: Buffer, echoed: Buffer) => {
    const elapsed = performance.now() - sentAt;
    if (echoed.readUInt32BE(0) !== done) {
      reject(new Error(`ping-pong: got ${echoed.readUInt32BE(0)}, expected ${done}`));
      return;
    }
    if (done >= warmup) samples[done - warmup] = elapsed;
    done++;
    if (done === warmup) startMeasuring();
    if (done === warmup + count) resolve();
    else sendNext();
  });
  if (warmup === 0) startMeasuring();
  sendNext();
});

await finished;
const cpu = process.cpuUsage(cpuBefore);
const redisAfter = redisPid === undefined ? undefined : readProcessCpuMicros(redisPid);
const lifetime = process.cpuUsage();
const report: PingPongReport = {
  bench: "ping-pong",
  samples: Array.from(samples),
  cpuMicros: cpu.user + cpu.system,
  redisCpuMicros: redisBefore === undefined || redisAfter === undefined ? undefined : redisAfter - redisBefore,
  lifetimeCpuMicros: lifetime.user + lifetime.system,
  seconds: (performance.now() - measuredFrom) / 1000,
};
process.stdout.write(JSON.stringify(report) + "\n");
clearTimeout(deadline);
await Promise.all(connections.map((connection) => connection.quit()));
process.exit(0);
