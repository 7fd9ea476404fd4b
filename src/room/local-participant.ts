/** What the room layer needs from a connected session; the transport's Session implements it. */
import type { Grants } from "../auth/grants.js";
import type { LeaveReason } from "../protocol/events.js";

export interface LocalParticipant {
  readonly id: string;
  readonly sessionId: string;
  readonly room: string;
  readonly grants: Grants;
  /** Queues an encoded frame for this participant; never throws (a slow consumer is closed instead). */
  send(frame: Uint8Array): void;
  /** Closes the socket; the room layer hears about it through `RoomNode.leave`. */
  close(code: number, reason: string, leaveReason: LeaveReason): void;
}
