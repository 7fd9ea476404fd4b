/** What every workload gets from the run: the plan, the log, the profiler hook, and a wait for a quiet machine. */
import type { ServerChild } from "../lib/children.js";
import type { Plan } from "./plan.js";

export interface BenchContext {
  plan: Plan;
  log: (line: string) => void;
  /** Runs `work` with the servers' CPU profiler on when --profile was given, and keeps a summary under `label`. */
  profiled<T>(label: string, servers: readonly ServerChild[], work: () => Promise<T>): Promise<T>;
  /** Waits (boundedly) for the rest of the machine to be quiet before a measured window. */
  quiet(): Promise<void>;
}

/** The first failure of callbacks in a phase (a bad answer, a refused request), rethrown where the phase waits. */
export class FailureHolder {
  error: Error | undefined;

  readonly fail = (error: Error): void => {
    this.error ??= error;
  };

  throwIfFailed(): void {
    if (this.error !== undefined) throw this.error;
  }
}
