/** The shape of one run's results (bench/results/peers-<timestamp>.json) and the goals of issue 6 computed from it. */
import type { ProfileSummary } from "../lib/profile.js";
import type { MachineInfo } from "../lib/system.js";
import type { BaselineResults } from "./baselines.js";
import type { BroadcastResult } from "./broadcast.js";
import type { IdleResult } from "./idle-connections.js";
import type { Plan } from "./plan.js";
import type { RequestResponseResult } from "./request-response.js";
import type { SlowConsumerResult } from "./slow-consumer.js";

export interface Goal {
  id: string;
  name: string;
  measured: number;
  /** Whether `measured` must be at most `limit` (a cost) or at least (a rate). */
  bound: "at most" | "at least";
  limit: number;
  met: boolean;
}

export interface Results {
  startedAt: string;
  /** The commit measured, with "+dirty" when src/ had uncommitted changes. */
  commit: string | undefined;
  plan: Plan;
  machine: MachineInfo & { pinned: boolean; serverCpu: number | undefined; loadGeneratorCpu: number | undefined };
  versions: Record<string, string>;
  /** socket.io-client (the official client) did one request round trip against the Socket.IO nodes. */
  socketIoClientCheck?: { ok: boolean; error?: string };
  baselines: BaselineResults;
  w1: RequestResponseResult[];
  w2: RequestResponseResult[];
  w3: BroadcastResult[];
  w4: IdleResult[];
  w5: SlowConsumerResult[];
  goals: Goal[];
  profiles: Record<string, ProfileSummary>;
  failures: { phase: string; error: string }[];
}

/**
 * W5 counts as bounded when the server dropped the reader within the run and its heap + external memory (where queued
 * frames live) grew by less than this at its peak, without forced GCs: roombus's outbound cap is 4 MiB a socket, and
 * the rest is slack for V8's young generation. A server that holds what the reader misses until a heartbeat ends it
 * grows by the message rate times that time instead (2 MB/s in W5).
 */
export const W5_BOUND_BYTES = 64 * 1024 * 1024;

export function isBounded(result: SlowConsumerResult): boolean {
  return result.cutOffAfterMs !== undefined && result.peakHeapGrowth < W5_BOUND_BYTES;
}

function bySystem<T extends { system: string }>(list: T[], system: string): T | undefined {
  return list.find((entry) => entry.system === system);
}

export function computeGoals(results: Results): Goal[] {
  const goals: Goal[] = [];
  const ratioGoal = (id: string, name: string, ours: number | undefined, theirs: number | undefined, limit: number): void => {
    if (ours === undefined || theirs === undefined || theirs <= 0) return;
    goals.push({ id, name, measured: ours / theirs, bound: "at least", limit, met: ours / theirs >= limit });
  };
  // A system none of whose steps stayed under the limit (down to 100/s) has no rate to compare: no goal is computed.
  const rateGoal = (id: "W1" | "W2", list: RequestResponseResult[]): void =>
    ratioGoal(
      id,
      `${id} highest rate with p99 < ${results.plan.requestResponse.p99LimitMs} ms: roombus / Socket.IO`,
      bySystem(list, "roombus")?.maxRateUnderLimit,
      bySystem(list, "socket.io")?.maxRateUnderLimit,
      2,
    );
  rateGoal("W1", results.w1);
  rateGoal("W2", results.w2);
  for (const size of results.plan.broadcast.roomSizes) {
    const ofSize = results.w3.filter((entry) => entry.roomSize === size);
    ratioGoal(
      "W3",
      `W3 deliveries/s, room of ${size}: roombus / Socket.IO`,
      bySystem(ofSize, "roombus")?.saturated.deliveriesPerSecond,
      bySystem(ofSize, "socket.io")?.saturated.deliveriesPerSecond,
      2,
    );
  }
  const ourIdle = bySystem(results.w4, "roombus");
  const theirIdle = bySystem(results.w4, "socket.io");
  if (ourIdle !== undefined && theirIdle !== undefined) {
    const ratio = ourIdle.rssPerConnection / theirIdle.rssPerConnection;
    goals.push({ id: "W4", name: "W4 RSS per idle connection: roombus / Socket.IO", measured: ratio, bound: "at most", limit: 1, met: ratio <= 1 });
  }
  const ourSlow = bySystem(results.w5, "roombus");
  const theirSlow = bySystem(results.w5, "socket.io");
  if (ourSlow !== undefined && theirSlow !== undefined) {
    // 1 when roombus is bounded and Socket.IO is not, 0 otherwise.
    const met = isBounded(ourSlow) && !isBounded(theirSlow);
    goals.push({
      id: "W5",
      name: `W5 bounded (reader dropped, heap + external grew < ${W5_BOUND_BYTES / 1024 / 1024} MiB): roombus yes, Socket.IO no`,
      measured: met ? 1 : 0,
      bound: "at least",
      limit: 1,
      met,
    });
  }
  const ourW1 = bySystem(results.w1, "roombus");
  const relay = results.baselines.relaySaturated;
  if (ourW1 !== undefined && relay !== undefined) {
    const ratio = ourW1.saturated.serverMicrosPerRoundTrip / relay.serverMicrosPerMessage;
    goals.push({
      id: "W1 CPU",
      name: "W1 server CPU per round trip: roombus / raw ws relay",
      measured: ratio,
      bound: "at most",
      limit: 1.5,
      met: ratio <= 1.5,
    });
  }
  for (const raw of results.baselines.broadcast) {
    const ours = results.w3.find((entry) => entry.system === "roombus" && entry.roomSize === raw.roomSize);
    if (ours === undefined) continue;
    const ratio = ours.saturated.serverMicrosPerDelivery / raw.serverMicrosPerDelivery;
    goals.push({
      id: "W3 CPU",
      name: `W3 server CPU per delivery, room of ${raw.roomSize}: roombus / raw ws broadcast`,
      measured: ratio,
      bound: "at most",
      limit: 1.5,
      met: ratio <= 1.5,
    });
  }
  return goals;
}
