/**
 * What secret requests and OAuth requests share: a request record in the store that is finished exactly once, a
 * waiting call in the node's pending table with its deadline, the request shown to every session of the asked
 * identity, and `secrets.request_cancelled` when it ends without an answer.
 */
import { RoombusError } from "../protocol/errors.js";
import type { EventData } from "../protocol/events.js";
import { encodeEvent } from "../protocol/frames.js";
import type { LocalParticipant } from "../room/local-participant.js";
import type { EndReason } from "../room/pending-requests.js";
import type { Room } from "../room/room.js";
import { newId, type RoomNode } from "../room/room-node.js";
import type { RequestKind, RequestRecord } from "./secret-store.js";
import type { Vault } from "./vault.js";

type CancelReason = EventData<"secrets.request_cancelled">["reason"];

export interface OpenSpec {
  kind: RequestKind;
  asked: { id: string; identity: string };
  timeoutMs: number;
  timeoutMessage: string;
  details: Record<string, unknown>;
  /** Secret requests fail with 1010 when the asked identity leaves; OAuth requests survive the page navigating away. */
  failWhenAskedLeaves: boolean;
  /** The event the asked sessions receive, built from the record (for its id and deadline). */
  event(record: RequestRecord): Uint8Array;
}

export class RequestExchange {
  constructor(
    private readonly node: RoomNode,
    private readonly vault: Vault,
  ) {}

  /** Stores the request, shows it to the asked identity, and resolves with the answer (or the failure). */
  async open<T>(room: Room, requester: LocalParticipant, spec: OpenSpec): Promise<T> {
    const record: RequestRecord = {
      id: newId("rq_", 18),
      kind: spec.kind,
      room: room.name,
      requesterNode: this.node.nodeId,
      requesterParticipantId: requester.id,
      requesterIdentity: requester.grants.identity,
      askedParticipantId: spec.asked.id,
      askedIdentity: spec.asked.identity,
      expiresAt: Date.now() + spec.timeoutMs,
      details: spec.details,
    };
    await this.vault.guard(() => this.vault.store.createRequest(record));
    const answer = this.node.pending.create<T>({
      id: record.id,
      requesterId: requester.id,
      ...(spec.failWhenAskedLeaves ? { targetIdentity: { room: room.name, identity: spec.asked.identity } } : {}),
      timeoutMs: spec.timeoutMs,
      timeoutMessage: spec.timeoutMessage,
      onEnd: (reason) => void this.ended(record, reason),
    });
    // The caller awaits `answer`; this guard only keeps an early failure from being reported as unhandled.
    answer.catch(() => undefined);
    // Every session of the asked identity sees the request (a person may have the page open twice); any may answer.
    const frame = spec.event(record);
    const deliveries = await Promise.allSettled(
      sessionsOf(room, spec.asked.identity).map((session) => this.node.deliver(room, requester.id, session, frame)),
    );
    if (!deliveries.some((delivery) => delivery.status === "fulfilled")) {
      this.node.pending.end(record.id, "target_left", new RoombusError("participant_gone", "the participant left"));
    }
    return answer;
  }

  /** Reads a request for an answer: 1003 when there is none of this kind in this room. */
  async find(requestId: string, kind: RequestKind, room: string | undefined): Promise<{ record: RequestRecord; state: string }> {
    const found = await this.vault.guard(() => this.vault.store.getRequest(requestId));
    if (found === undefined || found.record.kind !== kind || (room !== undefined && found.record.room !== room)) {
      throw new RoombusError("not_found", "no such request");
    }
    return found;
  }

  /** Only sessions of the asked identity answer a request. */
  checkAnswerer(record: RequestRecord, answerer: LocalParticipant): void {
    if (record.askedIdentity !== answerer.grants.identity) {
      throw new RoombusError("permission_denied", "only the asked participant's identity may answer this request");
    }
  }

  /** Finishes a pending request; exactly one answer wins, every later one gets 1006. */
  async finish(requestId: string, state: "answered" | "rejected"): Promise<RequestRecord> {
    const finished = await this.vault.guard(() => this.vault.store.finishRequest(requestId, state));
    if (!finished.won) {
      throw finished.state === "not_found"
        ? new RoombusError("not_found", "no such request")
        : new RoombusError("invalid_state", `the request is already ${finished.state}`);
    }
    return finished.record;
  }

  /** Hands the answer to the waiting requester, on whichever node it is (sealed when it crosses the bus). */
  resolve(record: RequestRecord, value: unknown): Promise<void> {
    return this.node.settle(record.requesterNode, record.id, { ok: true, result: value }, { sealed: true });
  }

  reject(record: RequestRecord, error: RoombusError): Promise<void> {
    return this.node.settle(record.requesterNode, record.id, { ok: false, error: error.toWire() }, { sealed: true });
  }

  /**
   * The other sessions of the asked identity still show the prompt: close it there (`answered_elsewhere`, or
   * `cancelled` when the answer could not be used).
   */
  closePromptElsewhere(record: RequestRecord, answererId: string | undefined, reason: CancelReason = "answered_elsewhere"): void {
    void this.announceCancelled(record, reason, answererId);
  }

  /** A request that ended without an answer: record it, and let the asked participant's UI close the prompt. */
  private async ended(record: RequestRecord, reason: EndReason): Promise<void> {
    if (reason === "answered" || reason === "failed") return;
    await this.vault.store.finishRequest(record.id, reason === "timeout" ? "expired" : "cancelled").catch(() => undefined);
    if (reason === "target_left") return;
    await this.announceCancelled(record, reason === "timeout" ? "timeout" : reason === "requester_left" ? "requester_left" : "cancelled");
  }

  private async announceCancelled(record: RequestRecord, reason: CancelReason, exceptId?: string): Promise<void> {
    const room = this.node.room(record.room);
    if (room === undefined) return;
    const frame = encodeEvent("secrets.request_cancelled", { request_id: record.id, reason });
    const sessions = sessionsOf(room, record.askedIdentity).filter((session) => session !== exceptId);
    // A session may have left meanwhile; then there is no prompt to close.
    await Promise.allSettled(sessions.map((session) => this.node.deliver(room, session, session, frame)));
  }
}

/** The participant ids of every session of `identity` in the room. */
function sessionsOf(room: Room, identity: string): string[] {
  const ids: string[] = [];
  for (const participant of room.participants.values()) if (participant.identity === identity) ids.push(participant.id);
  return ids;
}
