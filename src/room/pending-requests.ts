/**
 * Calls that wait for another participant: tool calls, remote delivery acknowledgements, and (later) secret and
 * OAuth requests. One table per node holds each waiting call with its deadline, and ends it exactly once: answered,
 * failed, timed out, or cancelled because one of the two parties left.
 */
import { RoombusError } from "../protocol/errors.js";

export type EndReason = "answered" | "failed" | "timeout" | "requester_left" | "target_left" | "cancelled";

export interface PendingSpec {
  id: string;
  /** The participant whose call is waiting; when it leaves, the call is cancelled. */
  requesterId: string;
  /**
   * The participant expected to answer; when it leaves, the call fails with 1010. Leave unset for calls that
   * survive the target's socket dropping (OAuth) or that decide for themselves (`onTargetLeft`).
   */
  targetId?: string;
  /**
   * The identity expected to answer, when any of its sessions may: the call fails with 1010 only when the last
   * session of that identity leaves the room.
   */
  targetIdentity?: { room: string; identity: string };
  timeoutMs: number;
  /** What the requester sees at the deadline. */
  timeoutMessage?: string;
  /** Called once when the call ends for any reason other than an answer (e.g. to tell the asked side). */
  onEnd?: (reason: EndReason) => void;
}

interface Entry {
  spec: PendingSpec;
  timer: NodeJS.Timeout;
  resolve: (value: unknown) => void;
  reject: (error: RoombusError) => void;
}

export class PendingRequests {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly onSizeChange: (size: number) => void = () => {}) {}

  get size(): number {
    return this.entries.size;
  }

  has(id: string): boolean {
    return this.entries.has(id);
  }

  /** Registers a waiting call; the promise settles exactly once. */
  create<T>(spec: PendingSpec): Promise<T> {
    if (this.entries.has(spec.id)) throw new RoombusError("internal", "duplicate pending request id");
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.end(
          spec.id,
          "timeout",
          new RoombusError("timeout", spec.timeoutMessage ?? "the participant did not answer in time"),
        );
      }, spec.timeoutMs);
      timer.unref();
      this.entries.set(spec.id, { spec, timer, resolve: resolve as (value: unknown) => void, reject });
      this.onSizeChange(this.entries.size);
    });
  }

  /** Answers a call; false when it already ended. */
  resolve(id: string, value: unknown): boolean {
    const entry = this.take(id);
    if (entry === undefined) return false;
    entry.resolve(value);
    return true;
  }

  /** Fails a call with the answerer's error; false when it already ended. */
  reject(id: string, error: RoombusError): boolean {
    return this.end(id, "failed", error);
  }

  /** Ends a call for a reason other than an answer. */
  end(id: string, reason: Exclude<EndReason, "answered">, error: RoombusError): boolean {
    const entry = this.take(id);
    if (entry === undefined) return false;
    entry.reject(error);
    entry.spec.onEnd?.(reason);
    return true;
  }

  /**
   * A participant left: cancel what it was waiting for, and fail what was waiting for it (or for its identity, when
   * `identityStillPresent` is false).
   */
  participantLeft(left: { room: string; id: string; identity: string }, identityStillPresent: boolean): void {
    for (const [id, entry] of this.entries) {
      const { requesterId, targetId, targetIdentity } = entry.spec;
      if (requesterId === left.id) {
        this.end(id, "requester_left", new RoombusError("participant_gone", "the requester left"));
      } else if (
        targetId === left.id ||
        (!identityStillPresent && targetIdentity?.room === left.room && targetIdentity.identity === left.identity)
      ) {
        this.end(id, "target_left", new RoombusError("participant_gone", "the participant left before answering"));
      }
    }
  }

  /** Ends everything (shutdown). */
  clear(error: RoombusError): void {
    for (const id of [...this.entries.keys()]) this.end(id, "cancelled", error);
  }

  private take(id: string): Entry | undefined {
    const entry = this.entries.get(id);
    if (entry === undefined) return undefined;
    this.entries.delete(id);
    clearTimeout(entry.timer);
    this.onSizeChange(this.entries.size);
    return entry;
  }
}
