/**
 * The bounded loops the workloads are built from: an open-loop pacer (sends at their intended times, whatever the
 * answers do, so a stalled server cannot hide its delay), a bounded wait, and a wait for the machine to be quiet.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { fixed } from "../lib/phases.js";
import { sampleMachineBusy } from "../lib/system.js";

export interface PaceOptions {
  /** Sends per second. */
  rate: number;
  /** Sends in all; send k is intended at `startedAt + k / rate`. */
  total: number;
  signal: AbortSignal;
  /** Checked before each send: returning false stops the pacer (the server fell too far behind). */
  mayContinue?: () => boolean;
}

export interface Pacing {
  /** Intended time of send k (performance.now() clock). */
  intendedAt(k: number): number;
  /** Resolves once every send went out, or the pacer stopped; to how many went out. */
  done: Promise<number>;
  /** How late sends left against their intended time, ms, one sample per send so far. */
  lags: Float64Array;
}

/**
 * Sends on a schedule. Node's timers fire at best every millisecond, so the sends of one millisecond leave together
 * and each is up to ~1 ms late: `lags` measures that, and latency counts from the intended time, lag included.
 */
export function pace(options: PaceOptions, send: (k: number) => void): Pacing {
  const startedAt = performance.now() + 1;
  const interval = 1000 / options.rate;
  const intendedAt = (k: number): number => startedAt + k * interval;
  const lags = new Float64Array(options.total);
  let next = 0;
  const done = new Promise<number>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      const due = Math.min(options.total, Math.floor((now - startedAt) / interval) + 1);
      while (next < due) {
        if (options.signal.aborted || (options.mayContinue !== undefined && !options.mayContinue())) {
          resolve(next);
          return;
        }
        lags[next] = now - intendedAt(next);
        send(next);
        next++;
      }
      if (next >= options.total) {
        resolve(next);
        return;
      }
      setTimeout(tick, Math.max(0, intendedAt(next) - performance.now()));
    };
    setTimeout(tick, 1);
  });
  return { intendedAt, done, lags: lags };
}

/** Polls `condition` every 5 ms until it holds or `timeoutMs` passes; resolves to whether it held. */
export async function waitFor(condition: () => boolean, timeoutMs: number, signal: AbortSignal): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline || signal.aborted) return false;
    await sleep(5);
  }
  return true;
}

/** Resolves to true once `count` has not moved for `quietMs`, or false after `timeoutMs`. */
export async function waitForSilence(count: () => number, quietMs: number, timeoutMs: number, signal: AbortSignal): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  let last = count();
  let quietSince = performance.now();
  while (performance.now() < deadline && !signal.aborted) {
    await sleep(50);
    const now = count();
    if (now !== last) {
      last = now;
      quietSince = performance.now();
    } else if (performance.now() - quietSince >= quietMs) {
      return true;
    }
  }
  return false;
}

/** Load from elsewhere on the machine above this, in percent of one core, is worth waiting out. */
export const QUIET_THRESHOLD_PERCENT = 25;

/** Waits (at most `maxMs`) until the rest of the machine is quiet; the bench's own processes are idle meanwhile. */
export async function waitForQuiet(maxMs: number, log: (line: string) => void): Promise<number | undefined> {
  const until = performance.now() + maxMs;
  let busy = await sampleMachineBusy(250);
  if (busy === undefined || busy < QUIET_THRESHOLD_PERCENT) return busy;
  log(`the machine is busy with other work (${fixed(busy, 0)}% of a core); waiting up to ${maxMs / 1000} s`);
  while (busy !== undefined && busy >= QUIET_THRESHOLD_PERCENT && performance.now() < until) {
    busy = await sampleMachineBusy(500);
  }
  if (busy !== undefined && busy >= QUIET_THRESHOLD_PERCENT) log(`still busy (${fixed(busy, 0)}%); measuring anyway`);
  return busy;
}
