/**
 * `node dist/bench/cluster.js`: two roombus nodes on one Redis of the bench's own, beside a raw ioredis baseline
 * measured in the same run.
 *
 *   a. baseline: the raw ioredis publish → subscribe ping-pong round trip on that Redis (bench/redis-ping-pong.ts:
 *      two sides, each with a publisher and a subscriber connection, in a process pinned like the nodes);
 *   b. relayed round trip A → B → A (`messaging.send`, the message bench/run.ts sends) with A and B on node 1;
 *   c. the same with A on node 1 and B on node 2: the message crosses Redis twice per round trip (node 1 → node 2's
 *      inbox, node 2 → node 1's inbox); goal: cross-node p50 ≤ single-node p50 + 1.3 × ping-pong p50;
 *   d. broadcast: one publisher on node 1, 1,000 subscribers split 500/500 over the two nodes, `messaging.broadcast`;
 *      one broadcast at a time (fan-out latency), then a window of broadcasts in flight (deliveries per second, and
 *      the latency of each delivery from its broadcast's send).
 *
 * The nodes are `roombus serve` as bench/run.ts starts it (bench/roombus-server.js: `startServer(loadConfig(env))`)
 * with ROOMBUS_REDIS_URL and a shared JWT secret and encryption key. The nodes, Redis and the ping-pong process are
 * pinned to core 0 and this load generator to core 1 where taskset exists. The latency phases run in rounds (a, b, c,
 * a, b, c, ...) and the table shows each figure's best quiet round; every round is in the JSON. Every loop is bounded
 * in count and time, and every phase has a hard deadline. Results: a table on stdout, progress on stderr, JSON in
 * bench/results/cluster-<timestamp>.json.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type WebSocket from "ws";
import { mintToken } from "../src/auth/tokens.js";
import { encodeMsgpack } from "../src/protocol/codec.js";
import { decodeServerFrame, encodeEvent, encodeRequest, type ServerFrame } from "../src/protocol/frames.js";
import { newMasterKeyBase64 } from "../src/secrets/keyring.js";
import type { NodeMessage } from "../src/room/node-messages.js";
import { killAllChildren, spawnServer, type ServerChild } from "./lib/children.js";
import { connectRoombus, onFrames, SocketSet, type RoombusConnection } from "./lib/clients.js";
import {
  AUDIENCE,
  createLog,
  describeCommit,
  FD_LIMIT,
  intArg,
  ISSUER,
  JWT_SECRET,
  LOADGEN_CPU,
  namesArg,
  printUsage,
  UsageError,
  runBench,
  SERVER_CPU,
  sleep,
} from "./lib/entry.js";
import { createPhaseRunner, fixed, int, type PhaseContext } from "./lib/phases.js";
import { formatProfile, summarizeProfile, type ProfileSummary } from "./lib/profile.js";
import { killAllRedis, startBenchRedis, type BenchRedis } from "./lib/redis-server.js";
import { summarize, toMicros, type Summary } from "./lib/stats.js";
import { describeMachine, hasCommand, pinSelf, readCpuTimes, sampleMachineBusy, type MachineInfo } from "./lib/system.js";
import type { PingPongReport } from "./redis-ping-pong.js";

// ---------------------------------------------------------------- plan

interface Plan {
  mode: "full" | "quick";
  /** The latency phases run this many times each, interleaved; the table shows each one's best quiet round. */
  rounds: number;
  /** Per round and phase. */
  latencyWarmup: number;
  latencyCount: number;
  /** Broadcast: subscribers (half on each node), and the rounds of the two broadcast phases. */
  subscribers: number;
  broadcastRounds: number;
  /** One broadcast at a time: warm-up and measured broadcasts. */
  fanoutWarmup: number;
  fanoutCount: number;
  /** Broadcasts in flight (sent and not yet delivered to every subscriber) in the saturated phase. */
  window: number;
  broadcastWarmupMs: number;
  broadcastMs: number;
  /** The saturated phase's measured window also ends after this many broadcasts (it bounds the samples kept). */
  maxMeasuredBroadcasts: number;
  /** Subscriber handshakes in flight while the room fills. */
  joinConcurrency: number;
}

const FULL: Plan = {
  mode: "full",
  rounds: 3,
  latencyWarmup: 1_000,
  latencyCount: 5_000,
  subscribers: 1_000,
  broadcastRounds: 2,
  fanoutWarmup: 20,
  fanoutCount: 300,
  window: 8,
  broadcastWarmupMs: 1_000,
  broadcastMs: 5_000,
  maxMeasuredBroadcasts: 2_000,
  joinConcurrency: 50,
};

const QUICK: Plan = {
  ...FULL,
  mode: "quick",
  rounds: 1,
  latencyWarmup: 200,
  latencyCount: 1_000,
  subscribers: 200,
  broadcastRounds: 1,
  fanoutWarmup: 10,
  fanoutCount: 50,
  broadcastWarmupMs: 300,
  broadcastMs: 1_000,
};

/** The goal: cross-node p50 ≤ single-node p50 + this × ping-pong p50 (two Redis hops, plus room for roombus's work). */
const GOAL_PING_PONG_FACTOR = 1.3;

/** Hard limits per phase: a phase over its deadline fails, and its sockets are dropped. */
const LATENCY_DEADLINE_MS = 60_000;
const JOIN_DEADLINE_MS = 180_000;
const FANOUT_DEADLINE_MS = 60_000;
const BROADCAST_EXTRA_MS = 30_000;
/** How long the room may take to settle after it filled (join announcements still arriving). */
const SETTLE_LIMIT_MS = 60_000;
const QUIET_FOR_MS = 500;

const BROADCAST_ROOM = "bench-broadcast";

const PHASES = ["latency", "broadcast"] as const;
type PhaseName = (typeof PHASES)[number];

const USAGE = `usage: node dist/bench/cluster.js [options]
  --quick            a smoke run: 1 round, fewer round trips, 200 subscribers, 1 s broadcast window
  --rounds=N         latency rounds (default 3; 1 with --quick)
  --only=PHASES      a comma-separated subset of ${PHASES.join(",")}
  --subscribers=N    broadcast subscribers, split over the two nodes (default 1,000; 200 with --quick)
  --window=N         broadcasts in flight in the saturated broadcast phase (default 8)
  --profile          CPU-profile both nodes during the first cross-node latency round and the first saturated
                     broadcast (figures then carry the profiler's overhead); profiles and summaries go to
                     bench/results/cluster-<timestamp>/
`;

interface Args {
  plan: Plan;
  profile: boolean;
  only: Set<PhaseName>;
}

function parseArgs(argv: string[]): Args {
  let plan = FULL;
  let profile = false;
  let only = new Set<PhaseName>(PHASES);
  let rounds: number | undefined;
  let subscribers: number | undefined;
  let window: number | undefined;
  for (const arg of argv) {
    if (arg === "--quick") plan = QUICK;
    else if (arg === "--profile") profile = true;
    else if (arg.startsWith("--rounds=")) rounds = intArg(arg, "--rounds=", 1, 20);
    else if (arg.startsWith("--subscribers=")) subscribers = intArg(arg, "--subscribers=", 2, 20_000);
    else if (arg.startsWith("--window=")) window = intArg(arg, "--window=", 1, 1_000);
    else if (arg.startsWith("--only=")) only = namesArg(arg, "--only=", PHASES, "phase");
    else if (arg === "--help" || arg === "-h") printUsage(USAGE);
    else throw new UsageError(`unknown argument "${arg}"`);
  }
  return {
    plan: { ...plan, rounds: rounds ?? plan.rounds, subscribers: subscribers ?? plan.subscribers, window: window ?? plan.window },
    profile,
    only,
  };
}


// ---------------------------------------------------------------- output

const log = createLog("bench-cluster");


// ---------------------------------------------------------------- CPU

/** Where the CPU went during a measured window, in percent of one core. */
interface CpuShare {
  seconds: number;
  /** Each measured process by name (node-1, node-2, redis, ping-pong, load generator). */
  processes: Record<string, number>;
  /** Everything else on the machine (other processes, the kernel's softirqs). */
  otherPercent: number | undefined;
  stealPercent: number | undefined;
}

/** A process whose CPU time (µs) can be read at any moment; undefined when it cannot be read. */
interface Metered {
  name: string;
  cpuMicros(): Promise<number | undefined>;
}

function meteredChild(child: ServerChild): Metered {
  return {
    name: child.name,
    cpuMicros: async () => {
      const stats = await child.stats();
      return stats.cpuUser + stats.cpuSystem;
    },
  };
}

function meteredRedis(redis: BenchRedis): Metered {
  return { name: "redis", cpuMicros: async () => redis.cpuMicros() };
}

/** Starts measuring; the returned function ends the window and says where the CPU went. */
async function startCpuMeter(processes: Metered[]): Promise<() => Promise<CpuShare>> {
  const before = await Promise.all(processes.map((p) => p.cpuMicros()));
  const selfBefore = process.cpuUsage();
  const machineBefore = readCpuTimes();
  const t0 = performance.now();
  return async () => {
    const seconds = (performance.now() - t0) / 1000;
    const self = process.cpuUsage(selfBefore);
    const machineAfter = readCpuTimes();
    const after = await Promise.all(processes.map((p) => p.cpuMicros()));
    const shares: Record<string, number> = {};
    let known = 0;
    processes.forEach((p, index) => {
      const start = before[index];
      const end = after[index];
      if (start === undefined || end === undefined) return;
      const share = (end - start) / 10_000 / seconds;
      shares[p.name] = share;
      known += share;
    });
    const loadGenerator = (self.user + self.system) / 10_000 / seconds;
    shares["load generator"] = loadGenerator;
    known += loadGenerator;
    // /proc/stat counts jiffies of 10 ms: jiffies per second is already percent of one core.
    const machine =
      machineBefore === undefined || machineAfter === undefined
        ? undefined
        : { busy: (machineAfter.busy - machineBefore.busy) / seconds, steal: (machineAfter.steal - machineBefore.steal) / seconds };
    return {
      seconds,
      processes: shares,
      otherPercent: machine === undefined ? undefined : Math.max(0, machine.busy - known),
      stealPercent: machine?.steal,
    };
  };
}

/** Load from elsewhere (other processes on a shared machine) above this, in percent of one core, is worth waiting out. */
const QUIET_THRESHOLD_PERCENT = 25;

/** Waits (boundedly) until the rest of the machine is quiet; the servers and this process are idle between phases. */
async function waitForQuiet(plan: Plan): Promise<void> {
  const limitMs = plan.mode === "quick" ? 2_000 : 10_000;
  const until = performance.now() + limitMs;
  let busy = await sampleMachineBusy(250);
  if (busy === undefined || busy < QUIET_THRESHOLD_PERCENT) return;
  log(`the machine is busy with other work (${fixed(busy, 0)}% of a core); waiting up to ${limitMs / 1000} s`);
  while (busy !== undefined && busy >= QUIET_THRESHOLD_PERCENT && performance.now() < until) {
    busy = await sampleMachineBusy(500);
  }
  if (busy !== undefined && busy >= QUIET_THRESHOLD_PERCENT) log(`still busy (${fixed(busy, 0)}%); measuring anyway`);
}

// ---------------------------------------------------------------- phases

const phases = createPhaseRunner(log);
const failures = phases.failures;
const runPhase = phases.run;

/** Something to run around the measured window only (a CPU profile). */
interface WindowHooks {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** One latency round: percentiles in µs, and where the CPU went meanwhile. */
interface LatencyRound extends Summary {
  cpu: CpuShare;
  /** CPU time each process spent per round trip, µs: on a core that is busy, what a round trip costs. */
  cpuPerRoundTrip: Record<string, number>;
}

/** Each process's CPU time per operation, µs, from its share of the window. */
function cpuPerOperation(cpu: CpuShare, operations: number): Record<string, number> {
  const perOperation: Record<string, number> = {};
  for (const [name, percent] of Object.entries(cpu.processes)) {
    perOperation[name] = Math.round((percent * cpu.seconds * 10_000 * 10) / operations) / 10;
  }
  return perOperation;
}

function failOnError(frame: ServerFrame, who: string, fail: (error: Error) => void): boolean {
  if (frame.t === "res" && !frame.ok) {
    fail(new Error(`${who}: answered ${frame.error.code} ${frame.error.name}: ${frame.error.message}`));
    return true;
  }
  return false;
}

function tokenFor(identity: string, room: string): Promise<string> {
  return mintToken(
    { secret: new TextEncoder().encode(JWT_SECRET), issuer: ISSUER, audience: AUDIENCE },
    { identity, room, api: ["messaging"], ttlSeconds: 3600 },
  );
}

function roomUrl(child: ServerChild, room: string): string {
  return `ws://127.0.0.1:${child.port}/rooms/${room}`;
}

/**
 * Resolves once `ws` has been told (participant.joined) that `participantId()` joined; the id may become known only
 * after the listener is in place. The listener is removed afterwards, so it costs nothing in the measured loop.
 */
function awaitJoin(ws: WebSocket, timeoutMs: number): { until(participantId: string): Promise<void> } {
  const joined = new Set<string>();
  let wanted: string | undefined;
  let done: (() => void) | undefined;
  const listener = (data: Buffer): void => {
    const frame = decodeServerFrame(data);
    if (frame?.t !== "evt" || frame.ev !== "participant.joined") return;
    const id = (frame.data.participant as { id?: unknown } | undefined)?.id;
    if (typeof id !== "string") return;
    joined.add(id);
    if (id === wanted) done?.();
  };
  ws.on("message", listener);
  return {
    until: (participantId) =>
      new Promise<void>((resolvePromise, reject) => {
        wanted = participantId;
        const timer = setTimeout(() => {
          ws.off("message", listener);
          reject(new Error(`no participant.joined for ${participantId} within ${timeoutMs} ms`));
        }, timeoutMs);
        done = () => {
          clearTimeout(timer);
          ws.off("message", listener);
          resolvePromise();
        };
        if (joined.has(participantId)) done();
      }),
  };
}

// ---- a. raw ioredis ping-pong (child process)

/** Ping-pong processes still running, killed by the exit handler whatever way the bench ends. */
const pingPongChildren = new Set<ChildProcess>();

/** Runs bench/redis-ping-pong.js in its own process (pinned like the nodes) and resolves with its report. */
function runPingPong(
  ctx: PhaseContext,
  script: string,
  redis: BenchRedis,
  plan: Plan,
  payloadBytes: number,
  cpu: number | undefined,
): Promise<PingPongReport> {
  const command = cpu === undefined ? process.execPath : "taskset";
  const args = cpu === undefined ? [script] : ["-c", String(cpu), process.execPath, script];
  const child = spawn(command, args, {
    env: {
      ...process.env,
      BENCH_REDIS_URL: redis.url,
      BENCH_REDIS_PID: String(redis.pid),
      BENCH_WARMUP: String(plan.latencyWarmup),
      BENCH_COUNT: String(plan.latencyCount),
      BENCH_PAYLOAD_BYTES: String(payloadBytes),
      BENCH_DEADLINE_MS: String(LATENCY_DEADLINE_MS - 5_000),
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  pingPongChildren.add(child);
  child.once("exit", () => pingPongChildren.delete(child));
  ctx.signal.addEventListener("abort", () => child.kill("SIGKILL"));
  return new Promise((resolvePromise, reject) => {
    let report: PingPongReport | undefined;
    createInterface({ input: child.stdout }).on("line", (line) => {
      if (line.startsWith('{"bench":"ping-pong"')) report = JSON.parse(line) as PingPongReport;
    });
    child.once("error", reject);
    child.once("close", (code) => {
      if (code === 0 && report !== undefined) resolvePromise(report);
      else reject(new Error(`the ping-pong process exited with ${String(code)} without a report`));
    });
  });
}

// ---- b, c. relayed round trip

/** A closed loop: one message out, wait for its round trip, repeat. Resolves to the measured samples (ms). */
function closedLoop(
  ctx: PhaseContext,
  name: string,
  warmup: number,
  count: number,
  start: (onRoundTrip: () => void, fail: (error: Error) => void) => () => void,
  onMeasuredStart: () => Promise<void>,
): Promise<Float64Array> {
  return new Promise((resolvePromise, reject) => {
    const samples = new Float64Array(count);
    let done = 0;
    let sentAt = 0;
    let finished = false;
    const fail = (error: Error): void => {
      if (finished) return;
      finished = true;
      reject(error);
    };
    let sendOne: () => void = () => undefined;
    const sendTimed = (): void => {
      sentAt = performance.now();
      sendOne();
    };
    sendOne = start(() => {
      if (finished) return;
      const elapsed = performance.now() - sentAt;
      if (done >= warmup) samples[done - warmup] = elapsed;
      done++;
      if (done === warmup + count) {
        finished = true;
        resolvePromise(samples);
      } else if (ctx.signal.aborted) {
        fail(new Error("aborted"));
      } else if (done === warmup) {
        // The meter (and profiler) start outside any sample.
        onMeasuredStart().then(sendTimed, fail);
      } else {
        sendTimed();
      }
    }, fail);
    ctx.every(1000, () => log(`${name}: ${int(Math.max(0, done - warmup))}/${int(count)} round trips (warm-up ${int(warmup)})`));
    if (warmup === 0) onMeasuredStart().then(sendTimed, fail);
    else sendTimed();
  });
}

/** A on `nodeA`, B on `nodeB`: B answers every message to A at once with the same body; A → B → A is one round trip. */
async function relayLatency(
  ctx: PhaseContext,
  name: string,
  nodeA: ServerChild,
  nodeB: ServerChild,
  room: string,
  plan: Plan,
  metered: Metered[],
  hooks: WindowHooks | undefined,
): Promise<LatencyRound> {
  const a = await connectRoombus(roomUrl(nodeA, room), await tokenFor("bench-a", room), ctx.sockets);
  const seesB = awaitJoin(a.ws, 10_000);
  const b = await connectRoombus(roomUrl(nodeB, room), await tokenFor("bench-b", room), ctx.sockets);
  // A's node must know B before A sends to it; across nodes that takes B's join announcement through Redis.
  await seesB.until(b.participantId);
  let aIds = 0;
  let bIds = 0;
  let seq = 0;
  let stopMeter: (() => Promise<CpuShare>) | undefined;
  const samples = await closedLoop(
    ctx,
    name,
    plan.latencyWarmup,
    plan.latencyCount,
    (onRoundTrip, fail) => {
      onFrames(
        b.ws,
        (frame) => {
          if (frame.t === "evt" && frame.ev === "messaging.message") {
            b.ws.send(
              encodeRequest(++bIds, "messaging.send", {
                to_participant_id: a.participantId,
                type: "bench",
                message: frame.data.message as object,
              }),
            );
          } else failOnError(frame, "B", fail);
        },
        fail,
      );
      onFrames(
        a.ws,
        (frame) => {
          if (frame.t === "evt" && frame.ev === "messaging.message") {
            const echoed = (frame.data.message as { seq?: unknown }).seq;
            if (echoed !== seq) fail(new Error(`A got seq ${String(echoed)}, expected ${seq}`));
            else onRoundTrip();
          } else failOnError(frame, "A", fail);
        },
        fail,
      );
      return () =>
        a.ws.send(
          encodeRequest(++aIds, "messaging.send", { to_participant_id: b.participantId, type: "bench", message: { seq: ++seq } }),
        );
    },
    async () => {
      await hooks?.start();
      stopMeter = await startCpuMeter(metered);
    },
  );
  const cpu = await stopMeter!();
  await hooks?.stop();
  return { ...toMicros(summarize(samples)), cpu, cpuPerRoundTrip: cpuPerOperation(cpu, plan.latencyCount) };
}

// ---- d. broadcast

/** What a subscriber does with a broadcast it received; set per phase. */
type DeliverySink = (subscriber: number, seq: number, receivedAt: number) => void;

interface BroadcastFixture {
  publisher: RoombusConnection;
  subscribers: RoombusConnection[];
  /** Sockets of the fixture: they outlive single phases, and are dropped when the bench is done with them. */
  sockets: SocketSet;
  /** Subscribers per node. */
  split: [number, number];
  sink: DeliverySink;
  /** The sequence number of the last broadcast sent (they run on across phases, so order checks do too). */
  lastSeq: number;
  /** Set when a subscriber saw something wrong; every later phase fails with it. */
  failure: Error | undefined;
  publisherIds: number;
}

/** Opens `count` connections through a pool of `concurrency` handshakes in flight. */
async function openMany<T>(
  ctx: PhaseContext,
  name: string,
  count: number,
  concurrency: number,
  open: (index: number) => Promise<T>,
): Promise<T[]> {
  const opened: T[] = new Array<T>(count);
  let next = 0;
  let done = 0;
  ctx.every(1000, () => log(`${name}: ${int(done)}/${int(count)} joined`));
  const worker = async (): Promise<void> => {
    while (next < count && !ctx.signal.aborted) {
      const index = next++;
      opened[index] = await open(index);
      done++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  if (done < count) throw new Error(`only ${done} of ${count} joined`);
  return opened;
}

/**
 * Fills the broadcast room: the publisher on node 1, then the subscribers, alternately on node 1 and node 2. Waits
 * until the publisher's node knows every subscriber and the join announcements have stopped arriving.
 */
async function fillBroadcastRoom(ctx: PhaseContext, nodes: [ServerChild, ServerChild], plan: Plan): Promise<BroadcastFixture> {
  const sockets = new SocketSet();
  try {
    const publisher = await connectRoombus(roomUrl(nodes[0], BROADCAST_ROOM), await tokenFor("publisher", BROADCAST_ROOM), sockets);
    let publisherKnows = 0;
    let lastFrameAt = performance.now();
    const fixture: BroadcastFixture = {
      publisher,
      subscribers: [],
      sockets,
      split: [Math.ceil(plan.subscribers / 2), Math.floor(plan.subscribers / 2)],
      sink: () => undefined,
      lastSeq: 0,
      failure: undefined,
      publisherIds: 0,
    };
    publisher.ws.on("message", (data: Buffer) => {
      lastFrameAt = performance.now();
      const frame = decodeServerFrame(data);
      if (frame?.t === "evt" && frame.ev === "participant.joined") publisherKnows++;
      else if (frame?.t === "res" && !frame.ok) {
        fixture.failure ??= new Error(`publisher: answered ${frame.error.code} ${frame.error.name}: ${frame.error.message}`);
      }
    });
    const tokens = await Promise.all(Array.from({ length: plan.subscribers }, (_, index) => tokenFor(`sub-${index}`, BROADCAST_ROOM)));
    fixture.subscribers = await openMany(ctx, "broadcast room", plan.subscribers, plan.joinConcurrency, async (index) => {
      const node = nodes[index % 2]!;
      const connection = await connectRoombus(roomUrl(node, BROADCAST_ROOM), tokens[index]!, sockets);
      let expected = 1;
      connection.ws.on("message", (data: Buffer) => {
        lastFrameAt = performance.now();
        const frame = decodeServerFrame(data);
        if (frame?.t !== "evt" || frame.ev !== "messaging.message") return;
        const receivedAt = performance.now();
        const seq = (frame.data.message as { seq?: unknown }).seq;
        // PROTOCOL.md §5: one sender's messages reach each receiver in order, without loss.
        if (seq !== expected) {
          fixture.failure ??= new Error(`subscriber ${index} got broadcast ${String(seq)}, expected ${expected}`);
          return;
        }
        expected++;
        fixture.sink(index, seq, receivedAt);
      });
      return connection;
    });
    const settleUntil = performance.now() + SETTLE_LIMIT_MS;
    while (publisherKnows < plan.subscribers || performance.now() - lastFrameAt < QUIET_FOR_MS) {
      if (performance.now() > settleUntil) {
        throw new Error(`the room did not settle: the publisher saw ${publisherKnows} of ${plan.subscribers} joins`);
      }
      if (ctx.signal.aborted) throw new Error("aborted");
      await sleep(50);
    }
    const [onNode1, onNode2] = fixture.split;
    log(`broadcast room: ${int(plan.subscribers)} subscribers (${onNode1} on node 1, ${onNode2} on node 2) and the publisher`);
    return fixture;
  } catch (error) {
    sockets.terminateAll();
    throw error;
  }
}

function sendBroadcast(fixture: BroadcastFixture): number {
  const seq = ++fixture.lastSeq;
  fixture.publisher.ws.send(encodeRequest(++fixture.publisherIds, "messaging.broadcast", { type: "bench", message: { seq } }));
  return seq;
}

interface FanoutResult {
  broadcasts: number;
  /** CPU time of each process per delivery, µs. */
  cpuPerDelivery: Record<string, number>;
  /** Each delivery, from its broadcast's send (µs). */
  delivery: Summary;
  /** Each broadcast, from its send to its last delivery (µs). */
  complete: Summary;
  cpu: CpuShare;
}

/** One broadcast at a time: the next leaves when every subscriber has the previous one. */
async function broadcastFanout(ctx: PhaseContext, fixture: BroadcastFixture, plan: Plan, metered: Metered[]): Promise<FanoutResult> {
  const n = fixture.subscribers.length;
  const total = plan.fanoutWarmup + plan.fanoutCount;
  const deliveries = new Float64Array(plan.fanoutCount * n);
  const completions = new Float64Array(plan.fanoutCount);
  let measuredDeliveries = 0;
  let round = 0;
  let remaining = 0;
  let sentAt = 0;
  let currentSeq = 0;
  let stopMeter: (() => Promise<CpuShare>) | undefined;
  await new Promise<void>((resolvePromise, reject) => {
    ctx.every(1000, () => {
      const measured = Math.max(0, round - plan.fanoutWarmup);
      log(`broadcast fan-out: ${int(measured)}/${int(plan.fanoutCount)} (warm-up ${plan.fanoutWarmup})`);
    });
    // A subscriber that saw a broadcast out of order never completes it: fail now rather than at the deadline.
    ctx.every(100, () => {
      if (fixture.failure !== undefined) reject(fixture.failure);
    });
    const next = (): void => {
      if (fixture.failure !== undefined) return reject(fixture.failure);
      if (ctx.signal.aborted) return reject(new Error("aborted"));
      if (round === total) return resolvePromise();
      remaining = n;
      sentAt = performance.now();
      currentSeq = sendBroadcast(fixture);
    };
    /** The meter starts between two broadcasts, outside any sample. */
    const startMeasuring = (): void => {
      startCpuMeter(metered).then((stop) => {
        stopMeter = stop;
        next();
      }, reject);
    };
    fixture.sink = (_subscriber, seq, receivedAt) => {
      if (seq !== currentSeq) return;
      const measured = round >= plan.fanoutWarmup;
      if (measured) deliveries[measuredDeliveries++] = receivedAt - sentAt;
      if (--remaining > 0) return;
      if (measured) completions[round - plan.fanoutWarmup] = receivedAt - sentAt;
      round++;
      if (round === plan.fanoutWarmup) startMeasuring();
      else next();
    };
    if (plan.fanoutWarmup === 0) startMeasuring();
    else next();
  }).finally(() => {
    fixture.sink = () => undefined;
  });
  const cpu = await stopMeter!();
  return {
    broadcasts: plan.fanoutCount,
    cpuPerDelivery: cpuPerOperation(cpu, measuredDeliveries),
    delivery: toMicros(summarize(deliveries.subarray(0, measuredDeliveries))),
    complete: toMicros(summarize(completions)),
    cpu,
  };
}

interface SaturatedResult {
  window: number;
  /** Deliveries counted at the subscribers per second of the measured window. */
  deliveriesPerSecond: number;
  broadcastsPerSecond: number;
  measuredDeliveries: number;
  /** Deliveries in each whole second of the measured window. */
  perSecond: number[];
  /** Each delivery of a broadcast sent in the measured window, from its send (µs). */
  delivery: Summary;
  /** Whether the window ended on the broadcast cap rather than on time. */
  capped: boolean;
  cpu: CpuShare;
  /** CPU time of each process per delivery, µs. */
  cpuPerDelivery: Record<string, number>;
}

/** `window` broadcasts in flight (sent, not yet delivered to every subscriber); deliveries counted over a window. */
async function broadcastSaturated(
  ctx: PhaseContext,
  fixture: BroadcastFixture,
  plan: Plan,
  metered: Metered[],
  hooks: WindowHooks | undefined,
): Promise<SaturatedResult> {
  const n = fixture.subscribers.length;
  const latencies = new Float64Array(plan.maxMeasuredBroadcasts * n);
  let latencyCount = 0;
  /** seq → [sent at, deliveries still to come, whether it was sent inside the measured window] */
  const inFlight = new Map<number, { sentAt: number; remaining: number; measured: boolean }>();
  let measuring = false;
  let stopped = false;
  let measuredSent = 0;
  let deliveries = 0;
  const failure: { error?: Error } = {};
  const pump = (): void => {
    while (!stopped && !ctx.signal.aborted && inFlight.size < plan.window) {
      if (measuring && measuredSent === plan.maxMeasuredBroadcasts) {
        stopped = true;
        break;
      }
      const sentAt = performance.now();
      const seq = sendBroadcast(fixture);
      inFlight.set(seq, { sentAt, remaining: n, measured: measuring });
      if (measuring) measuredSent++;
    }
  };
  fixture.sink = (_subscriber, seq, receivedAt) => {
    const entry = inFlight.get(seq);
    if (entry === undefined) {
      failure.error ??= new Error(`a delivery of broadcast ${seq}, which is not in flight`);
      return;
    }
    deliveries++;
    if (entry.measured) latencies[latencyCount++] = receivedAt - entry.sentAt;
    if (--entry.remaining === 0) {
      inFlight.delete(seq);
      pump();
    }
  };
  const throwIfFailed = (): void => {
    const error = failure.error ?? fixture.failure;
    if (error !== undefined) throw error;
  };
  try {
    pump();
    await sleep(plan.broadcastWarmupMs);
    throwIfFailed();

    await hooks?.start();
    const stopMeter = await startCpuMeter(metered);
    measuring = true;
    const d0 = deliveries;
    const perSecond: number[] = [];
    let lastCount = deliveries;
    ctx.every(1000, () => {
      perSecond.push(deliveries - lastCount);
      lastCount = deliveries;
      log(`broadcast saturated: ${int(perSecond[perSecond.length - 1]!)} deliveries/s`);
    });
    const until = performance.now() + plan.broadcastMs;
    while (performance.now() < until && !stopped && !ctx.signal.aborted) await sleep(Math.min(50, until - performance.now()));
    const capped = stopped;
    const d1 = deliveries;
    const cpu = await stopMeter();
    stopped = true;
    await hooks?.stop();
    throwIfFailed();

    // Let what is in flight land (bounded), so the next phase starts from quiet nodes and order checks stay exact.
    const drainUntil = performance.now() + 10_000;
    while (inFlight.size > 0 && performance.now() < drainUntil && !ctx.signal.aborted) await sleep(10);
    if (inFlight.size > 0) throw new Error(`${inFlight.size} broadcasts were still not delivered to everyone 10 s after the window`);
    throwIfFailed();
    return {
      window: plan.window,
      deliveriesPerSecond: (d1 - d0) / cpu.seconds,
      broadcastsPerSecond: (d1 - d0) / n / cpu.seconds,
      measuredDeliveries: d1 - d0,
      perSecond,
      delivery: toMicros(summarize(latencies.subarray(0, latencyCount))),
      capped,
      cpu,
      cpuPerDelivery: cpuPerOperation(cpu, d1 - d0),
    };
  } finally {
    stopped = true;
    fixture.sink = () => undefined;
  }
}

async function readSessionGauge(port: number): Promise<number | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/metrics`);
    const match = /^roombus_sessions (\d+)/m.exec(await response.text());
    return match === null ? undefined : Number(match[1]);
  } catch {
    return undefined;
  }
}

/** Waits (boundedly) until no node counts an open session. */
async function waitForNoSessions(nodes: ServerChild[], limitMs: number): Promise<void> {
  const until = performance.now() + limitMs;
  while (performance.now() < until) {
    const open = await Promise.all(nodes.map((node) => readSessionGauge(node.port)));
    if (open.every((count) => count === 0 || count === undefined)) return;
    await sleep(50);
  }
  log(`the nodes still count open sessions ${limitMs / 1000} s after the bench closed its sockets`);
}

// ---------------------------------------------------------------- main

interface Results {
  startedAt: string;
  /** The commit measured, with "+dirty" when src/ had changes. */
  commit: string | undefined;
  plan: Plan;
  machine: MachineInfo & { pinned: boolean; redis: string; placement: string };
  /** Bytes of one `messaging.send` request, and of the Redis message that carries it between nodes. */
  messageBytes: number;
  busMessageBytes: number;
  pingPong: { best?: LatencyRound; rounds: LatencyRound[] };
  singleNode: { best?: LatencyRound; rounds: LatencyRound[] };
  crossNode: { best?: LatencyRound; rounds: LatencyRound[] };
  /** The goal checked on each round's own three figures (all measured within seconds of each other). */
  goalByRound: { round: number; crossP50: number; limit: number; met: boolean }[];
  broadcast: { subscribers: number; split?: [number, number]; fanout: FanoutResult[]; saturated: SaturatedResult[] };
  profiles: Record<string, ProfileSummary>;
  goals: { name: string; measured: number; limit: number; met: boolean }[];
  failures: { phase: string; error: string }[];
}

const here = dirname(fileURLToPath(import.meta.url));
/** dist/bench/cluster.js → the project root. */
const root = resolve(here, "../..");


const dataDirs: string[] = [];

/** A node's environment: Redis mode, the cluster's shared JWT secret and encryption key, a fresh data directory. */
function nodeEnv(redisUrl: string, encryptionKey: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  // Nothing from the caller's ROOMBUS_* may change what is measured (a low rate limit, ...).
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith("ROOMBUS_")) env[key] = value;
  const dataDir = mkdtempSync(join(tmpdir(), "roombus-bench-cluster-"));
  dataDirs.push(dataDir);
  return {
    ...env,
    ROOMBUS_HOST: "127.0.0.1",
    ROOMBUS_PORT: "0",
    ROOMBUS_REDIS_URL: redisUrl,
    ROOMBUS_JWT_SECRET: JWT_SECRET,
    ROOMBUS_ENCRYPTION_KEY: encryptionKey,
    ROOMBUS_ISSUER: ISSUER,
    ROOMBUS_AUDIENCE: AUDIENCE,
    ROOMBUS_LOG_LEVEL: "warn",
    ROOMBUS_RATE_LIMIT: "1000000",
    ROOMBUS_RATE_BURST: "1000000",
    ROOMBUS_DATA_DIR: dataDir,
  };
}

/** The size of the inbox message that carries one relayed `messaging.send` from node to node, as RedisBus sends it. */
function busMessageLength(): number {
  const frame = encodeEvent("messaging.message", {
    from_participant_id: "p_" + "x".repeat(22),
    from_identity: "bench-a",
    type: "bench",
    message: { seq: 123_456 },
  });
  const message: NodeMessage = {
    kind: "deliver",
    room: "bench-cross-1",
    toParticipantId: "p_" + "x".repeat(22),
    frame,
    ackNode: "x".repeat(12),
    ackId: "a_" + "x".repeat(16),
  };
  return encodeMsgpack({ n: "x".repeat(12), m: message }).length;
}

/** The round with the lowest median among the quiet rounds (all rounds when none was quiet), as bench/run.ts picks. */
function bestLatency(rounds: LatencyRound[]): LatencyRound | undefined {
  const quiet = rounds.filter((round) => (round.cpu.otherPercent ?? 0) < QUIET_THRESHOLD_PERCENT);
  return [...(quiet.length > 0 ? quiet : rounds)].sort((a, b) => a.p50 - b.p50)[0];
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const { plan } = args;
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const resultsDir = join(root, "bench", "results");
  mkdirSync(resultsDir, { recursive: true });
  const artifactDir = join(resultsDir, `cluster-${stamp}`);
  if (args.profile) mkdirSync(artifactDir, { recursive: true });

  const machine = describeMachine();
  const canPin = hasCommand("taskset") && machine.cpus >= 2;
  const pinned = canPin && pinSelf(LOADGEN_CPU, log);
  const serverCpu = pinned ? SERVER_CPU : undefined;
  const placement = pinned
    ? `nodes, Redis and the ping-pong process on core ${SERVER_CPU}, load generator on core ${LOADGEN_CPU}`
    : "not pinned";
  log(`${plan.mode} run on ${machine.cpus} cores (${machine.cpuModel}), node ${machine.node}; ${placement}`);

  const redis = await startBenchRedis({ cpu: serverCpu, log });
  log(`redis-server ${redis.version} at ${redis.url} (pid ${redis.pid})`);
  const encryptionKey = newMasterKeyBase64();
  const roombusScript = join(here, "roombus-server.js");
  const spawnCommon = { script: roombusScript, cpu: serverCpu, fdLimit: FD_LIMIT, log };
  // One after the other: the first creates the store's first data key, the second finds it.
  const node1 = await spawnServer({ ...spawnCommon, name: "node-1", env: nodeEnv(redis.url, encryptionKey) });
  const node2 = await spawnServer({ ...spawnCommon, name: "node-2", env: nodeEnv(redis.url, encryptionKey) });
  const nodes: [ServerChild, ServerChild] = [node1, node2];
  const clusterProcesses: Metered[] = [meteredChild(node1), meteredChild(node2), meteredRedis(redis)];

  const messageBytes = encodeRequest(123_456, "messaging.send", {
    to_participant_id: "p_" + "x".repeat(22),
    type: "bench",
    message: { seq: 123_456 },
  }).length;
  const busMessageBytes = busMessageLength();
  const results: Results = {
    startedAt: new Date().toISOString(),
    commit: describeCommit(root),
    plan,
    machine: { ...machine, pinned, redis: redis.version, placement },
    messageBytes,
    busMessageBytes,
    pingPong: { rounds: [] },
    singleNode: { rounds: [] },
    crossNode: { rounds: [] },
    goalByRound: [],
    broadcast: { subscribers: plan.subscribers, fanout: [], saturated: [] },
    profiles: {},
    goals: [],
    failures,
  };

  /** With --profile and `enabled`: hooks that profile both nodes around a measured window. */
  const profileHooks = (label: string, enabled: boolean): WindowHooks | undefined => {
    if (!args.profile || !enabled) return undefined;
    let started = false;
    return {
      start: async () => {
        await Promise.all(nodes.map((node) => node.startProfile()));
        started = true;
      },
      stop: async () => {
        if (!started) return;
        started = false;
        for (const node of nodes) {
          const key = `${label} ${node.name}`;
          const file = join(artifactDir, `${key.replaceAll(" ", "-")}.cpuprofile`);
          await node.stopProfile(file);
          results.profiles[key] = summarizeProfile(file, 30);
          process.stderr.write(formatProfile(results.profiles[key]) + "\n");
        }
      },
    };
  };
  const withDeaths = <T>(work: Promise<T>): Promise<T> => Promise.race([work, node2.died, redis.died]);

  if (args.only.has("latency")) {
    const pingPongScript = join(here, "redis-ping-pong.js");
    for (let round = 1; round <= plan.rounds; round++) {
      const tag = `round ${round}/${plan.rounds}`;
      await waitForQuiet(plan);
      const pingPong = await runPhase(`ioredis ping-pong ${tag}`, LATENCY_DEADLINE_MS, node1, async (ctx) => {
        const stopMeter = await startCpuMeter([meteredRedis(redis)]);
        const report = await withDeaths(runPingPong(ctx, pingPongScript, redis, plan, busMessageBytes, serverCpu));
        const cpu = await stopMeter();
        // The window spans the whole ping-pong process (start-up included): its own CPU is not "other" load. Its
        // share shown is over its measured round trips only.
        const pingPongPercent = report.lifetimeCpuMicros / 10_000 / cpu.seconds;
        if (cpu.otherPercent !== undefined) cpu.otherPercent = Math.max(0, cpu.otherPercent - pingPongPercent);
        cpu.processes["ping-pong"] = report.cpuMicros / 10_000 / report.seconds;
        const perRoundTrip = (micros: number | undefined): number => Math.round((micros ?? NaN) / plan.latencyCount * 10) / 10;
        const cpuPerRoundTrip = { "ping-pong": perRoundTrip(report.cpuMicros), redis: perRoundTrip(report.redisCpuMicros) };
        return { ...toMicros(summarize(report.samples)), cpu, cpuPerRoundTrip };
      });
      if (pingPong !== undefined) results.pingPong.rounds.push(pingPong);

      await waitForQuiet(plan);
      const single = await runPhase(`single-node relay ${tag}`, LATENCY_DEADLINE_MS, node1, (ctx) =>
        withDeaths(relayLatency(ctx, "single-node relay", node1, node1, `bench-single-${round}`, plan, clusterProcesses, undefined)),
      );
      if (single !== undefined) results.singleNode.rounds.push(single);

      await waitForQuiet(plan);
      const hooks = profileHooks("cross-node latency", round === 1);
      const cross = await runPhase(`cross-node relay ${tag}`, LATENCY_DEADLINE_MS, node1, (ctx) =>
        withDeaths(relayLatency(ctx, "cross-node relay", node1, node2, `bench-cross-${round}`, plan, clusterProcesses, hooks)),
      );
      await hooks?.stop().catch(() => undefined);
      if (cross !== undefined) results.crossNode.rounds.push(cross);

      if (pingPong !== undefined && single !== undefined && cross !== undefined) {
        const limit = single.p50 + GOAL_PING_PONG_FACTOR * pingPong.p50;
        results.goalByRound.push({ round, crossP50: cross.p50, limit, met: cross.p50 <= limit });
        log(
          `${tag}: cross-node p50 ${fixed(cross.p50)} µs against single-node ${fixed(single.p50)} + ${GOAL_PING_PONG_FACTOR} × ping-pong ` +
            `${fixed(pingPong.p50)} = ${fixed(limit)} µs: ${cross.p50 <= limit ? "PASS" : "MISS"}`,
        );
      }
    }
    results.pingPong.best = bestLatency(results.pingPong.rounds);
    results.singleNode.best = bestLatency(results.singleNode.rounds);
    results.crossNode.best = bestLatency(results.crossNode.rounds);
    const pingPong = results.pingPong.best;
    const singleNode = results.singleNode.best;
    const crossNode = results.crossNode.best;
    if (pingPong !== undefined && singleNode !== undefined && crossNode !== undefined) {
      const limit = singleNode.p50 + GOAL_PING_PONG_FACTOR * pingPong.p50;
      results.goals.push({
        name: `cross-node round trip p50 ≤ single-node p50 + ${GOAL_PING_PONG_FACTOR} × ioredis ping-pong p50, µs`,
        measured: crossNode.p50,
        limit,
        met: crossNode.p50 <= limit,
      });
    }
  }

  if (args.only.has("broadcast")) {
    await waitForQuiet(plan);
    const fixture = await runPhase("broadcast room fill", JOIN_DEADLINE_MS, node1, (ctx) =>
      withDeaths(fillBroadcastRoom(ctx, nodes, plan)),
    );
    if (fixture !== undefined) {
      results.broadcast.split = fixture.split;
      const saturatedDeadline = plan.broadcastWarmupMs + plan.broadcastMs + BROADCAST_EXTRA_MS;
      for (let round = 1; round <= plan.broadcastRounds; round++) {
        const tag = `round ${round}/${plan.broadcastRounds}`;
        await waitForQuiet(plan);
        const fanout = await runPhase(`broadcast fan-out ${tag}`, FANOUT_DEADLINE_MS, node1, (ctx) =>
          withDeaths(broadcastFanout(ctx, fixture, plan, clusterProcesses)),
        );
        if (fanout !== undefined) results.broadcast.fanout.push(fanout);
        await waitForQuiet(plan);
        const hooks = profileHooks("broadcast saturated", round === 1);
        const saturated = await runPhase(`broadcast saturated ${tag}`, saturatedDeadline, node1, (ctx) =>
          withDeaths(broadcastSaturated(ctx, fixture, plan, clusterProcesses, hooks)),
        );
        await hooks?.stop().catch(() => undefined);
        if (saturated !== undefined) results.broadcast.saturated.push(saturated);
        // A failed phase leaves broadcasts in flight: later phases would count them, so stop here.
        if (fanout === undefined || saturated === undefined) break;
      }
      fixture.sockets.terminateAll();
      // Let the nodes see the departures before they stop, or each one logs a leave it could not announce.
      await waitForNoSessions(nodes, 10_000);
    }
  }

  await Promise.all([node1.stop(), node2.stop()]);
  await redis.stop();

  const file = join(resultsDir, `cluster-${stamp}.json`);
  writeFileSync(file, JSON.stringify(results, null, 2) + "\n");
  process.stdout.write(formatTable(results) + "\n");
  log(`results written to ${file}`);
  if (failures.length > 0) {
    log(`${failures.length} phase(s) failed: ${failures.map((failure) => failure.phase).join(", ")}`);
    return 1;
  }
  return 0;
}

// ---------------------------------------------------------------- table

function formatTable(results: Results): string {
  const { plan } = results;
  const us = (value: number | undefined): string => (value === undefined || !Number.isFinite(value) ? "n/a" : `${fixed(value)} µs`);
  const percent = (value: number | undefined): string => (value === undefined ? "?" : `${fixed(value, 0)}%`);
  const cpuShares = (share: CpuShare | undefined): string =>
    share === undefined
      ? "n/a"
      : [
          ...Object.entries(share.processes).map(([name, value]) => `${name} ${percent(value)}`),
          `other ${percent(share.otherPercent)}`,
        ].join(", ");
  /** CPU per operation of the server-side processes (the load generator's is in the JSON). */
  const cpuPer = (perOperation: Record<string, number> | undefined): string =>
    perOperation === undefined
      ? "n/a"
      : Object.entries(perOperation)
          .filter(([name]) => name !== "load generator")
          .map(([name, micros]) => `${name} ${fixed(micros)}`)
          .join(" + ") + " µs";
  const percentiles = (s: Summary | undefined): string => (s === undefined ? "n/a" : `${us(s.p50)} / ${us(s.p90)} / ${us(s.p99)}`);
  const pingPong = results.pingPong.best;
  const single = results.singleNode.best;
  const cross = results.crossNode.best;
  const goal = results.goals[0];
  const bestFanout = [...results.broadcast.fanout].sort((a, b) => a.delivery.p50 - b.delivery.p50)[0];
  const bestSaturated = [...results.broadcast.saturated].sort((a, b) => b.deliveriesPerSecond - a.deliveriesPerSecond)[0];
  const split = results.broadcast.split === undefined ? "" : ` (${results.broadcast.split[0]} + ${results.broadcast.split[1]})`;

  const rows: string[][] = [
    ["figure", "p50 / p90 / p99", "CPU per round trip or delivery", "goal", "met"],
    [
      `a. ioredis publish → subscribe ping-pong (${results.busMessageBytes}-byte messages)`,
      percentiles(pingPong),
      cpuPer(pingPong?.cpuPerRoundTrip),
      "",
      "",
    ],
    ["b. relayed round trip, A and B on node 1", percentiles(single), cpuPer(single?.cpuPerRoundTrip), "", ""],
    [
      "c. relayed round trip, A on node 1, B on node 2",
      percentiles(cross),
      cpuPer(cross?.cpuPerRoundTrip),
      goal === undefined ? "n/a" : `p50 ≤ b + ${GOAL_PING_PONG_FACTOR} × a = ${us(goal.limit)}`,
      goal === undefined ? "n/a" : goal.met ? "PASS" : "MISS",
    ],
    ["   c − b, p50", cross === undefined || single === undefined ? "n/a" : us(cross.p50 - single.p50), "", "", ""],
    [
      `d. broadcast to ${int(results.broadcast.subscribers)} subscribers${split}, one at a time: each delivery`,
      percentiles(bestFanout?.delivery),
      cpuPer(bestFanout?.cpuPerDelivery),
      "",
      "",
    ],
    ["   the last delivery of each broadcast", percentiles(bestFanout?.complete), "", "", ""],
    [
      `   ${bestSaturated?.window ?? plan.window} broadcasts in flight: deliveries per second`,
      bestSaturated === undefined
        ? "n/a"
        : `${int(bestSaturated.deliveriesPerSecond)} /s (${fixed(bestSaturated.broadcastsPerSecond, 1)} broadcasts/s)`,
      cpuPer(bestSaturated?.cpuPerDelivery),
      "",
      "",
    ],
    ["   each delivery at that load", percentiles(bestSaturated?.delivery), "", "", ""],
  ];
  const widths = rows[0]!.map((_cell, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const line = (row: string[]): string => `| ${row.map((cell, column) => cell.padEnd(widths[column]!)).join(" | ")} |`;
  const table = [line(rows[0]!), `|${widths.map((width) => "-".repeat(width + 2)).join("|")}|`, ...rows.slice(1).map(line)];
  const byRound = (name: string, list: LatencyRound[]): string =>
    list.length === 0
      ? `${name}: n/a`
      : `${name} p50 by round: ${list.map((r) => fixed(r.p50)).join(", ")} µs ` +
        `(CPU elsewhere ${list.map((r) => percent(r.cpu.otherPercent)).join(", ")})`;
  const goalRounds = results.goalByRound
    .map((g) => `${fixed(g.crossP50)} ≤ ${fixed(g.limit)} ${g.met ? "PASS" : "MISS"}`)
    .join("; ");
  const saturatedRounds = results.broadcast.saturated
    .map((r) => `${int(r.deliveriesPerSecond)}/s (CPU elsewhere ${percent(r.cpu.otherPercent)})`)
    .join(", ");
  return [
    "",
    `roombus cluster bench (${plan.mode}) of ${results.commit ?? "an unknown commit"}: ${results.machine.cpus} cores, ` +
      `${results.machine.cpuModel}, node ${results.machine.node}, redis ${results.machine.redis}; ${results.machine.placement}`,
    "",
    ...table,
    "",
    byRound("ping-pong", results.pingPong.rounds),
    byRound("single-node relay", results.singleNode.rounds),
    byRound("cross-node relay", results.crossNode.rounds),
    `goal by round: ${goalRounds || "n/a"}`,
    `CPU during the best single-node round: ${cpuShares(single?.cpu)}`,
    `CPU during the best cross-node round: ${cpuShares(cross?.cpu)}`,
    `CPU during the best fan-out: ${cpuShares(bestFanout?.cpu)}`,
    `CPU during the best saturated broadcast: ${cpuShares(bestSaturated?.cpu)}`,
    `saturated broadcast by round: ${saturatedRounds || "n/a"}`,
    ...(plan.mode === "quick"
      ? ["", "quick run: a smoke test of the bench itself (few round trips, 200 subscribers); use the full run for figures."]
      : []),
    ...(results.failures.length > 0 ? ["", ...results.failures.map((f) => `FAILED ${f.phase}: ${f.error}`)] : []),
  ].join("\n");
}

function cleanUp(): void {
  killAllChildren();
  for (const child of pingPongChildren) child.kill("SIGKILL");
  killAllRedis();
  for (const dir of dataDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

runBench(main, cleanUp, log);
