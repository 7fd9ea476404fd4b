/** What both benchmark suites share: phases under a hard deadline, and number formatting for their tables. */
import type { ServerChild } from "./children.js";
import { SocketSet } from "./clients.js";

export interface PhaseContext {
  signal: AbortSignal;
  sockets: SocketSet;
  /** Runs `fn` every `ms` until the phase ends. */
  every(ms: number, fn: () => void): void;
}

export interface PhaseFailure {
  phase: string;
  error: string;
}

export interface PhaseRunner {
  /** Every phase that failed so far, in order. */
  failures: PhaseFailure[];
  /** Runs one phase under a hard deadline; a failure is recorded and the run goes on with the next phase. */
  run<T>(
    this: void,
    name: string,
    deadlineMs: number,
    child: ServerChild | undefined,
    body: (ctx: PhaseContext) => Promise<T>,
  ): Promise<T | undefined>;
}

export function createPhaseRunner(log: (line: string) => void): PhaseRunner {
  const failures: PhaseFailure[] = [];
  return {
    failures,
    async run<T>(
      name: string,
      deadlineMs: number,
      child: ServerChild | undefined,
      body: (ctx: PhaseContext) => Promise<T>,
    ): Promise<T | undefined> {
      const controller = new AbortController();
      const sockets = new SocketSet();
      const timers: NodeJS.Timeout[] = [];
      let deadlineTimer: NodeJS.Timeout | undefined;
      const deadline = new Promise<never>((_resolve, reject) => {
        deadlineTimer = setTimeout(() => reject(new Error(`over its ${deadlineMs / 1000} s deadline`)), deadlineMs);
      });
      const ctx: PhaseContext = {
        signal: controller.signal,
        sockets,
        every: (ms, fn) => void timers.push(setInterval(fn, ms)),
      };
      log(`${name}: start`);
      try {
        const racers: Promise<T>[] = [body(ctx), deadline];
        if (child !== undefined) racers.push(child.died);
        const result = await Promise.race(racers);
        log(`${name}: done`);
        return result;
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        failures.push({ phase: name, error: message });
        log(`${name}: FAILED: ${message}`);
        return undefined;
      } finally {
        clearTimeout(deadlineTimer);
        for (const timer of timers) clearInterval(timer);
        controller.abort();
        sockets.terminateAll();
      }
    },
  };
}

/** A whole number with thousands separators, or "n/a". */
export const int = (value: number): string => (Number.isFinite(value) ? Math.round(value).toLocaleString("en-US") : "n/a");
export const fixed = (value: number, digits = 1): string => (Number.isFinite(value) ? value.toFixed(digits) : "n/a");
