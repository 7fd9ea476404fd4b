/** What one run of the peer benchmarks does: the full plan (about ten minutes), the quick one, and the flags. */
import { intArg, namesArg, printUsage, UsageError } from "../lib/entry.js";
import { SYSTEMS, type SystemName } from "./systems.js";

export type WorkloadName = "baselines" | "W1" | "W2" | "W3" | "W4" | "W5";
export const WORKLOADS: readonly WorkloadName[] = ["baselines", "W1", "W2", "W3", "W4", "W5"];

export interface Plan {
  mode: "full" | "quick";
  /** Longest wait for the rest of the machine to go quiet before a measured phase. */
  quietWaitMs: number;
  requestResponse: {
    pairs: number;
    /** One pair, one request at a time: the latency figures. */
    closedWarmup: number;
    closedCount: number;
    /** Every pair, one request each at a time: the saturated rate and the CPU per round trip. */
    capacityWarmupMs: number;
    capacityMs: number;
    /** Open-loop steps, as fractions of that saturated rate, rising until one misses the p99 limit. */
    stepFractions: number[];
    /** A step that misses while the machine is busy with other work is tried again, up to this many times in all. */
    stepAttempts: number;
    stepWarmupMs: number;
    stepMs: number;
    /** How long answers may still come after a step's last send. */
    drainMs: number;
    /** A step passes when its p99, from the intended send time, is below this. */
    p99LimitMs: number;
  };
  broadcast: {
    /** Receivers per room (the publisher comes on top), half on each node. */
    roomSizes: number[];
    /** Deliveries in flight in the saturated phase (broadcasts in flight = this / room size, at least 2). */
    inFlightDeliveries: number;
    warmupMs: number;
    measureMs: number;
    /** The open-loop latency phase runs both systems at this fraction of the slower one's saturated rate. */
    latencyFraction: number;
    /** Receivers that decode every message for its latency; the others only count. */
    sampledReceivers: number;
  };
  idle: {
    connections: number;
    roomSize: number;
    /** Handshakes in flight while connecting. */
    concurrency: number;
    settleMs: number;
  };
  slowConsumer: {
    /** Readers that keep up, besides the one that stops. */
    readers: number;
    /** Broadcasts per second and the size of each message's padding. */
    rate: number;
    padBytes: number;
    durationMs: number;
    /** How often the server's memory and connection count are read. */
    sampleMs: number;
  };
  baselines: {
    closedWarmup: number;
    closedCount: number;
    redisBenchmarkRequests: number;
  };
}

export const FULL: Plan = {
  mode: "full",
  quietWaitMs: 5_000,
  requestResponse: {
    pairs: 50,
    closedWarmup: 1_000,
    closedCount: 10_000,
    capacityWarmupMs: 500,
    capacityMs: 3_000,
    stepFractions: [0.1, 0.2, 0.3, 0.45, 0.6, 0.75, 0.9, 1.0],
    stepAttempts: 3,
    stepWarmupMs: 500,
    // Long enough to hold a few of V8's full collections under load (one every 2–4 s): a step shows their pauses.
    stepMs: 5_000,
    drainMs: 1_000,
    p99LimitMs: 10,
  },
  broadcast: {
    roomSizes: [100, 1_000],
    inFlightDeliveries: 16_000,
    warmupMs: 500,
    measureMs: 3_000,
    latencyFraction: 0.5,
    sampledReceivers: 20,
  },
  idle: { connections: 10_000, roomSize: 100, concurrency: 200, settleMs: 1_000 },
  // Socket.IO's heartbeat (ping every 25 s, 20 s to answer) ends a reader that stopped after about 45 s: run past it.
  slowConsumer: { readers: 20, rate: 1_000, padBytes: 2_000, durationMs: 50_000, sampleMs: 250 },
  baselines: { closedWarmup: 1_000, closedCount: 10_000, redisBenchmarkRequests: 200_000 },
};

export const QUICK: Plan = {
  mode: "quick",
  quietWaitMs: 3_000,
  requestResponse: {
    pairs: 50,
    closedWarmup: 200,
    closedCount: 2_000,
    capacityWarmupMs: 300,
    capacityMs: 1_000,
    stepFractions: [0.2, 0.5, 0.8],
    stepAttempts: 1,
    stepWarmupMs: 200,
    stepMs: 800,
    drainMs: 1_000,
    p99LimitMs: 10,
  },
  broadcast: {
    roomSizes: [100],
    inFlightDeliveries: 16_000,
    warmupMs: 300,
    measureMs: 1_000,
    latencyFraction: 0.5,
    sampledReceivers: 10,
  },
  idle: { connections: 1_000, roomSize: 100, concurrency: 200, settleMs: 500 },
  slowConsumer: { readers: 10, rate: 1_000, padBytes: 2_000, durationMs: 8_000, sampleMs: 250 },
  baselines: { closedWarmup: 200, closedCount: 2_000, redisBenchmarkRequests: 20_000 },
};

export const USAGE = `usage: node dist/bench/peers/run.js [options]
  --quick               a smoke run of every workload (about two minutes); figures are not for comparison
  --only=LIST           a comma-separated subset of ${WORKLOADS.join(",")}
  --systems=LIST        a comma-separated subset of ${SYSTEMS.join(",")} (one alone: its figures, no ratios)
  --connections=N       idle connections in W4 (default 10,000; 1,000 with --quick)
  --slow-seconds=N      how long W5 runs (default 50; 8 with --quick)
  --room-sizes=LIST     W3's room sizes (default 100,1000; 100 with --quick)
  --in-flight=N         W3's deliveries in flight while saturated (default 16,000)
  --profile             CPU-profile the servers during the saturated windows of W1, W2 and W3 (figures then carry
                        the profiler's overhead); profiles and their summaries go to bench/results/
`;

export interface Args {
  plan: Plan;
  only: Set<WorkloadName>;
  /** Which systems run the workloads (both by default; one alone gives no ratios, only its own figures). */
  systems: Set<SystemName>;
  profile: boolean;
}

export function parseArgs(argv: string[]): Args {
  let plan = FULL;
  let only = new Set<WorkloadName>(WORKLOADS);
  let profile = false;
  let systems = new Set<SystemName>(SYSTEMS);
  let connections: number | undefined;
  let slowSeconds: number | undefined;
  let roomSizes: number[] | undefined;
  let inFlight: number | undefined;
  for (const arg of argv) {
    if (arg === "--quick") plan = QUICK;
    else if (arg === "--profile") profile = true;
    else if (arg.startsWith("--connections=")) connections = intArg(arg, "--connections=");
    else if (arg.startsWith("--slow-seconds=")) slowSeconds = intArg(arg, "--slow-seconds=");
    else if (arg.startsWith("--in-flight=")) inFlight = intArg(arg, "--in-flight=");
    else if (arg.startsWith("--room-sizes=")) {
      roomSizes = arg
        .slice("--room-sizes=".length)
        .split(",")
        .map((size) => intArg(`--room-sizes=${size}`, "--room-sizes="));
    } else if (arg.startsWith("--systems=")) systems = namesArg(arg, "--systems=", SYSTEMS, "system");
    else if (arg.startsWith("--only=")) only = namesArg(arg, "--only=", WORKLOADS, "workload");
    else if (arg === "--help" || arg === "-h") printUsage(USAGE);
    else throw new UsageError(`unknown argument "${arg}"`);
  }
  plan = {
    ...plan,
    broadcast: {
      ...plan.broadcast,
      roomSizes: roomSizes ?? plan.broadcast.roomSizes,
      inFlightDeliveries: inFlight ?? plan.broadcast.inFlightDeliveries,
    },
    idle: { ...plan.idle, connections: connections ?? plan.idle.connections },
    slowConsumer: { ...plan.slowConsumer, durationMs: slowSeconds === undefined ? plan.slowConsumer.durationMs : slowSeconds * 1000 },
  };
  return { plan, only, systems, profile };
}
