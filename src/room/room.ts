/** One node's view of one room: everyone in it (on any node), and the sessions this node holds. */
import type { ParticipantRecord } from "../bus/presence.js";
import type { Participant } from "../protocol/common.js";
import { Fanout, type LocalParticipant } from "./local-participant.js";
import { RecentKeys } from "./recent-keys.js";

/** Departed participant ids a room remembers (512 to 1,024), to answer 1010 rather than 1003 to a late send. */
const RECENTLY_LEFT_PER_GENERATION = 512;

export class Room {
  readonly participants = new Map<string, ParticipantRecord>();
  readonly local = new Map<string, LocalParticipant>();
  private readonly recentlyLeft = new RecentKeys(RECENTLY_LEFT_PER_GENERATION);

  constructor(readonly name: string) {}

  markLeft(participantId: string): void {
    this.participants.delete(participantId);
    this.recentlyLeft.set(participantId, true);
  }

  wasHere(participantId: string): boolean {
    return this.recentlyLeft.has(participantId);
  }

  /** Sends one encoded frame to every local participant but `exceptId`. */
  sendToLocals(frame: Uint8Array, exceptId?: string): void {
    const fanout = new Fanout();
    for (const [id, participant] of this.local) {
      if (id !== exceptId) participant.send(frame, fanout);
    }
  }

  wireParticipants(): Participant[] {
    return [...this.participants.values()].map(toWireParticipant);
  }
}

export function toWireParticipant(record: ParticipantRecord): Participant {
  return { id: record.id, identity: record.identity, role: record.role, attributes: record.attributes };
}
