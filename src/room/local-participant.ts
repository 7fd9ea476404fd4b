/** What the room layer needs from a connected session; the transport's Session implements it. */
import type { Grants } from "../auth/grants.js";
import type { LeaveReason } from "../protocol/events.js";

/**
 * One frame on its way to several local participants in a row (a broadcast, a room event). The transport may prepare
 * it once for all of them and keeps what it prepared here; the room layer only creates one per fan-out.
 */
export class Fanout {
  /** Receivers that have had the frame so far. */
  receivers = 0;
  /** The transport's prepared form of the frame (its wire bytes), made for the second receiver and reused after. */
  prepared: Buffer | undefined;
}

export interface LocalParticipant {
  readonly id: string;
  readonly sessionId: string;
  readonly room: string;
  readonly grants: Grants;
  /**
   * Queues an encoded frame for this participant; never throws (a slow consumer is closed instead). `fanout` when the
   * same frame goes to other local participants in the same breath.
   */
  send(frame: Uint8Array, fanout?: Fanout): void;
  /** Closes the socket; the room layer hears about it through `RoomNode.leave`. */
  close(code: number, reason: string, leaveReason: LeaveReason): void;
}
