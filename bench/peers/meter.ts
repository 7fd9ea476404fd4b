/**
 * Where the CPU went during a measured window: each server process (from its own process.cpuUsage over the bench
 * IPC), Redis (from /proc), the load generator, and everything else on the machine (/proc/stat). A process's CPU time
 * does not depend on what else the machine does, so CPU per message is the figure that survives a shared machine.
 */
import type { ServerChild } from "../lib/children.js";
import type { BenchRedis } from "../lib/redis-server.js";
import { readCpuTimes } from "../lib/system.js";

export interface CpuUsage {
  seconds: number;
  /** CPU time of the servers (every node of the system), microseconds. */
  serverMicros: number;
  /** CPU time of Redis, microseconds (0 when the workload has no Redis). */
  redisMicros: number;
  /** Percent of one core over the window. */
  serverPercent: number;
  redisPercent: number;
  loadGeneratorPercent: number;
  /** Everything else on the machine (other processes, the kernel's softirqs), percent of one core. */
  otherPercent: number | undefined;
  /** Time the hypervisor gave to other guests while ours wanted to run. */
  stealPercent: number | undefined;
}

async function serverCpuMicros(servers: readonly ServerChild[]): Promise<number> {
  const all = await Promise.all(servers.map((server) => server.stats()));
  return all.reduce((sum, stats) => sum + stats.cpuUser + stats.cpuSystem, 0);
}

/** Starts measuring; the returned function ends the window. */
export async function startCpuMeter(
  servers: readonly ServerChild[],
  redis: BenchRedis | undefined,
): Promise<() => Promise<CpuUsage>> {
  const serverBefore = await serverCpuMicros(servers);
  const redisBefore = redis?.cpuMicros() ?? 0;
  const selfBefore = process.cpuUsage();
  const machineBefore = readCpuTimes();
  const startedAt = performance.now();
  return async () => {
    const seconds = (performance.now() - startedAt) / 1000;
    const self = process.cpuUsage(selfBefore);
    const machineAfter = readCpuTimes();
    const redisMicros = (redis?.cpuMicros() ?? 0) - redisBefore;
    const serverMicros = (await serverCpuMicros(servers)) - serverBefore;
    const percent = (micros: number): number => micros / 10_000 / seconds;
    const serverPercent = percent(serverMicros);
    const redisPercent = percent(redisMicros);
    const loadGeneratorPercent = percent(self.user + self.system);
    // /proc/stat counts jiffies of 10 ms: jiffies per second is already percent of one core.
    const machine =
      machineBefore === undefined || machineAfter === undefined
        ? undefined
        : { busy: (machineAfter.busy - machineBefore.busy) / seconds, steal: (machineAfter.steal - machineBefore.steal) / seconds };
    return {
      seconds,
      serverMicros,
      redisMicros,
      serverPercent,
      redisPercent,
      loadGeneratorPercent,
      otherPercent:
        machine === undefined ? undefined : Math.max(0, machine.busy - serverPercent - redisPercent - loadGeneratorPercent),
      stealPercent: machine?.steal,
    };
  };
}
