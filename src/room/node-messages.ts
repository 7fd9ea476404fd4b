/**
 * Messages between nodes, as one discriminated union (like socket.io's adapter). Room-channel messages describe a
 * change every node serving the room applies; inbox messages are addressed to one node. Frames are encoded once by
 * the sending node and forwarded as bytes.
 */
import type { LeaveReason } from "../protocol/events.js";
import type { WireError } from "../protocol/errors.js";
import type { ParticipantRecord } from "../bus/presence.js";

export type RoomMessage =
  | { kind: "joined"; room: string; participant: ParticipantRecord }
  | { kind: "left"; room: string; participantId: string; reason: LeaveReason }
  | { kind: "updated"; room: string; participant: ParticipantRecord; attributesChanged: boolean }
  | { kind: "broadcast"; room: string; fromParticipantId: string; frame: Uint8Array };

export type InboxMessage =
  | { kind: "deliver"; room: string; toParticipantId: string; frame: Uint8Array; ackNode: string; ackId: string }
  | { kind: "delivered"; ackId: string; delivered: boolean }
  | {
      kind: "call";
      room: string;
      callId: string;
      hostParticipantId: string;
      requesterNode: string;
      requesterParticipantId: string;
      expiresAt: number;
      frame: Uint8Array;
    }
  | { kind: "answer"; callId: string; ok: true; result: unknown }
  | { kind: "answer"; callId: string; ok: false; error: WireError }
  /** An answer that may hold a secret: msgpack of `{ok, result | error}`, sealed bound to the call id. */
  | { kind: "sealed_answer"; callId: string; sealed: Uint8Array };

/** Heard by every node. */
export type ControlMessage = { kind: "revoke"; jti: string };

export type NodeMessage = RoomMessage | InboxMessage | ControlMessage;
