/** The printed summary of a peer run: one table per workload, both systems side by side, the baselines, the goals. */
import { fixed, int } from "../lib/phases.js";
import type { Summary } from "../lib/stats.js";
import type { CpuUsage } from "./meter.js";
import type { RequestResponseResult } from "./request-response.js";
import { isBounded, type Results } from "./results.js";

type Row = [figure: string, roombus: string, socketIo: string, ratio: string, baseline: string];

const HEADER: Row = ["figure", "roombus", "Socket.IO + Redis adapter", "roombus ÷ Socket.IO", "raw baseline (same run)"];

function table(rows: Row[]): string[] {
  const all = [HEADER, ...rows];
  const widths = HEADER.map((_cell, column) => Math.max(...all.map((row) => row[column]!.length)));
  const line = (row: Row): string => `| ${row.map((cell, column) => cell.padEnd(widths[column]!)).join(" | ")} |`;
  return [line(HEADER), `|${widths.map((width) => "-".repeat(width + 2)).join("|")}|`, ...rows.map(line)];
}

const na = "n/a";
const ratio = (a: number | undefined, b: number | undefined): string =>
  a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0 ? na : `${fixed(a / b, 2)}×`;
const us = (value: number | undefined): string => (value === undefined ? na : `${fixed(value)} µs`);
const ms = (micros: number | undefined): string => (micros === undefined ? na : `${fixed(micros / 1000, 2)} ms`);
const perSecond = (value: number | undefined, unit = "/s"): string => (value === undefined ? na : `${int(value)}${unit}`);
const bytes = (value: number | undefined): string => (value === undefined ? na : `${int(value)} B`);
const mib = (value: number | undefined): string => (value === undefined ? na : `${fixed(value / 1024 / 1024, 1)} MiB`);
const percentiles = (s: Summary | undefined): string =>
  s === undefined ? na : `${fixed(s.p50)} / ${fixed(s.p99)} / ${fixed(s.p999)} µs`;
/** Figures measured while the rest of the machine used more than this much of a core are marked †. */
const NOISY_PERCENT = 25;
const noisy = (cpu: CpuUsage | undefined): string =>
  cpu?.otherPercent !== undefined && cpu.otherPercent > NOISY_PERCENT ? " †" : "";
const cpuShare = (cpu: CpuUsage | undefined): string =>
  cpu === undefined
    ? na
    : `${fixed(cpu.serverPercent, 0)}% / ${fixed(cpu.redisPercent, 0)}% / ${fixed(cpu.loadGeneratorPercent, 0)}% / ${cpu.otherPercent === undefined ? "?" : fixed(cpu.otherPercent, 0)}%`;

function maxRate(entry: RequestResponseResult | undefined): string {
  if (entry === undefined) return na;
  if (entry.maxRateUnderLimit === 0) return `< ${perSecond(entry.lowestRateTried)}`;
  const passed = entry.steps.find((step) => step.passed && step.targetRate === entry.maxRateUnderLimit);
  // The step above it missed: noise there hides a higher rate, so that step's machine load is what to flag.
  const missed = entry.steps.find((step) => !step.passed && step.targetRate > entry.maxRateUnderLimit);
  return perSecond(entry.maxRateUnderLimit) + (noisy(passed?.cpu) || noisy(missed?.cpu));
}

function requestResponseRows(results: Results, list: RequestResponseResult[], two: boolean): Row[] {
  const ours = list.find((entry) => entry.system === "roombus");
  const theirs = list.find((entry) => entry.system === "socket.io");
  const { baselines } = results;
  const limit = results.plan.requestResponse.p99LimitMs;
  const rows: Row[] = [
    [
      "closed loop, one pair: p50 / p99 / p99.9",
      percentiles(ours?.closedLoopMicros) + noisy(ours?.closedLoopCpu),
      percentiles(theirs?.closedLoopMicros) + noisy(theirs?.closedLoopCpu),
      ratio(ours?.closedLoopMicros.p50, theirs?.closedLoopMicros.p50),
      two ? `Redis ping-pong ${percentiles(baselines.redis?.pingPongMicros)}` : `raw relay ${percentiles(baselines.relayMicros)}`,
    ],
    [
      `saturated, ${ours?.pairs ?? theirs?.pairs ?? "?"} pairs (closed loop)`,
      perSecond(ours?.saturated.rate) + noisy(ours?.saturated.cpu),
      perSecond(theirs?.saturated.rate) + noisy(theirs?.saturated.cpu),
      ratio(ours?.saturated.rate, theirs?.saturated.rate),
      two ? "" : `raw relay ${perSecond(baselines.relaySaturated?.rate)}`,
    ],
    [
      `highest open-loop rate with p99 < ${limit} ms`,
      maxRate(ours),
      maxRate(theirs),
      ratio(ours?.maxRateUnderLimit, theirs?.maxRateUnderLimit),
      "",
    ],
    [
      "server CPU per round trip (saturated)",
      us(ours?.saturated.serverMicrosPerRoundTrip),
      us(theirs?.saturated.serverMicrosPerRoundTrip),
      ratio(ours?.saturated.serverMicrosPerRoundTrip, theirs?.saturated.serverMicrosPerRoundTrip),
      two ? "" : `raw relay ${us(baselines.relaySaturated?.serverMicrosPerMessage)}`,
    ],
  ];
  if (two) {
    rows.push([
      "Redis CPU per round trip (saturated)",
      us(ours?.saturated.redisMicrosPerRoundTrip),
      us(theirs?.saturated.redisMicrosPerRoundTrip),
      ratio(ours?.saturated.redisMicrosPerRoundTrip, theirs?.saturated.redisMicrosPerRoundTrip),
      `${us(baselines.redis?.redisMicrosPerPublish)} per publish`,
    ]);
    const w1 = (system: string): RequestResponseResult | undefined => results.w1.find((entry) => entry.system === system);
    const hop = (entry: RequestResponseResult | undefined, system: string): number | undefined => {
      const one = w1(system);
      return entry === undefined || one === undefined ? undefined : entry.closedLoopMicros.p50 - one.closedLoopMicros.p50;
    };
    rows.push([
      "W2 − W1, closed-loop p50",
      us(hop(ours, "roombus")),
      us(hop(theirs, "socket.io")),
      ratio(hop(ours, "roombus"), hop(theirs, "socket.io")),
      `Redis ping-pong p50 ${us(baselines.redis?.pingPongMicros.p50)}`,
    ]);
    const rateDrop = (entry: RequestResponseResult | undefined, system: string): string => {
      const one = w1(system);
      return entry === undefined || one === undefined || one.maxRateUnderLimit === 0 || entry.maxRateUnderLimit === 0
        ? na
        : `${fixed((entry.maxRateUnderLimit / one.maxRateUnderLimit) * 100, 0)}% of W1`;
    };
    rows.push(["W2 rate against W1", rateDrop(ours, "roombus"), rateDrop(theirs, "socket.io"), "", ""]);
  }
  rows.push([
    "CPU while saturated: servers / Redis / load gen / other",
    cpuShare(ours?.saturated.cpu),
    cpuShare(theirs?.saturated.cpu),
    "",
    "",
  ]);
  return rows;
}

function stepsLine(entry: RequestResponseResult): string {
  return (
    `  ${entry.system} open-loop steps: ` +
    entry.steps
      .map(
        (step) =>
          `${int(step.targetRate)}/s p99 ${ms(step.latencyMicros.p99)}${step.overloaded ? " (overloaded)" : ""}${step.passed ? "" : " ✗"}` +
          noisy(step.cpu),
      )
      .join(", ")
  );
}

export function formatReport(results: Results): string {
  const out: string[] = [];
  const m = results.machine;
  out.push(
    "",
    `roombus vs Socket.IO (${results.plan.mode}) of ${results.commit ?? "an unknown commit"}: ${m.cpus} cores, ${m.cpuModel}, node ${m.node}`,
    m.pinned
      ? `every server process (nodes and Redis) on core ${m.serverCpu}, the load generator on core ${m.loadGeneratorCpu}: ` +
          "the nodes of a system and its Redis share one core"
      : "not pinned: servers, Redis and the load generator share every core",
    `versions: ${Object.entries(results.versions).map(([name, version]) => `${name} ${version}`).join(", ")}`,
  );
  if (results.socketIoClientCheck !== undefined) {
    out.push(
      `socket.io-client check against the Socket.IO nodes: ${results.socketIoClientCheck.ok ? "ok" : `FAILED (${results.socketIoClientCheck.error ?? "?"})`}`,
    );
  }
  const { baselines } = results;
  if (results.w1.length > 0) {
    out.push("", "W1 request → response, both participants on one node", ...table(requestResponseRows(results, results.w1, false)));
    for (const entry of results.w1) out.push(stepsLine(entry));
  }
  if (results.w2.length > 0) {
    out.push("", "W2 request → response across two nodes through Redis", ...table(requestResponseRows(results, results.w2, true)));
    for (const entry of results.w2) out.push(stepsLine(entry));
  }
  for (const size of results.plan.broadcast.roomSizes) {
    const ours = results.w3.find((entry) => entry.system === "roombus" && entry.roomSize === size);
    const theirs = results.w3.find((entry) => entry.system === "socket.io" && entry.roomSize === size);
    const raw = baselines.broadcast.find((entry) => entry.roomSize === size);
    if (ours === undefined && theirs === undefined && raw === undefined) continue;
    const rate = ours?.latency?.rate ?? theirs?.latency?.rate;
    out.push(
      "",
      `W3 one publisher, a room of ${int(size)} receivers split over two nodes`,
      ...table([
        [
          "deliveries/s (saturated)",
          perSecond(ours?.saturated.deliveriesPerSecond) + noisy(ours?.saturated.cpu),
          perSecond(theirs?.saturated.deliveriesPerSecond) + noisy(theirs?.saturated.cpu),
          ratio(ours?.saturated.deliveriesPerSecond, theirs?.saturated.deliveriesPerSecond),
          `raw ws, one process: ${perSecond(raw?.deliveriesPerSecond)}${noisy(raw?.cpu)}`,
        ],
        [
          "server CPU per delivery",
          us(ours?.saturated.serverMicrosPerDelivery),
          us(theirs?.saturated.serverMicrosPerDelivery),
          ratio(ours?.saturated.serverMicrosPerDelivery, theirs?.saturated.serverMicrosPerDelivery),
          `raw ws ${us(raw?.serverMicrosPerDelivery)}`,
        ],
        [
          "Redis CPU per delivery",
          us(ours?.saturated.redisMicrosPerDelivery),
          us(theirs?.saturated.redisMicrosPerDelivery),
          "",
          "",
        ],
        [
          `latency at ${rate === undefined ? "?" : int(rate)} broadcasts/s: p50 / p99 / p99.9`,
          percentiles(ours?.latency?.latencyMicros) + noisy(ours?.latency?.cpu),
          percentiles(theirs?.latency?.latencyMicros) + noisy(theirs?.latency?.cpu),
          ratio(ours?.latency?.latencyMicros.p99, theirs?.latency?.latencyMicros.p99),
          "",
        ],
        [
          "CPU while saturated: servers / Redis / load gen / other",
          cpuShare(ours?.saturated.cpu),
          cpuShare(theirs?.saturated.cpu),
          "",
          cpuShare(raw?.cpu),
        ],
      ]),
    );
  }
  if (results.w4.length > 0) {
    const ours = results.w4.find((entry) => entry.system === "roombus");
    const theirs = results.w4.find((entry) => entry.system === "socket.io");
    const count = ours?.connections ?? theirs?.connections ?? 0;
    out.push(
      "",
      `W4 ${int(count)} idle authenticated connections on one node (rooms of ${results.plan.idle.roomSize})`,
      ...table([
        ["RSS per connection", bytes(ours?.rssPerConnection), bytes(theirs?.rssPerConnection), ratio(ours?.rssPerConnection, theirs?.rssPerConnection), ""],
        [
          "  marginal (second half)",
          bytes(ours?.marginalRssPerConnection),
          bytes(theirs?.marginalRssPerConnection),
          ratio(ours?.marginalRssPerConnection, theirs?.marginalRssPerConnection),
          "",
        ],
        ["heap + external per connection", bytes(ours?.heapPerConnection), bytes(theirs?.heapPerConnection), ratio(ours?.heapPerConnection, theirs?.heapPerConnection), ""],
        [
          "handshakes per second",
          perSecond(ours?.handshakesPerSecond, ""),
          perSecond(theirs?.handshakesPerSecond, ""),
          ratio(ours?.handshakesPerSecond, theirs?.handshakesPerSecond),
          "",
        ],
      ]),
    );
  }
  if (results.w5.length > 0) {
    const ours = results.w5.find((entry) => entry.system === "roombus");
    const theirs = results.w5.find((entry) => entry.system === "socket.io");
    const plan = results.plan.slowConsumer;
    const cut = (entry: typeof ours): string =>
      entry === undefined ? na : entry.cutOffAfterMs === undefined ? `not within ${fixed(entry.durationMs / 1000, 0)} s` : `${fixed(entry.cutOffAfterMs / 1000, 1)} s`;
    out.push(
      "",
      `W5 one reader stops in a room of ${plan.readers + 2} on one node, ${int(plan.rate)} broadcasts/s of ${int(plan.padBytes)} B, ${fixed(plan.durationMs / 1000, 0)} s`,
      ...table([
        ["reader dropped after", cut(ours), cut(theirs), "", ""],
        ["peak RSS growth", mib(ours?.peakRssGrowth), mib(theirs?.peakRssGrowth), ratio(ours?.peakRssGrowth, theirs?.peakRssGrowth), ""],
        ["RSS growth at the end", mib(ours?.endRssGrowth), mib(theirs?.endRssGrowth), "", ""],
        ["peak heap + external growth", mib(ours?.peakHeapGrowth), mib(theirs?.peakHeapGrowth), "", ""],
        [
          "the other readers: p50 / p99 / p99.9",
          percentiles(ours?.othersLatencyMicros) + noisy(ours?.cpu),
          percentiles(theirs?.othersLatencyMicros) + noisy(theirs?.cpu),
          ratio(ours?.othersLatencyMicros.p99, theirs?.othersLatencyMicros.p99),
          "",
        ],
        [
          "bounded",
          ours === undefined ? na : isBounded(ours) ? "yes" : "no",
          theirs === undefined ? na : isBounded(theirs) ? "yes" : "no",
          "",
          "",
        ],
      ]),
    );
  }
  if (baselines.echoMicros !== undefined || baselines.redis !== undefined) {
    out.push(
      "",
      "baselines",
      `  raw ws echo: closed loop ${percentiles(baselines.echoMicros)}; ${perSecond(baselines.echoSaturated?.rate)} with 50 clients, ` +
        `${us(baselines.echoSaturated?.serverMicrosPerMessage)} CPU per echo`,
      `  raw ws relay (four hops): closed loop ${percentiles(baselines.relayMicros)}; ${perSecond(baselines.relaySaturated?.rate)} with 50 pairs, ` +
        `${us(baselines.relaySaturated?.serverMicrosPerMessage)} CPU per round trip`,
      `  Redis ${baselines.redis?.version ?? "?"}: ping-pong (two pub/sub hops) ${percentiles(baselines.redis?.pingPongMicros)}, ` +
        `${us(baselines.redis?.redisMicrosPerPublish)} Redis CPU per publish; redis-benchmark PUBLISH ${perSecond(baselines.redis?.benchmarkPublishesPerSecond)}`,
    );
  }
  out.push(
    "",
    `† measured while the rest of the machine used more than ${NOISY_PERCENT}% of a core (other sessions' work): a rate or a`,
    "  latency there is worse than the system's own; CPU per message is not affected as much. Every figure's CPU split is in the JSON.",
  );
  if (results.goals.length > 0) {
    out.push("", "goals");
    for (const goal of results.goals) {
      out.push(`  ${goal.met ? "PASS" : "MISS"}  ${goal.name}: ${fixed(goal.measured, 2)} (goal ${goal.bound === "at most" ? "≤" : "≥"} ${goal.limit})`);
    }
  }
  if (results.plan.mode === "quick") {
    out.push("", "quick run: a smoke test of the suite; short windows and 1,000 connections. Use the full run for figures.");
  }
  for (const failure of results.failures) out.push(`FAILED ${failure.phase}: ${failure.error}`);
  return out.join("\n");
}
