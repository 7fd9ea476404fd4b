/**
 * request_secret / provide_secret / reject_secret (PROTOCOL.md §6 "request_secret"), on the shared request
 * machinery of request-exchange.ts.
 */
import { RoombusError } from "../protocol/errors.js";
import { encodeEvent } from "../protocol/frames.js";
import type { OpArgs, OpResult } from "../protocol/ops.js";
import type { LocalParticipant } from "../room/local-participant.js";
import type { Room } from "../room/room.js";
import type { RoomNode } from "../room/room-node.js";
import type { RequestExchange } from "./request-exchange.js";
import { DEFAULT_SECRET_TYPE, type Vault } from "./vault.js";

export const DEFAULT_REQUEST_TIMEOUT_MS = 300_000;

interface SecretRequestDetails {
  url: string;
  type: string;
  delegate_to: string | null;
}

export class SecretExchange {
  constructor(
    private readonly node: RoomNode,
    private readonly vault: Vault,
    private readonly requests: RequestExchange,
  ) {}

  async request(
    room: Room,
    requester: LocalParticipant,
    args: OpArgs<"secrets.request_secret">,
  ): Promise<OpResult<"secrets.request_secret">> {
    const asked = this.node.findParticipant(room, args.participant_id);
    const type = args.type ?? DEFAULT_SECRET_TYPE;
    if (args.refresh !== true) {
      const stored = await this.vault.read({
        kind: "requested",
        room: room.name,
        owner: requester.grants.identity,
        url: args.url,
        type,
        delegatedTo: args.delegate_to,
      });
      if (stored !== undefined) return { data: stored.data, type: stored.record.type };
    }
    const details: SecretRequestDetails = { url: args.url, type, delegate_to: args.delegate_to ?? null };
    return this.requests.open(room, requester, {
      kind: "secret",
      asked,
      timeoutMs: args.timeout_ms ?? DEFAULT_REQUEST_TIMEOUT_MS,
      timeoutMessage: "the participant did not answer the secret request in time",
      details: { ...details },
      failWhenAskedLeaves: true,
      event: (record) =>
        encodeEvent("secrets.request_secret", {
          request_id: record.id,
          from_participant_id: requester.id,
          from_identity: requester.grants.identity,
          url: args.url,
          type,
          delegate_to: args.delegate_to,
          prompt: args.prompt,
          expires_at: record.expiresAt,
        }),
    });
  }

  async provide(room: Room, answerer: LocalParticipant, args: OpArgs<"secrets.provide_secret">): Promise<void> {
    const record = await this.claim(room, answerer, args.request_id, "answered");
    const details = record.details as unknown as SecretRequestDetails;
    try {
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
    } catch (error) {
      // The answer won but could not be stored: tell the requester now rather than at its deadline.
      await this.requests.reject(record, error instanceof RoombusError ? error : new RoombusError("unavailable", "the value could not be stored"));
      throw error;
    }
    await this.requests.resolve(record, { data: args.data, type: details.type });
    this.requests.closePromptElsewhere(record, answerer.id);
  }

  async reject(room: Room, answerer: LocalParticipant, args: OpArgs<"secrets.reject_secret">): Promise<void> {
    const record = await this.claim(room, answerer, args.request_id, "rejected");
    const because = args.reason === undefined || args.reason.length === 0 ? "" : `: ${args.reason}`;
    await this.requests.reject(record, new RoombusError("permission_denied", `the participant declined the request${because}`));
    this.requests.closePromptElsewhere(record, answerer.id);
  }

  private async claim(room: Room, answerer: LocalParticipant, requestId: string, state: "answered" | "rejected") {
    const found = await this.requests.find(requestId, "secret", room.name);
    this.requests.checkAnswerer(found.record, answerer);
    if (found.state !== "pending") throw new RoombusError("invalid_state", `the request is already ${found.state}`);
    return this.requests.finish(requestId, state);
  }
}
