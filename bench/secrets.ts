/**
 * `node dist/bench/secrets.js`: the secrets broker on the embedded default (SQLite store), one server in its own child
 * process, driven by raw `ws` clients speaking the wire protocol through src/protocol's codec.
 *
 *   1. `secrets.set_secret` and `secrets.get_secret` (64-byte values over a working set of 1,000 ids):
 *      - saturated: 8 connections, each keeping 16 requests in flight, for a bounded window: the most ops/s;
 *      - paced: the same 8 connections at a steady open-loop 20,000 ops/s (still at most 16 in flight each), latency
 *        counted from each request's intended send time: the p99 at the goal rate. (Under saturation the latency is
 *        set by Little's law, in flight / throughput, not by the server: 128 in flight at 20,000 ops/s is 6.4 ms.)
 *      - single client: one request at a time.
 *   2. The request → provide → return flow at a steady open-loop 1,000 flows/s: an agent sends
 *      `secrets.request_secret` with `refresh: true`, a person answers each `secrets.request_secret` event with
 *      `secrets.provide_secret`; latency from the flow's intended start to the agent's result. Also one flow at a time.
 *   3. Baselines measured in the same run: the raw `ws` echo round trip (bench/echo-server, as bench/run.ts runs it),
 *      and the cost of one SQLite commit (better-sqlite3, WAL, synchronous=FULL, in the same temp directory the
 *      server's store lives in): the two things every secrets op pays for. And the floor of the paced p99: the same
 *      paced load of `room.list_participants`, an op that touches neither the store nor the keyring, on the same
 *      server and connections: what this machine gives any op at that rate.
 *
 * Paced phases keep this process's core busy (the pacer yields with setImmediate between due times, so requests leave
 * on time and answers are read at once); how late requests left is reported as the send lag.
 *
 * The server is pinned to core 0 and this load generator to core 1 where taskset exists, as in bench/run.ts. Each
 * phase runs `rounds` times (2, 1 with --quick) and the table shows each figure's best round (other load on a shared
 * machine only makes figures worse); every round is in the JSON. Every loop is bounded in count and time, and every
 * phase has a hard deadline. Results: a table on stdout, progress on stderr, JSON in
 * bench/results/secrets-<timestamp>.json.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import type WebSocket from "ws";
import { mintToken } from "../src/auth/tokens.js";
import { encodeRequest, type ServerFrame } from "../src/protocol/frames.js";
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
  serverEnv,
  sleep,
} from "./lib/entry.js";
import { createPhaseRunner, fixed, int, type PhaseContext } from "./lib/phases.js";
import { killAllChildren, spawnServer, type ServerChild } from "./lib/children.js";
import { connectRoombus, onFrames, openSocket, type RoombusConnection } from "./lib/clients.js";
import { formatProfile, summarizeProfile, type ProfileSummary } from "./lib/profile.js";
import { summarize, type Summary } from "./lib/stats.js";
import { describeMachine, hasCommand, pinSelf, readCpuTimes, sampleMachineBusy, type MachineInfo } from "./lib/system.js";

// ---------------------------------------------------------------- plan

interface Plan {
  mode: "full" | "quick";
  /** Every phase runs this many times; the table shows the best round of each. */
  rounds: number;
  /** set/get: connections, and requests each keeps in flight at most. */
  connections: number;
  pipeline: number;
  /** Distinct secret ids the set/get load cycles over, and the size of each value. */
  workingSet: number;
  valueBytes: number;
  /** Timed phases (saturated, paced, flow): warm-up, then the measured window. */
  warmupMs: number;
  measureMs: number;
  /** The paced set/get rate (ops/s over all connections) and the flow rate (flows/s). */
  pacedRate: number;
  flowRate: number;
  /** Distinct urls the flows cycle over, and flows in flight at most (beyond it they wait, still timed). */
  flowUrls: number;
  flowCap: number;
  /** One-at-a-time loops: warm-up and measured requests. */
  singleWarmup: number;
  singleCount: number;
  flowSingleCount: number;
  echoWarmup: number;
  echoCount: number;
  /** SQLite commit baseline: how long to commit single-statement transactions. */
  sqliteMs: number;
}

const FULL: Plan = {
  mode: "full",
  rounds: 2,
  connections: 8,
  pipeline: 16,
  workingSet: 1_000,
  valueBytes: 64,
  warmupMs: 1_000,
  measureMs: 5_000,
  pacedRate: 20_000,
  flowRate: 1_000,
  flowUrls: 8,
  flowCap: 1_000,
  singleWarmup: 500,
  singleCount: 5_000,
  flowSingleCount: 1_000,
  echoWarmup: 1_000,
  echoCount: 10_000,
  sqliteMs: 2_000,
};

const QUICK: Plan = {
  ...FULL,
  mode: "quick",
  rounds: 1,
  warmupMs: 300,
  measureMs: 1_000,
  singleWarmup: 100,
  singleCount: 1_000,
  flowSingleCount: 200,
  echoWarmup: 200,
  echoCount: 2_000,
  sqliteMs: 500,
};

/** The goals this bench checks. */
const GOAL_OPS_PER_SECOND = 20_000;
const GOAL_OP_P99_MS = 2;
const GOAL_FLOW_P99_MS = 3;
/** A paced run that achieves less than this share of its target rate has not kept up. */
const KEPT_UP = 0.99;

/** Hard limits: a phase over its deadline fails, and its sockets are dropped. */
const LOOP_DEADLINE_MS = 60_000;
const TIMED_EXTRA_MS = 30_000;
/** How long a timed phase waits for answers still in flight after its window. */
const DRAIN_MS = 10_000;
/** The agent's request timeout in the flow phases (the server's, sent as `timeout_ms`). */
const FLOW_TIMEOUT_MS = 10_000;

const OPS_ROOM = "bench-secrets";
const FLOW_ROOM = "bench-flow";

const PHASES = ["baseline", "single", "saturated", "paced", "flow"] as const;
type PhaseName = (typeof PHASES)[number];

const USAGE = `usage: node dist/bench/secrets.js [options]
  --quick           a smoke run: 1 round, 0.3 s warm-up + 1 s windows, fewer one-at-a-time requests
  --rounds=N        run every phase N times and show each figure's best round (default 2; 1 with --quick)
  --only=PHASES     a comma-separated subset of ${PHASES.join(",")}
  --profile         CPU-profile the server during each measured window of the first round (the figures then carry
                    the profiler's overhead); profiles and summaries go to bench/results/secrets-<timestamp>/
  --server=PATH     run this server script instead of dist/bench/roombus-server.js (to compare a variant under the
                    same load); it must start roombus from the environment and speak bench/lib/child-ipc. Counters
                    it reports as child-ipc extra are kept per window in the JSON
`;

interface Args {
  plan: Plan;
  profile: boolean;
  only: Set<PhaseName>;
  /** The server script to run instead of dist/bench/roombus-server.js. */
  server: string | undefined;
}

function parseArgs(argv: string[]): Args {
  let plan = FULL;
  let rounds: number | undefined;
  let profile = false;
  let only = new Set<PhaseName>(PHASES);
  let server: string | undefined;
  for (const arg of argv) {
    if (arg === "--quick") plan = QUICK;
    else if (arg.startsWith("--server=")) server = resolve(arg.slice("--server=".length));
    else if (arg === "--profile") profile = true;
    else if (arg.startsWith("--rounds=")) rounds = intArg(arg, "--rounds=", 1, 20);
    else if (arg.startsWith("--only=")) only = namesArg(arg, "--only=", PHASES, "phase");
    else if (arg === "--help" || arg === "-h") printUsage(USAGE);
    else throw new UsageError(`unknown argument "${arg}"`);
  }
  return { plan: { ...plan, rounds: rounds ?? plan.rounds }, profile, only, server };
}

// ---------------------------------------------------------------- output

const log = createLog("bench-secrets");

/** A duration in ms, shown in µs below 1 ms. */
const dur = (ms: number | undefined): string =>
  ms === undefined || !Number.isFinite(ms) ? "n/a" : ms < 1 ? `${Math.round(ms * 1000)} µs` : `${ms.toFixed(2)} ms`;

// ---------------------------------------------------------------- phases

const phases = createPhaseRunner(log);
const failures = phases.failures;
const runPhase = phases.run;

/** Where the CPU went during a measured window, in percent of one core. */
interface CpuShare {
  seconds: number;
  serverCpuMicros: number;
  /** Of it, in the kernel (syscalls: socket writes, fsync) and in user space (JS, SQLite, OpenSSL). */
  serverSystemMicros: number;
  serverUserMicros: number;
  serverCpuPercent: number;
  loadGeneratorCpuPercent: number;
  /** Everything else on the machine (other processes, the kernel's softirqs). */
  otherCpuPercent: number | undefined;
  /** What the server's own counters (child-ipc `extra`) grew by in the window, when it reports any. */
  serverCounters?: Record<string, number>;
}

async function startCpuMeter(child: ServerChild | undefined): Promise<() => Promise<CpuShare>> {
  const serverBefore = child === undefined ? undefined : await child.stats();
  const selfBefore = process.cpuUsage();
  const machineBefore = readCpuTimes();
  const t0 = performance.now();
  return async () => {
    const seconds = (performance.now() - t0) / 1000;
    const self = process.cpuUsage(selfBefore);
    const machineAfter = readCpuTimes();
    const serverAfter = child === undefined ? undefined : await child.stats();
    const serverUserMicros = serverBefore === undefined || serverAfter === undefined ? 0 : serverAfter.cpuUser - serverBefore.cpuUser;
    const serverSystemMicros =
      serverBefore === undefined || serverAfter === undefined ? 0 : serverAfter.cpuSystem - serverBefore.cpuSystem;
    const serverCpuMicros = serverUserMicros + serverSystemMicros;
    const serverCpuPercent = serverCpuMicros / 10_000 / seconds;
    const loadGeneratorCpuPercent = (self.user + self.system) / 10_000 / seconds;
    // /proc/stat counts jiffies of 10 ms: jiffies per second is already percent of one core.
    const busy =
      machineBefore === undefined || machineAfter === undefined ? undefined : (machineAfter.busy - machineBefore.busy) / seconds;
    const counters: Record<string, number> = {};
    for (const [name, value] of Object.entries(serverAfter?.extra ?? {})) counters[name] = value - (serverBefore?.extra[name] ?? 0);
    return {
      seconds,
      serverCpuMicros,
      serverSystemMicros,
      serverUserMicros,
      serverCpuPercent,
      loadGeneratorCpuPercent,
      otherCpuPercent: busy === undefined ? undefined : Math.max(0, busy - serverCpuPercent - loadGeneratorCpuPercent),
      ...(Object.keys(counters).length > 0 ? { serverCounters: counters } : {}),
    };
  };
}

/** Load from elsewhere (other processes on a shared machine) above this, in percent of one core, is worth waiting out. */
const QUIET_THRESHOLD_PERCENT = 25;

/** Waits (boundedly) until the rest of the machine is quiet; the servers and this process are idle between phases. */
async function waitForQuiet(plan: Plan): Promise<void> {
  const limitMs = plan.mode === "quick" ? 2_000 : 5_000;
  const until = performance.now() + limitMs;
  let busy = await sampleMachineBusy(250);
  if (busy === undefined || busy < QUIET_THRESHOLD_PERCENT) return;
  log(`the machine is busy with other work (${fixed(busy, 0)}% of a core); waiting up to ${limitMs / 1000} s`);
  while (busy !== undefined && busy >= QUIET_THRESHOLD_PERCENT && performance.now() < until) {
    busy = await sampleMachineBusy(500);
  }
  if (busy !== undefined && busy >= QUIET_THRESHOLD_PERCENT) log(`still busy (${fixed(busy, 0)}%); measuring anyway`);
}

/** Something to run around the measured window only (a CPU profile). */
interface WindowHooks {
  start(): Promise<void>;
  stop(): Promise<void>;
}

function failOnError(frame: ServerFrame, who: string, fail: (error: Error) => void): boolean {
  if (frame.t === "res" && !frame.ok) {
    fail(new Error(`${who}: answered ${frame.error.code} ${frame.error.name}: ${frame.error.message}`));
    return true;
  }
  return false;
}

// ---- one at a time

/** Latency samples in ms, with the server CPU used meanwhile. */
interface LoopResult {
  latency: Summary;
  cpu: CpuShare;
  serverCpuMicrosPerOp: number;
  /** Of it, in the kernel. */
  serverSystemMicrosPerOp: number;
}

/**
 * A closed loop: one request out, wait for its answer, repeat `warmup + count` times. `start` wires the socket(s) and
 * returns the function that sends the next request; it calls `onAnswer` once per answer.
 */
async function closedLoop(
  ctx: PhaseContext,
  name: string,
  child: ServerChild | undefined,
  warmup: number,
  count: number,
  start: (onAnswer: () => void, fail: (error: Error) => void) => () => void,
  hooks?: WindowHooks,
): Promise<LoopResult> {
  const samples = new Float64Array(count);
  let stopMeter: (() => Promise<CpuShare>) | undefined;
  let done = 0;
  await new Promise<void>((resolvePromise, reject) => {
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
    /** The measured part starts: the profiler (if any) and the server's CPU time first, outside any sample. */
    const beginMeasured = (): void => {
      Promise.resolve(hooks?.start())
        .then(() => startCpuMeter(child))
        .then((stop) => {
          stopMeter = stop;
          sendTimed();
        }, fail);
    };
    sendOne = start(() => {
      if (finished) return;
      const elapsed = performance.now() - sentAt;
      if (done >= warmup) samples[done - warmup] = elapsed;
      done++;
      if (done === warmup + count) {
        finished = true;
        resolvePromise();
      } else if (ctx.signal.aborted) {
        fail(new Error("aborted"));
      } else if (done === warmup) {
        beginMeasured();
      } else {
        sendTimed();
      }
    }, fail);
    ctx.every(1000, () => log(`${name}: ${int(Math.max(0, done - warmup))}/${int(count)} (warm-up ${int(warmup)})`));
    if (warmup > 0) sendTimed();
    else beginMeasured();
  });
  const cpu = await stopMeter!();
  await hooks?.stop();
  return {
    latency: summarize(samples),
    cpu,
    serverCpuMicrosPerOp: cpu.serverCpuMicros / count,
    serverSystemMicrosPerOp: cpu.serverSystemMicros / count,
  };
}

// ---- many at a time

type LoadShape =
  /** Every connection keeps `depth` requests in flight for the whole window. */
  | { kind: "saturated"; depth: number }
  /** Requests are due at a steady `rate` (over all connections, round robin); a connection with `cap` in flight holds
   * later requests back until an answer frees a slot. Latency counts from the due time, so a stall cannot hide. */
  | { kind: "paced"; rate: number; cap: number };

interface LoadSpec {
  op: string;
  /** The args of the n-th request (n from 0). */
  args(n: number): object;
  /** Undefined when the result is as it should be; else what is wrong. */
  check(result: unknown): string | undefined;
}

interface LoadResult {
  shape: LoadShape;
  connections: number;
  /** Answers received during the measured window, per second. */
  rate: number;
  /** Paced: the target rate. */
  targetRate: number | undefined;
  /** Requests due (paced) or sent (saturated) during the measured window; their latencies are the samples. */
  measured: number;
  /** Of those, answered before the drain deadline; the rest count with the latency they had reached by then. */
  answered: number;
  /** ms: from due time (paced) or send (saturated) to the answer. */
  latency: Summary;
  /** Paced: how long after its due time each request went out (connection at its cap, or this process behind), ms. */
  sendLag: Summary | undefined;
  /** Answers in each whole second of the measured window. */
  perSecond: number[];
  cpu: CpuShare;
  serverCpuMicrosPerOp: number;
  /** Of it, in the kernel. */
  serverSystemMicrosPerOp: number;
}

interface Pending {
  due: number;
  sent: number;
}

interface Slot {
  ws: WebSocket;
  nextId: number;
  pending: Map<number, Pending>;
  /** Paced: due times of requests held back by the cap, oldest first (from `head`). */
  backlog: number[];
  head: number;
}

/**
 * Drives `sockets` with requests of `spec` in the given shape for warm-up + measured window, then waits (boundedly)
 * for what is still in flight. `failure` may be shared with other handlers of the phase (the flow's answerer).
 */
async function drive(
  ctx: PhaseContext,
  name: string,
  plan: Plan,
  child: ServerChild,
  sockets: WebSocket[],
  spec: LoadSpec,
  shape: LoadShape,
  failure: { error?: Error },
  hooks: WindowHooks | undefined,
): Promise<LoadResult> {
  const fail = (error: Error): void => {
    failure.error ??= error;
  };
  const throwIfFailed = (): void => {
    if (failure.error !== undefined) throw failure.error;
  };
  const t0 = performance.now();
  const windowStart = t0 + plan.warmupMs;
  const windowEnd = windowStart + plan.measureMs;
  const inWindow = (t: number): boolean => t >= windowStart && t < windowEnd;
  const latencies: number[] = [];
  const lags: number[] = [];
  let issued = 0;
  let received = 0;
  let receivedInWindow = 0;
  let measured = 0;
  let answered = 0;
  let outstanding = 0;

  const slots: Slot[] = sockets.map((ws) => ({ ws, nextId: 0, pending: new Map(), backlog: [], head: 0 }));
  const send = (slot: Slot, due: number): void => {
    const id = ++slot.nextId;
    const now = performance.now();
    slot.pending.set(id, { due, sent: now });
    if (inWindow(due)) measured++;
    outstanding++;
    slot.ws.send(encodeRequest(id, spec.op, spec.args(issued++)));
  };
  const backlogged = (slot: Slot): number => slot.backlog.length - slot.head;

  for (const slot of slots) {
    onFrames(
      slot.ws,
      (frame) => {
        if (frame.t !== "res") return; // room events (participant.joined, ...) are not answers
        const pending = slot.pending.get(frame.id);
        if (pending === undefined) {
          fail(new Error(`${name}: an answer to request ${frame.id}, which is not in flight`));
          return;
        }
        slot.pending.delete(frame.id);
        outstanding--;
        received++;
        const now = performance.now();
        if (failOnError(frame, `${name}: ${spec.op}`, fail)) return;
        if (frame.ok) {
          const problem = spec.check(frame.result);
          if (problem !== undefined) {
            fail(new Error(`${name}: ${spec.op}: ${problem}`));
            return;
          }
        }
        if (inWindow(now)) receivedInWindow++;
        if (inWindow(pending.due)) {
          answered++;
          latencies.push(now - pending.due);
          if (shape.kind === "paced") lags.push(pending.sent - pending.due);
        }
        if (failure.error !== undefined || ctx.signal.aborted) return;
        if (shape.kind === "saturated") {
          if (now < windowEnd) send(slot, now);
        } else if (backlogged(slot) > 0) {
          send(slot, slot.backlog[slot.head++]!);
          if (slot.head === slot.backlog.length) {
            slot.backlog = [];
            slot.head = 0;
          }
        }
      },
      fail,
    );
  }

  if (shape.kind === "saturated") {
    for (const slot of slots) for (let i = 0; i < shape.depth; i++) send(slot, performance.now());
  } else {
    // The pacer: every request due by now goes out (or into its connection's backlog). Between due times it yields
    // with setImmediate, so sends leave within a loop turn of their due time, and answers are read as they arrive.
    const interval = 1000 / shape.rate;
    let k = 0;
    const tick = (): void => {
      if (failure.error !== undefined || ctx.signal.aborted) return;
      const now = performance.now();
      for (;;) {
        const due = t0 + k * interval;
        if (due >= windowEnd) return;
        if (due > now) break;
        const slot = slots[k % slots.length]!;
        k++;
        if (backlogged(slot) === 0 && slot.pending.size < shape.cap) send(slot, due);
        else slot.backlog.push(due);
      }
      const wait = t0 + k * interval - performance.now();
      if (wait > 2) setTimeout(tick, wait - 1);
      else setImmediate(tick);
    };
    tick();
  }

  const perSecond: number[] = [];
  let lastReceived = 0;
  ctx.every(1000, () => {
    const now = performance.now();
    if (now > windowStart && now <= windowEnd + 500) perSecond.push(received - lastReceived);
    const backlog = slots.reduce((sum, slot) => sum + backlogged(slot), 0);
    log(`${name}: ${int(received - lastReceived)} answers/s, ${int(outstanding)} in flight, ${int(backlog)} held back`);
    lastReceived = received;
  });

  await sleep(windowStart - performance.now());
  throwIfFailed();
  await hooks?.start();
  const stopMeter = await startCpuMeter(child);
  await sleep(windowEnd - performance.now());
  const cpu = await stopMeter();
  await hooks?.stop();
  throwIfFailed();

  // Let what is in flight (and held back) land: a paced request counts from its due time whenever it is answered.
  const drainUntil = performance.now() + DRAIN_MS;
  const left = (): number => outstanding + slots.reduce((sum, slot) => sum + backlogged(slot), 0);
  while (left() > 0 && performance.now() < drainUntil && failure.error === undefined && !ctx.signal.aborted) await sleep(5);
  throwIfFailed();
  if (answered < measured) {
    // Still unanswered: each counts with the latency it has reached, a lower bound.
    const now = performance.now();
    log(`${name}: ${int(measured - answered)} measured requests still unanswered after ${DRAIN_MS / 1000} s`);
    for (const slot of slots) {
      for (const pending of slot.pending.values()) if (inWindow(pending.due)) latencies.push(now - pending.due);
      for (let i = slot.head; i < slot.backlog.length; i++) if (inWindow(slot.backlog[i]!)) latencies.push(now - slot.backlog[i]!);
    }
  }
  const windowSeconds = plan.measureMs / 1000;
  /** Answers during the metered time (which is the measured window give or take an IPC round trip). */
  const opsMetered = cpu.seconds * (receivedInWindow / windowSeconds);
  return {
    shape,
    connections: sockets.length,
    rate: receivedInWindow / windowSeconds,
    targetRate: shape.kind === "paced" ? shape.rate : undefined,
    measured,
    answered,
    latency: summarize(latencies),
    sendLag: shape.kind === "paced" ? summarize(lags) : undefined,
    perSecond,
    cpu,
    serverCpuMicrosPerOp: opsMetered > 0 ? cpu.serverCpuMicros / opsMetered : NaN,
    serverSystemMicrosPerOp: opsMetered > 0 ? cpu.serverSystemMicros / opsMetered : NaN,
  };
}

// ---- set_secret / get_secret

interface Fixture {
  /** One value per secret id. */
  values: Buffer[];
  ownerToken: string;
  agentToken: string;
  personToken: string;
  flowValue: Buffer;
}

const secretId = (plan: Plan, n: number): string => `bench-${(n * 7919) % plan.workingSet}`;

function setSpec(plan: Plan, fixture: Fixture): LoadSpec {
  return {
    op: "secrets.set_secret",
    args: (n) => {
      const index = (n * 7919) % plan.workingSet;
      return { secret_id: `bench-${index}`, data: fixture.values[index]! };
    },
    check: (result) => {
      const r = result as { id?: unknown; version?: unknown } | null;
      return typeof r?.id === "string" && typeof r.version === "number" ? undefined : "the result is not {id, version}";
    },
  };
}

/** The paced floor: an op on the same path (socket, codec, dispatch, metrics) with no store and no crypto. */
function floorSpec(plan: Plan): LoadSpec {
  return {
    op: "room.list_participants",
    args: () => ({}),
    check: (result) => {
      const r = result as { participants?: unknown } | null;
      return Array.isArray(r?.participants) && r.participants.length >= plan.connections
        ? undefined
        : "the result does not list the load's connections";
    },
  };
}

function getSpec(plan: Plan): LoadSpec {
  return {
    op: "secrets.get_secret",
    args: (n) => ({ secret_id: secretId(plan, n) }),
    check: (result) => {
      const r = result as { data?: unknown } | null;
      if (r === null) return "null: the secret is not there (the prefill did not store it?)";
      return r.data instanceof Uint8Array && r.data.byteLength === plan.valueBytes
        ? undefined
        : `the result's data is not ${plan.valueBytes} bytes`;
    },
  };
}

function opsUrl(port: number): string {
  return `ws://127.0.0.1:${port}/rooms/${OPS_ROOM}`;
}

async function connectMany(ctx: PhaseContext, port: number, token: string, count: number): Promise<WebSocket[]> {
  const sockets: WebSocket[] = [];
  for (let i = 0; i < count; i++) sockets.push((await connectRoombus(opsUrl(port), token, ctx.sockets)).ws);
  return sockets;
}

/** Stores every id of the working set once, so every get finds its secret. */
async function prefill(ctx: PhaseContext, plan: Plan, port: number, fixture: Fixture): Promise<void> {
  const [ws] = await connectMany(ctx, port, fixture.ownerToken, 1);
  await new Promise<void>((resolvePromise, reject) => {
    let next = 0;
    let done = 0;
    const window = 32;
    const sendNext = (): void => {
      const index = next++;
      ws!.send(encodeRequest(index + 1, "secrets.set_secret", { secret_id: `bench-${index}`, data: fixture.values[index]! }));
    };
    onFrames(
      ws!,
      (frame) => {
        if (frame.t !== "res") return;
        if (failOnError(frame, "prefill set_secret", reject)) return;
        done++;
        if (done === plan.workingSet) resolvePromise();
        else if (next < plan.workingSet) sendNext();
      },
      reject,
    );
    for (let i = 0; i < Math.min(window, plan.workingSet); i++) sendNext();
  });
}

async function singleOp(
  ctx: PhaseContext,
  name: string,
  port: number,
  child: ServerChild,
  plan: Plan,
  fixture: Fixture,
  spec: LoadSpec,
  hooks: WindowHooks | undefined,
): Promise<LoopResult> {
  const [ws] = await connectMany(ctx, port, fixture.ownerToken, 1);
  let ids = 0;
  const loop = closedLoop(ctx, name, child, plan.singleWarmup, plan.singleCount, (onAnswer, fail) => {
    onFrames(
      ws!,
      (frame) => {
        if (frame.t !== "res") return;
        if (failOnError(frame, `${name}: ${spec.op}`, fail)) return;
        const problem = frame.ok ? spec.check(frame.result) : undefined;
        if (problem !== undefined) fail(new Error(`${name}: ${spec.op}: ${problem}`));
        else onAnswer();
      },
      fail,
    );
    return () => ws!.send(encodeRequest(++ids, spec.op, spec.args(ids)));
  }, hooks);
  return loop;
}

async function manyOps(
  ctx: PhaseContext,
  name: string,
  port: number,
  child: ServerChild,
  plan: Plan,
  fixture: Fixture,
  spec: LoadSpec,
  shape: LoadShape,
  hooks: WindowHooks | undefined,
): Promise<LoadResult> {
  const sockets = await connectMany(ctx, port, fixture.ownerToken, plan.connections);
  return drive(ctx, name, plan, child, sockets, spec, shape, {}, hooks);
}

// ---- request → provide → return

interface FlowPair {
  agent: RoombusConnection;
  person: RoombusConnection;
}

async function connectFlow(ctx: PhaseContext, port: number, fixture: Fixture): Promise<FlowPair> {
  const url = `ws://127.0.0.1:${port}/rooms/${FLOW_ROOM}`;
  const person = await connectRoombus(url, fixture.personToken, ctx.sockets);
  const agent = await connectRoombus(url, fixture.agentToken, ctx.sockets);
  return { agent, person };
}

/** The person: answers every `secrets.request_secret` event with `secrets.provide_secret`, at once. */
function answerRequests(person: RoombusConnection, value: Buffer, fail: (error: Error) => void): void {
  let ids = 0;
  onFrames(
    person.ws,
    (frame) => {
      if (frame.t === "evt" && frame.ev === "secrets.request_secret") {
        person.ws.send(encodeRequest(++ids, "secrets.provide_secret", { request_id: frame.data.request_id as string, data: value }));
      } else failOnError(frame, "person: secrets.provide_secret", fail);
    },
    fail,
  );
}

function flowSpec(plan: Plan, fixture: Fixture, person: RoombusConnection): LoadSpec {
  return {
    op: "secrets.request_secret",
    args: (n) => ({
      participant_id: person.participantId,
      url: `https://bench-${n % plan.flowUrls}.example/token`,
      refresh: true,
      timeout_ms: FLOW_TIMEOUT_MS,
    }),
    check: (result) => {
      const r = result as { data?: unknown } | null;
      return r?.data instanceof Uint8Array && Buffer.from(r.data).equals(fixture.flowValue)
        ? undefined
        : "the result's data is not the value the person provided";
    },
  };
}

async function flowSingle(
  ctx: PhaseContext,
  port: number,
  child: ServerChild,
  plan: Plan,
  fixture: Fixture,
  hooks: WindowHooks | undefined,
): Promise<LoopResult> {
  const { agent, person } = await connectFlow(ctx, port, fixture);
  const spec = flowSpec(plan, fixture, person);
  let ids = 0;
  return closedLoop(ctx, "flow one at a time", child, Math.min(plan.singleWarmup, 200), plan.flowSingleCount, (onAnswer, fail) => {
    answerRequests(person, fixture.flowValue, fail);
    onFrames(
      agent.ws,
      (frame) => {
        if (frame.t !== "res") return;
        if (failOnError(frame, "agent: secrets.request_secret", fail)) return;
        const problem = frame.ok ? spec.check(frame.result) : undefined;
        if (problem !== undefined) fail(new Error(`agent: ${problem}`));
        else onAnswer();
      },
      fail,
    );
    return () => agent.ws.send(encodeRequest(++ids, spec.op, spec.args(ids)));
  }, hooks);
}

async function flowPaced(
  ctx: PhaseContext,
  port: number,
  child: ServerChild,
  plan: Plan,
  fixture: Fixture,
  hooks: WindowHooks | undefined,
): Promise<LoadResult> {
  const { agent, person } = await connectFlow(ctx, port, fixture);
  const failure: { error?: Error } = {};
  answerRequests(person, fixture.flowValue, (error) => void (failure.error ??= error));
  return drive(
    ctx,
    "flow paced",
    plan,
    child,
    [agent.ws],
    flowSpec(plan, fixture, person),
    { kind: "paced", rate: plan.flowRate, cap: plan.flowCap },
    failure,
    hooks,
  );
}

// ---- baselines

async function echoLatency(ctx: PhaseContext, url: string, plan: Plan, echo: ServerChild, payload: Buffer): Promise<LoopResult> {
  const ws = await openSocket(url, ctx.sockets);
  return closedLoop(ctx, "ws echo", echo, plan.echoWarmup, plan.echoCount, (onAnswer) => {
    ws.on("message", onAnswer);
    return () => ws.send(payload);
  });
}

interface SqliteResult {
  /** Single-statement transactions (one INSERT of a 64-byte blob each) committed per second. */
  commitsPerSecond: number;
  commits: number;
  /** ms per commit. */
  latency: Summary;
  journalMode: string;
  synchronous: number;
}

/**
 * The cost of one durable commit: INSERTs of a `valueBytes` blob, one per transaction, into a fresh database in WAL
 * mode with synchronous=FULL, in the directory where the server's store lives (so the same file system and disk).
 * Runs in this process (the servers are idle meanwhile); bounded by `plan.sqliteMs` and a count.
 */
async function sqliteCommits(plan: Plan): Promise<SqliteResult> {
  const dir = mkdtempSync(join(tmpdir(), "roombus-bench-sqlite-"));
  try {
    const db = new Database(join(dir, "commit.db"));
    try {
      const journalMode = String(db.pragma("journal_mode = WAL", { simple: true }));
      db.pragma("synchronous = FULL");
      const synchronous = Number(db.pragma("synchronous", { simple: true }));
      db.exec("CREATE TABLE t (seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, value BLOB NOT NULL)");
      const insert = db.prepare("INSERT INTO t (at, value) VALUES (?, ?)");
      const value = randomBytes(plan.valueBytes);
      const maxCommits = 1_000_000;
      // A few warm-up commits (page cache, WAL file growth), then the measured loop in slices of 50 ms, so this
      // process's timers (the phase deadline, progress) still run.
      for (let i = 0; i < 100; i++) insert.run(Date.now(), value);
      const samples: number[] = [];
      const t0 = performance.now();
      while (performance.now() - t0 < plan.sqliteMs && samples.length < maxCommits) {
        const sliceEnd = Math.min(performance.now() + 50, t0 + plan.sqliteMs);
        while (performance.now() < sliceEnd && samples.length < maxCommits) {
          const started = performance.now();
          insert.run(Date.now(), value); // autocommit: one statement, one transaction, one WAL fsync
          samples.push(performance.now() - started);
        }
        await new Promise((resolveTurn) => setImmediate(resolveTurn));
      }
      const seconds = (performance.now() - t0) / 1000;
      return { commitsPerSecond: samples.length / seconds, commits: samples.length, latency: summarize(samples), journalMode, synchronous };
    } finally {
      db.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- results

interface Round {
  round: number;
  echo?: LoopResult;
  sqlite?: SqliteResult;
  setSingle?: LoopResult;
  getSingle?: LoopResult;
  setSaturated?: LoadResult;
  getSaturated?: LoadResult;
  setPaced?: LoadResult;
  getPaced?: LoadResult;
  /** The paced floor (floorSpec). */
  floorPaced?: LoadResult;
  flowSingle?: LoopResult;
  flowPaced?: LoadResult;
}

type Best = Omit<Round, "round">;

interface Goal {
  name: string;
  measured: number;
  limit: number;
  met: boolean;
}

interface Results {
  startedAt: string;
  commit: string | undefined;
  plan: Plan;
  machine: MachineInfo & { pinned: boolean; dataDir: string };
  /** The server script measured. */
  serverScript: string;
  /** Bytes of one set_secret request frame; the echo baseline sends frames of this size. */
  echoPayloadBytes: number;
  /** Each figure's best round (see pickBest); every round is in `rounds`. */
  best: Best;
  rounds: Round[];
  goals: Goal[];
  /** With --profile: one CPU profile summary per profiled window. */
  profiles: Record<string, ProfileSummary>;
  failures: { phase: string; error: string }[];
}

const quiet = (cpu: CpuShare): boolean => (cpu.otherCpuPercent ?? 0) < QUIET_THRESHOLD_PERCENT;

/** Lowest of `key` among the rounds where the rest of the machine was quiet (all rounds when none was). */
function lowest<T extends { cpu: CpuShare }>(list: (T | undefined)[], key: (item: T) => number): T | undefined {
  const present = list.filter((item): item is T => item !== undefined);
  const calm = present.filter((item) => quiet(item.cpu));
  return [...(calm.length > 0 ? calm : present)].sort((a, b) => key(a) - key(b))[0];
}

/**
 * Each figure's best round. Load from elsewhere on the machine only makes figures worse, so the best round is the
 * closest to what the server can do: the highest rate for saturated runs and the SQLite baseline, the lowest p99 for
 * paced runs and the lowest p50 for one-at-a-time loops among rounds where the rest of the machine was quiet.
 */
function pickBest(rounds: Round[]): Best {
  const highest = <T>(list: (T | undefined)[], key: (item: T) => number): T | undefined =>
    list.filter((item): item is T => item !== undefined).sort((a, b) => key(b) - key(a))[0];
  const best: Best = {};
  const assign = <K extends keyof Best>(key: K, value: Best[K] | undefined): void => {
    if (value !== undefined) best[key] = value;
  };
  assign("echo", lowest(rounds.map((r) => r.echo), (r) => r.latency.p50));
  assign("sqlite", highest(rounds.map((r) => r.sqlite), (r) => r.commitsPerSecond));
  assign("setSingle", lowest(rounds.map((r) => r.setSingle), (r) => r.latency.p50));
  assign("getSingle", lowest(rounds.map((r) => r.getSingle), (r) => r.latency.p50));
  assign("flowSingle", lowest(rounds.map((r) => r.flowSingle), (r) => r.latency.p50));
  assign("setSaturated", highest(rounds.map((r) => r.setSaturated), (r) => r.rate));
  assign("getSaturated", highest(rounds.map((r) => r.getSaturated), (r) => r.rate));
  assign("setPaced", lowest(rounds.map((r) => r.setPaced), (r) => r.latency.p99));
  assign("getPaced", lowest(rounds.map((r) => r.getPaced), (r) => r.latency.p99));
  assign("floorPaced", lowest(rounds.map((r) => r.floorPaced), (r) => r.latency.p99));
  assign("flowPaced", lowest(rounds.map((r) => r.flowPaced), (r) => r.latency.p99));
  return best;
}

function judge(best: Best, plan: Plan): Goal[] {
  const goals: Goal[] = [];
  for (const [op, saturated, paced] of [
    ["set_secret", best.setSaturated, best.setPaced],
    ["get_secret", best.getSaturated, best.getPaced],
  ] as const) {
    if (saturated !== undefined) {
      goals.push({
        name: `${op} throughput (${plan.connections} conns × ${plan.pipeline} in flight) ≥ ${GOAL_OPS_PER_SECOND} ops/s`,
        measured: saturated.rate,
        limit: GOAL_OPS_PER_SECOND,
        met: saturated.rate >= GOAL_OPS_PER_SECOND,
      });
    }
    if (paced !== undefined) {
      const keptUp = paced.rate >= KEPT_UP * plan.pacedRate;
      goals.push({
        name: `${op} p99 at ${plan.pacedRate} ops/s ≤ ${GOAL_OP_P99_MS} ms (and the rate kept up)`,
        measured: paced.latency.p99,
        limit: GOAL_OP_P99_MS,
        met: paced.latency.p99 <= GOAL_OP_P99_MS && keptUp,
      });
    }
  }
  if (best.flowPaced !== undefined) {
    const flow = best.flowPaced;
    goals.push({
      name: `request → provide → return p99 at ${plan.flowRate} flows/s ≤ ${GOAL_FLOW_P99_MS} ms (and the rate kept up)`,
      measured: flow.latency.p99,
      limit: GOAL_FLOW_P99_MS,
      met: flow.latency.p99 <= GOAL_FLOW_P99_MS && flow.rate >= KEPT_UP * plan.flowRate,
    });
  }
  return goals;
}

function formatTable(results: Results): string {
  const { best, plan } = results;
  const verdict = (prefix: string): string => {
    const goal = results.goals.find((g) => g.name.startsWith(prefix));
    return goal === undefined ? "n/a" : goal.met ? "**met**" : "**missed**";
  };
  const rate = (value: number | undefined, unit = "ops/s"): string => (value === undefined ? "n/a" : `${int(value)} ${unit}`);
  const pct = (s: Summary | undefined, three = false): string =>
    s === undefined ? "n/a" : `${dur(s.p50)} / ${dur(s.p99)}${three ? ` / ${dur(s.p999)}` : ""}`;
  const cpuPerOp = (value: number | undefined): string => (value === undefined || !Number.isFinite(value) ? "n/a" : `${fixed(value)} µs`);
  const cpuSplit = (r: { serverCpuMicrosPerOp: number; serverSystemMicrosPerOp: number } | undefined): string =>
    r === undefined ? "n/a" : `${cpuPerOp(r.serverCpuMicrosPerOp)} (kernel ${cpuPerOp(r.serverSystemMicrosPerOp)})`;
  const percent = (value: number | undefined): string => (value === undefined ? "?" : `${fixed(value, 0)}%`);
  const cpu = (c: CpuShare | undefined): string =>
    c === undefined ? "n/a" : `${percent(c.serverCpuPercent)} / ${percent(c.loadGeneratorCpuPercent)} / ${percent(c.otherCpuPercent)}`;
  const inFlight = plan.connections * plan.pipeline;

  const rows: string[][] = [["figure", "measured", "goal", "met"]];
  for (const [op, single, saturated, paced] of [
    ["set_secret", best.setSingle, best.setSaturated, best.setPaced],
    ["get_secret", best.getSingle, best.getSaturated, best.getPaced],
  ] as const) {
    rows.push(
      [`${op}: throughput, ${plan.connections} conns × ${plan.pipeline} in flight`, rate(saturated?.rate), `≥ ${int(GOAL_OPS_PER_SECOND)} ops/s`, verdict(`${op} throughput`)],
      [`  latency p50 / p99 at that load (${inFlight} in flight)`, pct(saturated?.latency), "", ""],
      [`  server CPU per op / CPU server, load gen, other`, `${cpuSplit(saturated)} / ${cpu(saturated?.cpu)}`, "", ""],
      [
        `${op}: paced ${int(plan.pacedRate)} ops/s, p50 / p99 / p99.9 from due time`,
        pct(paced?.latency, true),
        `p99 ≤ ${GOAL_OP_P99_MS} ms`,
        verdict(`${op} p99`),
      ],
      [`  achieved rate / send lag p99`, `${rate(paced?.rate)} / ${dur(paced?.sendLag?.p99)}`, `≥ ${int(KEPT_UP * plan.pacedRate)} ops/s`, ""],
      [`${op}: one at a time, p50 / p99`, pct(single?.latency), "", ""],
      [`  server CPU per op (one at a time)`, cpuSplit(single), "", ""],
    );
  }
  const flow = best.flowPaced;
  rows.push(
    [
      `request → provide → return at ${int(plan.flowRate)}/s: p50 / p99 / p99.9`,
      pct(flow?.latency, true),
      `p99 ≤ ${GOAL_FLOW_P99_MS} ms`,
      verdict("request → provide"),
    ],
    [`  achieved rate / send lag p99`, `${rate(flow?.rate, "flows/s")} / ${dur(flow?.sendLag?.p99)}`, `≥ ${int(KEPT_UP * plan.flowRate)} flows/s`, ""],
    [`  server CPU per flow / CPU server, load gen, other`, `${cpuSplit(flow)} / ${cpu(flow?.cpu)}`, "", ""],
    [`request → provide → return, one at a time: p50 / p99`, pct(best.flowSingle?.latency), "", ""],
    [`baseline: raw ws echo round trip p50 / p99 (${results.echoPayloadBytes} B)`, pct(best.echo?.latency), "", ""],
    [
      `baseline: room.list_participants (no store, no crypto) paced ${int(plan.pacedRate)}/s, p50 / p99 / p99.9`,
      pct(best.floorPaced?.latency, true),
      "",
      "",
    ],
    [`  server CPU per op / CPU server, load gen, other`, `${cpuSplit(best.floorPaced)} / ${cpu(best.floorPaced?.cpu)}`, "", ""],
    [
      `baseline: SQLite commit (WAL, synchronous=FULL), 1 INSERT per tx`,
      best.sqlite === undefined ? "n/a" : `${int(best.sqlite.commitsPerSecond)} tx/s, p50 / p99 ${pct(best.sqlite.latency)}`,
      "",
      "",
    ],
  );
  const widths = rows[0]!.map((_cell, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const line = (row: string[]): string => `| ${row.map((cell, column) => cell.padEnd(widths[column]!)).join(" | ")} |`;
  const table = [line(rows[0]!), `|${widths.map((width) => "-".repeat(width + 2)).join("|")}|`, ...rows.slice(1).map(line)];

  // Where the time of one request goes, one at a time: the network round trip and the commits it waits for.
  const notes: string[] = [];
  const echoP50 = best.echo?.latency.p50;
  const commitP50 = best.sqlite?.latency.p50;
  if (echoP50 !== undefined && commitP50 !== undefined) {
    const explain = (label: string, single: LoopResult | undefined, trips: number, commits: number, what: string): void => {
      if (single === undefined) return;
      const floor = trips * echoP50 + commits * commitP50;
      notes.push(
        `${label} one at a time p50 ${dur(single.latency.p50)} = ${trips} × echo ${dur(echoP50)} + ${commits} × commit ${dur(commitP50)} ` +
          `(${what}) = ${dur(floor)}, + ${dur(single.latency.p50 - floor)} else (server CPU ${cpuSplit(single)} per op)`,
      );
    };
    explain("set_secret", best.setSingle, 1, 2, "record, then audit: two group-commit batches in a row");
    explain("get_secret", best.getSingle, 1, 1, "the audit record");
    explain("flow", best.flowSingle, 2, 4, "request row, finish, requested record, audit");
  }
  const byRound = (label: string, values: (string | undefined)[]): string =>
    `${label} by round: ${values.map((v) => v ?? "n/a").join(", ")}`;
  const other = (c: CpuShare | undefined): string => (c === undefined ? "?" : percent(c.otherCpuPercent));
  const rounds = results.rounds;
  const roundLines =
    rounds.length > 1
      ? [
          byRound("set_secret saturated", rounds.map((r) => r.setSaturated && `${int(r.setSaturated.rate)} (other CPU ${other(r.setSaturated.cpu)})`)),
          byRound("get_secret saturated", rounds.map((r) => r.getSaturated && `${int(r.getSaturated.rate)} (other CPU ${other(r.getSaturated.cpu)})`)),
          byRound("set_secret paced p99", rounds.map((r) => r.setPaced && `${dur(r.setPaced.latency.p99)} (other CPU ${other(r.setPaced.cpu)})`)),
          byRound("get_secret paced p99", rounds.map((r) => r.getPaced && `${dur(r.getPaced.latency.p99)} (other CPU ${other(r.getPaced.cpu)})`)),
          byRound("list_participants paced p99", rounds.map((r) => r.floorPaced && `${dur(r.floorPaced.latency.p99)} (other CPU ${other(r.floorPaced.cpu)})`)),
          byRound("flow paced p99", rounds.map((r) => r.flowPaced && `${dur(r.flowPaced.latency.p99)} (other CPU ${other(r.flowPaced.cpu)})`)),
        ]
      : [];
  const machine = results.machine;
  return [
    "",
    `roombus secrets bench (${plan.mode}, ${plan.rounds} round${plan.rounds === 1 ? "" : "s"}, best shown) of ${results.commit ?? "an unknown commit"}: ` +
      `${machine.cpus} cores, ${machine.cpuModel}, node ${machine.node}, ${machine.pinned ? "server on core 0, load generator on core 1" : "not pinned"}; ` +
      `embedded SQLite store in ${machine.dataDir}; ${plan.valueBytes}-byte values over ${int(plan.workingSet)} ids; ` +
      `windows of ${plan.warmupMs / 1000} s warm-up + ${plan.measureMs / 1000} s`,
    "",
    ...(results.serverScript === join(here, "roombus-server.js") ? [] : [`server script: ${results.serverScript}`, ""]),
    ...table,
    "",
    `Under saturation latency is in flight / throughput (Little's law): ${inFlight} in flight at ${int(GOAL_OPS_PER_SECOND)} ops/s is ` +
      `${dur((inFlight / GOAL_OPS_PER_SECOND) * 1000)}, so the p99 goal is judged at the paced goal rate instead.`,
    ...notes,
    ...roundLines,
    ...(plan.mode === "quick" ? ["", "quick run: a smoke test of the bench itself (1 s windows); use the full run for figures."] : []),
    ...(results.failures.length > 0 ? ["", ...results.failures.map((f) => `FAILED ${f.phase}: ${f.error}`)] : []),
  ].join("\n");
}

// ---------------------------------------------------------------- main

const here = dirname(fileURLToPath(import.meta.url));
/** dist/bench/secrets.js → the project root. */
const root = resolve(here, "../..");

const dataDirs: string[] = [];

function roombusEnv(dataDir: string): NodeJS.ProcessEnv {
  return serverEnv({
    ROOMBUS_HOST: "127.0.0.1",
    ROOMBUS_PORT: "0",
    ROOMBUS_JWT_SECRET: JWT_SECRET,
    ROOMBUS_ISSUER: ISSUER,
    ROOMBUS_AUDIENCE: AUDIENCE,
    ROOMBUS_LOG_LEVEL: "warn",
    ROOMBUS_RATE_LIMIT: "1000000",
    ROOMBUS_RATE_BURST: "1000000",
    ROOMBUS_DATA_DIR: dataDir,
  });
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const { plan } = args;
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const resultsDir = join(root, "bench", "results");
  mkdirSync(resultsDir, { recursive: true });
  const artifactDir = join(resultsDir, `secrets-${stamp}`);
  if (args.profile) mkdirSync(artifactDir, { recursive: true });

  const machine = describeMachine();
  const pinned = hasCommand("taskset") && machine.cpus >= 2 && pinSelf(LOADGEN_CPU, log);
  const spawnCommon = { cpu: pinned ? SERVER_CPU : undefined, fdLimit: FD_LIMIT, log };
  const dataDir = mkdtempSync(join(tmpdir(), "roombus-bench-secrets-"));
  dataDirs.push(dataDir);
  log(
    `${plan.mode} run, ${plan.rounds} round(s), on ${machine.cpus} cores (${machine.cpuModel}), node ${machine.node}; ` +
      (pinned ? `servers on core ${SERVER_CPU}, load generator on core ${LOADGEN_CPU}` : "not pinned") +
      `; phases ${[...args.only].join(", ")}`,
  );

  const secret = { secret: new TextEncoder().encode(JWT_SECRET), issuer: ISSUER, audience: AUDIENCE };
  const token = (identity: string, room: string): Promise<string> =>
    mintToken(secret, { identity, room, api: ["secrets"], ttlSeconds: 3600 });
  const fixture: Fixture = {
    values: Array.from({ length: plan.workingSet }, () => randomBytes(plan.valueBytes)),
    ownerToken: await token("bench-owner", OPS_ROOM),
    agentToken: await token("bench-agent", FLOW_ROOM),
    personToken: await token("bench-person", FLOW_ROOM),
    flowValue: randomBytes(plan.valueBytes),
  };
  // The echo baseline sends frames as large as a set_secret request.
  const echoPayload = encodeRequest(1, "secrets.set_secret", { secret_id: secretId(plan, 1), data: fixture.values[0]! });

  const rounds: Round[] = [];
  const results: Results = {
    startedAt: new Date().toISOString(),
    commit: describeCommit(root),
    plan,
    machine: { ...machine, pinned, dataDir },
    serverScript: args.server ?? join(here, "roombus-server.js"),
    echoPayloadBytes: echoPayload.length,
    best: {},
    rounds,
    goals: [],
    profiles: {},
    failures,
  };

  const server = await spawnServer({
    ...spawnCommon,
    name: "roombus",
    script: args.server ?? join(here, "roombus-server.js"),
    env: roombusEnv(dataDir),
  });
  const echo = args.only.has("baseline")
    ? await spawnServer({ ...spawnCommon, name: "ws-echo", script: join(here, "echo-server.js"), env: serverEnv({}) })
    : undefined;
  log(`roombus on port ${server.port} (pid ${server.pid})${echo === undefined ? "" : `, ws-echo on port ${echo.port}`}`);

  const needsPrefill = args.only.has("single") || args.only.has("saturated") || args.only.has("paced");
  if (needsPrefill) {
    await runPhase(`prefill ${int(plan.workingSet)} secrets`, LOOP_DEADLINE_MS, server, (ctx) => prefill(ctx, plan, server.port, fixture));
  }

  /** Profiles the server around the measured window (with --profile, first round only). */
  const hooksFor = (label: string, round: number): WindowHooks | undefined => {
    if (!args.profile || round !== 1) return undefined;
    const file = join(artifactDir, `${label}.cpuprofile`);
    let started = false;
    return {
      start: async () => {
        await server.startProfile();
        started = true;
      },
      stop: async () => {
        if (!started) return;
        started = false;
        await server.stopProfile(file);
        results.profiles[label] = summarizeProfile(file, 30);
        process.stderr.write(formatProfile(results.profiles[label]) + "\n");
      },
    };
  };
  /** Runs a phase with profile hooks, stopping the profiler even when the phase failed. */
  const profiledPhase = async <T>(
    name: string,
    label: string,
    round: number,
    deadlineMs: number,
    body: (ctx: PhaseContext, hooks: WindowHooks | undefined) => Promise<T>,
  ): Promise<T | undefined> => {
    const hooks = hooksFor(label, round);
    try {
      return await runPhase(name, deadlineMs, server, (ctx) => body(ctx, hooks));
    } finally {
      await hooks?.stop().catch(() => undefined);
    }
  };

  const timedDeadline = plan.warmupMs + plan.measureMs + DRAIN_MS + TIMED_EXTRA_MS;
  const set = setSpec(plan, fixture);
  const get = getSpec(plan);
  const floor = floorSpec(plan);
  const saturated: LoadShape = { kind: "saturated", depth: plan.pipeline };
  const paced: LoadShape = { kind: "paced", rate: plan.pacedRate, cap: plan.pipeline };

  for (let round = 1; round <= plan.rounds; round++) {
    const r: Round = { round };
    rounds.push(r);
    const tag = `round ${round}/${plan.rounds}`;
    const keep = <K extends keyof Round>(key: K, value: Round[K] | undefined): void => {
      if (value !== undefined) r[key] = value;
    };

    if (args.only.has("baseline") && echo !== undefined) {
      await waitForQuiet(plan);
      keep(
        "echo",
        await runPhase(`ws echo round trip ${tag}`, LOOP_DEADLINE_MS, echo, (ctx) =>
          echoLatency(ctx, `ws://127.0.0.1:${echo.port}/`, plan, echo, echoPayload),
        ),
      );
      await waitForQuiet(plan);
      keep("sqlite", await runPhase(`SQLite commit ${tag}`, LOOP_DEADLINE_MS, undefined, () => sqliteCommits(plan)));
    }
    if (args.only.has("single")) {
      await waitForQuiet(plan);
      keep(
        "setSingle",
        await profiledPhase(`set_secret one at a time ${tag}`, "set_secret-single", round, LOOP_DEADLINE_MS, (ctx, hooks) =>
          singleOp(ctx, "set_secret one at a time", server.port, server, plan, fixture, set, hooks),
        ),
      );
      await waitForQuiet(plan);
      keep(
        "getSingle",
        await profiledPhase(`get_secret one at a time ${tag}`, "get_secret-single", round, LOOP_DEADLINE_MS, (ctx, hooks) =>
          singleOp(ctx, "get_secret one at a time", server.port, server, plan, fixture, get, hooks),
        ),
      );
    }
    if (args.only.has("saturated")) {
      await waitForQuiet(plan);
      keep(
        "setSaturated",
        await profiledPhase(`set_secret saturated ${tag}`, "set_secret-saturated", round, timedDeadline, (ctx, hooks) =>
          manyOps(ctx, "set_secret saturated", server.port, server, plan, fixture, set, saturated, hooks),
        ),
      );
      await waitForQuiet(plan);
      keep(
        "getSaturated",
        await profiledPhase(`get_secret saturated ${tag}`, "get_secret-saturated", round, timedDeadline, (ctx, hooks) =>
          manyOps(ctx, "get_secret saturated", server.port, server, plan, fixture, get, saturated, hooks),
        ),
      );
    }
    if (args.only.has("paced")) {
      await waitForQuiet(plan);
      keep(
        "floorPaced",
        await profiledPhase(`list_participants paced ${tag}`, "floor-paced", round, timedDeadline, (ctx, hooks) =>
          manyOps(ctx, "list_participants paced", server.port, server, plan, fixture, floor, paced, hooks),
        ),
      );
      await waitForQuiet(plan);
      keep(
        "setPaced",
        await profiledPhase(`set_secret paced ${tag}`, "set_secret-paced", round, timedDeadline, (ctx, hooks) =>
          manyOps(ctx, "set_secret paced", server.port, server, plan, fixture, set, paced, hooks),
        ),
      );
      await waitForQuiet(plan);
      keep(
        "getPaced",
        await profiledPhase(`get_secret paced ${tag}`, "get_secret-paced", round, timedDeadline, (ctx, hooks) =>
          manyOps(ctx, "get_secret paced", server.port, server, plan, fixture, get, paced, hooks),
        ),
      );
    }
    if (args.only.has("flow")) {
      await waitForQuiet(plan);
      keep(
        "flowSingle",
        await profiledPhase(`flow one at a time ${tag}`, "flow-single", round, LOOP_DEADLINE_MS, (ctx, hooks) =>
          flowSingle(ctx, server.port, server, plan, fixture, hooks),
        ),
      );
      await waitForQuiet(plan);
      keep(
        "flowPaced",
        await profiledPhase(`flow paced ${tag}`, "flow-paced", round, timedDeadline, (ctx, hooks) =>
          flowPaced(ctx, server.port, server, plan, fixture, hooks),
        ),
      );
    }
  }
  await Promise.all([server.stop(), echo?.stop()]);

  results.best = pickBest(rounds);
  results.goals = judge(results.best, plan);
  const file = join(resultsDir, `secrets-${stamp}.json`);
  writeFileSync(file, JSON.stringify(results, null, 2) + "\n");
  process.stdout.write(formatTable(results) + "\n");
  log(`results written to ${file}`);
  if (failures.length > 0) {
    log(`${failures.length} phase(s) failed: ${failures.map((failure) => failure.phase).join(", ")}`);
    return 1;
  }
  return 0;
}

function cleanUp(): void {
  killAllChildren();
  for (const dir of dataDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

runBench(main, cleanUp, log);
