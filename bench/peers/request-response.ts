/**
 * W1 and W2: request → response between two participants. A caller sends a request to a host through the server; the
 * host answers with the request's payload; the server brings the answer back (roombus `toolkits.invoke` /
 * `toolkits.call` / `toolkits.respond`; Socket.IO `emitWithAck` relayed to the host's socket). W1 puts caller and host
 * on one node, W2 on two nodes, so every round trip crosses Redis twice.
 *
 * 1. closed loop, one pair: one request at a time; latency from the send (p50 / p99 / p99.9);
 * 2. closed loop, every pair: one request per pair in flight; the saturated rate and the CPU per round trip;
 * 3. open loop, every pair: requests at their intended times, rising rates (fractions of the saturated rate) until a
 *    step's p99, counted from the intended send time, reaches the limit; the highest rate that stayed under it.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { ServerChild } from "../lib/children.js";
import type { PhaseContext } from "../lib/phases.js";
import { int, fixed } from "../lib/phases.js";
import { summarize, toMicros, type Summary } from "../lib/stats.js";
import { FailureHolder, type BenchContext } from "./context.js";
import type { System } from "./deployments.js";
import { pace, QUIET_THRESHOLD_PERCENT, waitFor } from "./loops.js";
import type { Member } from "./members.js";
import { startCpuMeter, type CpuUsage } from "./meter.js";

/** The open-loop staircase's lowest rate, requests per second. */
const MIN_STEP_RATE = 100;
/** The request's payload padding: a request of about a hundred bytes on both wires. */
const PAD = "x".repeat(48);

export type Placement = "one node" | "two nodes";

export interface SaturatedRun {
  /** Round trips per second. */
  rate: number;
  roundTrips: number;
  latencyMicros: Summary;
  cpu: CpuUsage;
  serverMicrosPerRoundTrip: number;
  redisMicrosPerRoundTrip: number;
}

/** One attempt at one rate (a rate that missed is tried again, up to `stepAttempts` times). */
export interface OpenLoopStep {
  targetRate: number;
  /** What the pacer managed to send, per second (below target when the server fell behind and it stopped). */
  sentRate: number;
  measured: number;
  unanswered: number;
  /** The pacer stopped early: too many requests were waiting. */
  overloaded: boolean;
  /** From the intended send time. */
  latencyMicros: Summary;
  /** How late the pacer's sends left (its 1 ms timer), p99, µs. */
  sendLagP99Micros: number;
  cpu: CpuUsage;
  serverMicrosPerRoundTrip: number;
  passed: boolean;
}

export interface RequestResponseResult {
  system: string;
  placement: Placement;
  pairs: number;
  closedLoopMicros: Summary;
  /** Where the CPU went during the closed loop (how busy the rest of the machine was). */
  closedLoopCpu: CpuUsage;
  saturated: SaturatedRun;
  steps: OpenLoopStep[];
  /** The highest step rate whose p99 stayed under the limit; 0 when none did. */
  maxRateUnderLimit: number;
  /** The lowest step's rate: when no step passed, the highest rate under the limit is below it. */
  lowestRateTried: number;
}

interface Pair {
  caller: Member;
  host: Member;
}

async function connectPairs(ctx: PhaseContext, system: System, placement: Placement, count: number): Promise<Pair[]> {
  const callerNode = system.nodes[0]!;
  const hostNode = placement === "one node" ? callerNode : system.nodes[1]!;
  const tag = placement === "one node" ? "w1" : "w2";
  const pairs: Pair[] = [];
  for (let i = 0; i < count; i++) {
    const room = `${tag}-pair-${i}`;
    // The host first, with its tool registered, so the caller's node knows the tool when the caller joins.
    const host = await system.join(hostNode, room, `host-${i}`, ctx.sockets);
    await host.host();
    const caller = await system.join(callerNode, room, `caller-${i}`, ctx.sockets);
    pairs.push({ caller, host });
  }
  return pairs;
}

/** Global request numbering: seqs never repeat within a phase, so a late answer from an earlier stage is ignored. */
class SeqSource {
  private next = 1;
  take(count: number): number {
    const first = this.next;
    this.next += count;
    return first;
  }
}

async function closedLoopOnePair(
  ctx: PhaseContext,
  bench: BenchContext,
  system: System,
  servers: readonly ServerChild[],
  pair: Pair,
  seqs: SeqSource,
  failure: FailureHolder,
): Promise<{ latency: Summary; cpu: CpuUsage }> {
  const { closedWarmup, closedCount } = bench.plan.requestResponse;
  const total = closedWarmup + closedCount;
  const first = seqs.take(total);
  const samples = new Float64Array(closedCount);
  let done = 0;
  let sentAt = 0;
  pair.caller.onAnswer = (seq) => {
    if (seq !== first + done) return;
    if (done >= closedWarmup) samples[done - closedWarmup] = performance.now() - sentAt;
    done++;
    if (done < total && !ctx.signal.aborted) {
      sentAt = performance.now();
      pair.caller.request(pair.host.id, first + done, PAD);
    }
  };
  const stopMeter = await startCpuMeter(servers, system.redis);
  sentAt = performance.now();
  pair.caller.request(pair.host.id, first, PAD);
  const finished = await waitFor(() => done === total || failure.error !== undefined, 60_000, ctx.signal);
  const cpu = await stopMeter();
  failure.throwIfFailed();
  if (!finished) throw new Error(`closed loop: ${done} of ${total} round trips in 60 s`);
  return { latency: toMicros(summarize(samples)), cpu };
}

async function saturate(
  ctx: PhaseContext,
  bench: BenchContext,
  system: System,
  servers: readonly ServerChild[],
  pairs: Pair[],
  seqs: SeqSource,
  failure: FailureHolder,
  label: string,
): Promise<SaturatedRun> {
  const { capacityWarmupMs, capacityMs } = bench.plan.requestResponse;
  let running = true;
  let answered = 0;
  let measuring = false;
  const latencies: number[] = [];
  pairs.forEach((pair) => {
    let sentAt = 0;
    let expected = 0;
    const sendNext = (): void => {
      expected = seqs.take(1);
      sentAt = performance.now();
      pair.caller.request(pair.host.id, expected, PAD);
    };
    pair.caller.onAnswer = (seq) => {
      if (seq !== expected) return;
      answered++;
      if (measuring) latencies.push(performance.now() - sentAt);
      if (running && !ctx.signal.aborted) sendNext();
    };
    sendNext();
  });
  await sleep(capacityWarmupMs);
  failure.throwIfFailed();
  const result = await bench.profiled(label, servers, async () => {
    const stopMeter = await startCpuMeter(servers, system.redis);
    const before = answered;
    measuring = true;
    await sleep(capacityMs);
    measuring = false;
    const roundTrips = answered - before;
    const cpu = await stopMeter();
    return { roundTrips, cpu };
  });
  running = false;
  // Let the last requests land, so the next stage starts from a quiet server.
  await sleep(300);
  failure.throwIfFailed();
  const { roundTrips, cpu } = result;
  return {
    rate: roundTrips / cpu.seconds,
    roundTrips,
    latencyMicros: toMicros(summarize(latencies)),
    cpu,
    serverMicrosPerRoundTrip: cpu.serverMicros / roundTrips,
    redisMicrosPerRoundTrip: cpu.redisMicros / roundTrips,
  };
}

async function openLoopStep(
  ctx: PhaseContext,
  bench: BenchContext,
  system: System,
  servers: readonly ServerChild[],
  pairs: Pair[],
  seqs: SeqSource,
  failure: FailureHolder,
  rate: number,
): Promise<OpenLoopStep> {
  const { stepWarmupMs, stepMs, drainMs, p99LimitMs } = bench.plan.requestResponse;
  const warmupSends = Math.round((rate * stepWarmupMs) / 1000);
  const measuredSends = Math.max(1, Math.round((rate * stepMs) / 1000));
  const total = warmupSends + measuredSends;
  const first = seqs.take(total);
  const latencies = new Float64Array(measuredSends).fill(Number.NaN);
  let answered = 0;
  let sent = 0;
  // More than a quarter of a second of requests waiting: the server is far behind, p99 is already lost.
  const maxOutstanding = Math.max(500, rate / 4);
  const pacing = pace(
    { rate, total, signal: ctx.signal, mayContinue: () => sent - answered < maxOutstanding },
    (k) => {
      sent++;
      const pair = pairs[k % pairs.length]!;
      pair.caller.request(pair.host.id, first + k, PAD);
    },
  );
  for (const pair of pairs) {
    pair.caller.onAnswer = (seq) => {
      const k = seq - first;
      if (k < 0 || k >= total) return;
      answered++;
      if (k >= warmupSends) latencies[k - warmupSends] = performance.now() - pacing.intendedAt(k);
    };
  }
  // The CPU window covers the measured sends' schedule.
  await waitFor(() => performance.now() >= pacing.intendedAt(warmupSends), stepWarmupMs + 1000, ctx.signal);
  const stopMeter = await startCpuMeter(servers, system.redis);
  const answeredBefore = answered;
  const sentCount = await pacing.done;
  const answeredInWindow = answered - answeredBefore;
  const cpu = await stopMeter();
  const overloaded = sentCount < total;
  await waitFor(() => answered >= sentCount || failure.error !== undefined, drainMs, ctx.signal);
  failure.throwIfFailed();
  // An unanswered request counts as late as the wait for it lasted: a lower bound that fails the step anyway.
  const end = performance.now();
  let unanswered = 0;
  for (let i = 0; i < measuredSends; i++) {
    if (Number.isNaN(latencies[i]!)) {
      unanswered++;
      latencies[i] = end - pacing.intendedAt(warmupSends + i);
    }
  }
  const latencyMicros = toMicros(summarize(latencies));
  const lags = toMicros(summarize(pacing.lags.subarray(0, sentCount)));
  return {
    targetRate: rate,
    sentRate: (sentCount - warmupSends) / Math.max(cpu.seconds, 1e-3),
    measured: measuredSends,
    unanswered,
    overloaded,
    latencyMicros,
    sendLagP99Micros: lags.p99,
    cpu,
    serverMicrosPerRoundTrip: cpu.serverMicros / Math.max(1, answeredInWindow),
    passed: !overloaded && unanswered === 0 && latencyMicros.p99 < p99LimitMs * 1000,
  };
}

/** Runs W1 (`one node`) or W2 (`two nodes`) for one system. */
export async function runRequestResponse(
  ctx: PhaseContext,
  bench: BenchContext,
  system: System,
  placement: Placement,
): Promise<RequestResponseResult> {
  const plan = bench.plan.requestResponse;
  const failure = new FailureHolder();
  const servers = placement === "one node" ? [system.nodes[0]!] : system.nodes;
  const name = `${placement === "one node" ? "W1" : "W2"} ${system.name}`;
  const pairs = await connectPairs(ctx, system, placement, plan.pairs);
  for (const pair of pairs) {
    pair.caller.onError = failure.fail;
    pair.host.onError = failure.fail;
  }
  const seqs = new SeqSource();

  await bench.quiet();
  const closedLoop = await closedLoopOnePair(ctx, bench, system, servers, pairs[0]!, seqs, failure);
  const closedLoopMicros = closedLoop.latency;
  bench.log(`${name}: closed loop p50 ${fixed(closedLoopMicros.p50)} µs, p99 ${fixed(closedLoopMicros.p99)} µs`);

  await bench.quiet();
  const saturated = await saturate(ctx, bench, system, servers, pairs, seqs, failure, `${name} saturated`);
  bench.log(
    `${name}: saturated ${int(saturated.rate)} round trips/s, server ${fixed(saturated.serverMicrosPerRoundTrip)} µs CPU per round trip`,
  );

  // Rising rates until one misses the limit. A step that missed while other work on the machine took more than a
  // quarter of a core is tried again (that load only ever makes a step worse); one that missed on a quiet machine is
  // the server's own result: its collector's pauses included (a step is long enough to hold several).
  const steps: OpenLoopStep[] = [];
  const tryRate = async (rate: number): Promise<boolean> => {
    for (let attempt = 1; attempt <= plan.stepAttempts; attempt++) {
      await bench.quiet();
      const step = await openLoopStep(ctx, bench, system, servers, pairs, seqs, failure, rate);
      steps.push(step);
      bench.log(
        `${name}: open loop ${int(rate)}/s (attempt ${attempt}): p50 ${fixed(step.latencyMicros.p50 / 1000, 2)} ms, ` +
          `p99 ${fixed(step.latencyMicros.p99 / 1000, 2)} ms, pacer lag p99 ${fixed(step.sendLagP99Micros / 1000, 2)} ms` +
          `${step.overloaded ? " (overloaded)" : ""}${step.unanswered > 0 ? `, ${step.unanswered} unanswered` : ""} → ` +
          `${step.passed ? "pass" : "miss"}`,
      );
      if (step.passed) return true;
      if ((step.cpu.otherPercent ?? 0) < QUIET_THRESHOLD_PERCENT) return false;
    }
    return false;
  };
  let lastRate = 0;
  let anyPassed = false;
  for (const fraction of plan.stepFractions) {
    const rate = Math.max(MIN_STEP_RATE, Math.round((saturated.rate * fraction) / 100) * 100);
    if (rate <= lastRate) continue;
    lastRate = rate;
    if (!(await tryRate(rate))) break;
    anyPassed = true;
  }
  // Even the first step missed: halve the rate until one stays under the limit, so the figure is a rate, not a bound.
  const half = (rate: number): number => Math.floor(rate / 200) * 100;
  for (let rate = half(lastRate); !anyPassed && rate >= MIN_STEP_RATE; rate = half(rate)) {
    anyPassed = await tryRate(rate);
  }
  const passing = steps.filter((step) => step.passed);
  return {
    system: system.name,
    placement,
    pairs: plan.pairs,
    closedLoopMicros,
    closedLoopCpu: closedLoop.cpu,
    saturated,
    steps,
    maxRateUnderLimit: passing.length === 0 ? 0 : Math.max(...passing.map((step) => step.targetRate)),
    lowestRateTried: steps.length === 0 ? 0 : Math.min(...steps.map((step) => step.targetRate)),
  };
}
