/**
 * request_secret / provide_secret / reject_secret (PROTOCOL.md §6 "request_secret"). The request record lives in
 * the store and is finished exactly once; the waiting call lives in the node's pending table with its deadline.
 */
import type { LocalParticipant } from "../room/local-participant.js";
import type { Room } from "../room/room.js";
import { newId, type RoomNode } from "../room/room-node.js";
import type { EndReason } from "../room/pending-requests.js";
import { RoombusError } from "../protocol/errors.js";
import type { EventData } from "../protocol/events.js";
import { encodeEvent } from "../protocol/frames.js";
import type { OpArgs, OpResult } from "../protocol/ops.js";
import type { RequestRecord } from "./secret-store.js";
import { DEFAULT_SECRET_TYPE, type Vault } from "./vault.js";

export const DEFAULT_REQUEST_TIMEOUT_MS = 300_000;

type CancelReason = EventData<"secrets.request_cancelled">["reason"];

export class SecretExchange {
  constructor(
    private readonly node: RoomNode,
    private readonly vault: Vault,
  ) {}

  async request(
    room: Room,
    requester: LocalParticipant,
    args: OpArgs<"secrets.request_secret">,
  ): Promise<OpResult<"secrets.request_secret">> {
    const asked = this.node.findParticipant(room, args.participant_id);
    const type = args.type ?? DEFAULT_SECRET_TYPE;
    const key = {
      kind: "requested" as const,
      room: room.name,
      owner: requester.grants.identity,
      url: args.url,
      type,
      delegatedTo: args.delegate_to,
    };
    if (args.refresh !== true) {
      const stored = await this.vault.read(key);
      if (stored !== undefined) return { data: stored.data, type: stored.record.type };
    }

    const timeoutMs = args.timeout_ms ?? DEFAULT_REQUEST_TIMEOUT_MS;
    const record: RequestRecord = {
      id: newId("rq_", 18),
      kind: "secret",
      room: room.name,
      requesterNode: this.node.nodeId,
      requesterParticipantId: requester.id,
      requesterIdentity: requester.grants.identity,
      askedParticipantId: asked.id,
      askedIdentity: asked.identity,
      expiresAt: Date.now() + timeoutMs,
      details: { url: args.url, type, delegate_to: args.delegate_to ?? null },
    };
    await this.vault.guard(() => this.vault.store.createRequest(record));
    const answer = this.node.pending.create<OpResult<"secrets.request_secret">>({
      id: record.id,
      requesterId: requester.id,
      targetIdentity: { room: room.name, identity: asked.identity },
      timeoutMs,
      timeoutMessage: "the participant did not answer the secret request in time",
      onEnd: (reason) => void this.ended(room, record, reason),
    });
    // The caller awaits `answer` below; this guard only keeps an early failure from being reported as unhandled.
    answer.catch(() => undefined);
    const event: EventData<"secrets.request_secret"> = {
      request_id: record.id,
      from_participant_id: requester.id,
      from_identity: requester.grants.identity,
      url: args.url,
      type,
      delegate_to: args.delegate_to,
      prompt: args.prompt,
      expires_at: record.expiresAt,
    };
    // Every session of the asked identity sees the request (a person may have the page open twice); any may answer.
    const frame = encodeEvent("secrets.request_secret", event);
    const deliveries = await Promise.allSettled(
      sessionsOf(room, asked.identity).map((session) => this.node.deliver(room, requester.id, session, frame)),
    );
    if (!deliveries.some((delivery) => delivery.status === "fulfilled")) {
      this.node.pending.end(record.id, "target_left", new RoombusError("participant_gone", "the participant left"));
    }
    return answer;
  }

  async provide(room: Room, answerer: LocalParticipant, args: OpArgs<"secrets.provide_secret">): Promise<void> {
    const record = await this.claim(room, answerer, args.request_id, "answered");
    const details = record.details as { url: string; type: string; delegate_to: string | null };
    await this.vault.write(
      {
        kind: "requested",
        room: room.name,
        owner: record.requesterIdentity,
        url: details.url,
        type: details.type,
        delegatedTo: details.delegate_to ?? undefined,
      },
      { data: args.data, type: details.type },
    );
    this.node.pending.resolve(record.id, { data: args.data, type: details.type });
    this.closePromptElsewhere(room, record, answerer);
  }

  async reject(room: Room, answerer: LocalParticipant, args: OpArgs<"secrets.reject_secret">): Promise<void> {
    const record = await this.claim(room, answerer, args.request_id, "rejected");
    const because = args.reason === undefined || args.reason.length === 0 ? "" : `: ${args.reason}`;
    this.node.pending.reject(record.id, new RoombusError("permission_denied", `the participant declined the request${because}`));
    this.closePromptElsewhere(room, record, answerer);
  }

  /** Checks that `answerer` may answer, then finishes the request; exactly one answer wins. */
  private async claim(
    room: Room,
    answerer: LocalParticipant,
    requestId: string,
    state: "answered" | "rejected",
  ): Promise<RequestRecord> {
    const found = await this.vault.guard(() => this.vault.store.getRequest(requestId));
    if (found === undefined || found.record.room !== room.name || found.record.kind !== "secret") {
      throw new RoombusError("not_found", "no such secret request");
    }
    if (found.record.askedIdentity !== answerer.grants.identity) {
      throw new RoombusError("permission_denied", "only the asked participant's identity may answer this request");
    }
    if (found.state !== "pending") throw new RoombusError("invalid_state", `the request is already ${found.state}`);
    const finished = await this.vault.guard(() => this.vault.store.finishRequest(requestId, state));
    if (!finished.won) {
      throw finished.state === "not_found"
        ? new RoombusError("not_found", "no such secret request")
        : new RoombusError("invalid_state", `the request is already ${finished.state}`);
    }
    if (finished.record.requesterNode !== this.node.nodeId) {
      throw new RoombusError("unavailable", "the requester is connected to another node, which this server cannot reach");
    }
    return finished.record;
  }

  /** A request that ended without an answer: record it, and let the asked participant's UI close the prompt. */
  private async ended(room: Room, record: RequestRecord, reason: EndReason): Promise<void> {
    if (reason === "answered" || reason === "failed") return;
    const cancelReason: CancelReason =
      reason === "timeout" ? "timeout" : reason === "requester_left" ? "requester_left" : "cancelled";
    await this.vault.store.finishRequest(record.id, reason === "timeout" ? "expired" : "cancelled").catch(() => undefined);
    if (reason === "target_left") return;
    await this.announceCancelled(room, record, cancelReason);
  }

  /** The other sessions of the asked identity still show the prompt: close it there. */
  private closePromptElsewhere(room: Room, record: RequestRecord, answerer: LocalParticipant): void {
    void this.announceCancelled(room, record, "answered_elsewhere", answerer.id);
  }

  private async announceCancelled(room: Room, record: RequestRecord, reason: CancelReason, exceptId?: string): Promise<void> {
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
