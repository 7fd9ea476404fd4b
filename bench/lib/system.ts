/** The machine the bench runs on, and the process-level setup it needs (fd limit, CPU pinning). */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import os from "node:os";

export function hasCommand(command: string): boolean {
  try {
    execFileSync("/bin/sh", ["-c", `command -v ${command}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** This process's soft and hard RLIMIT_NOFILE, from /proc (Node has no getrlimit). */
export function readFdLimit(pid: number | "self" = "self"): { soft: number; hard: number } | undefined {
  try {
    const match = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync(`/proc/${pid}/limits`, "utf8"));
    if (match === null) return undefined;
    const parse = (value: string): number => (value === "unlimited" ? Number.POSITIVE_INFINITY : Number(value));
    return { soft: parse(match[1]!), hard: parse(match[2]!) };
  } catch {
    return undefined;
  }
}

/**
 * Raises this process's fd limit towards `wanted` with prlimit(1); where that is refused (no CAP_SYS_RESOURCE, or a
 * sandbox that caps it), it settles for the hard limit. Returns the soft limit in force afterwards.
 */
export function raiseOwnFdLimit(wanted: number, log: (line: string) => void): number {
  const before = readFdLimit();
  if (before === undefined) return Number.POSITIVE_INFINITY;
  if (before.soft >= wanted) return before.soft;
  const attempts = [`--nofile=${wanted}:${Math.max(wanted, before.hard)}`, `--nofile=${before.hard}:${before.hard}`];
  if (hasCommand("prlimit")) {
    for (const attempt of attempts) {
      try {
        execFileSync("prlimit", ["--pid", String(process.pid), attempt], { stdio: "ignore" });
        break;
      } catch {
        // Try the next, smaller limit.
      }
    }
  }
  const after = readFdLimit() ?? before;
  if (after.soft < wanted) log(`the fd limit could not be raised to ${wanted} (not permitted here); it is ${after.soft}`);
  else if (after.soft !== before.soft) log(`raised the load generator's fd limit from ${before.soft} to ${after.soft}`);
  return after.soft;
}

/** Pins every thread of this process to `cpu` (threads created later inherit it). */
export function pinSelf(cpu: number, log: (line: string) => void): boolean {
  try {
    execFileSync("taskset", ["-a", "-p", "-c", String(cpu), String(process.pid)], { stdio: "ignore" });
    return true;
  } catch {
    log(`could not pin the load generator to core ${cpu}`);
    return false;
  }
}

export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  memoryMiB: number;
  node: string;
  platform: string;
  kernel: string;
}

export function describeMachine(): MachineInfo {
  let cpus = os.availableParallelism();
  try {
    cpus = Number(execFileSync("nproc", { encoding: "utf8" }).trim());
  } catch {
    // os.availableParallelism() is close enough where nproc is missing.
  }
  return {
    cpus,
    cpuModel: os.cpus()[0]?.model ?? "unknown",
    memoryMiB: Math.round(os.totalmem() / 1024 / 1024),
    node: process.version,
    platform: `${os.platform()} ${os.arch()}`,
    kernel: os.release(),
  };
}

/** Jiffies (USER_HZ, 100 a second on Linux) of the whole machine, from /proc/stat. */
export interface CpuTimes {
  busy: number;
  steal: number;
}

export function readCpuTimes(): CpuTimes | undefined {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!;
    // cpu user nice system idle iowait irq softirq steal guest guest_nice
    const [user, nice, system, _idle, _iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
    return { busy: user! + nice! + system! + irq! + softirq!, steal: steal ?? 0 };
  } catch {
    return undefined;
  }
}

/** How busy the whole machine is over `ms`, in percent of one core (200% = both of two cores). */
export async function sampleMachineBusy(ms: number): Promise<number | undefined> {
  const before = readCpuTimes();
  const started = performance.now();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const after = readCpuTimes();
  if (before === undefined || after === undefined) return undefined;
  return (after.busy - before.busy) / ((performance.now() - started) / 1000);
}
