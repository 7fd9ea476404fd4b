/**
 * Who is in a room, across nodes. Each node keeps its own view of the rooms it serves, fed by presence messages on
 * the Bus; the directory is the shared record a node reads when it starts serving a room, and the place where a
 * dead node's participants are found.
 */

export interface ToolkitRecord {
  name: string;
  tools: { name: string; description?: string }[];
}

export interface ParticipantRecord {
  id: string;
  identity: string;
  role: "user" | "agent" | "tool";
  attributes: Record<string, unknown>;
  /** The node holding this participant's socket. */
  node: string;
  toolkits: ToolkitRecord[];
}

export interface PresenceDirectory {
  add(room: string, participant: ParticipantRecord): Promise<void>;
  /** Resolves true when the participant was there (exactly one caller wins a removal). */
  remove(room: string, participantId: string): Promise<boolean>;
  /** Replaces the stored record; a no-op when the participant is gone. */
  update(room: string, participant: ParticipantRecord): Promise<void>;
  list(room: string): Promise<ParticipantRecord[]>;
  close(): Promise<void>;
}

export class MemoryPresence implements PresenceDirectory {
  private readonly rooms = new Map<string, Map<string, ParticipantRecord>>();

  async add(room: string, participant: ParticipantRecord): Promise<void> {
    let participants = this.rooms.get(room);
    if (participants === undefined) {
      participants = new Map();
      this.rooms.set(room, participants);
    }
    participants.set(participant.id, participant);
  }

  async remove(room: string, participantId: string): Promise<boolean> {
    const participants = this.rooms.get(room);
    if (participants === undefined) return false;
    const removed = participants.delete(participantId);
    if (participants.size === 0) this.rooms.delete(room);
    return removed;
  }

  async update(room: string, participant: ParticipantRecord): Promise<void> {
    const participants = this.rooms.get(room);
    if (participants?.has(participant.id) === true) participants.set(participant.id, participant);
  }

  async list(room: string): Promise<ParticipantRecord[]> {
    return [...(this.rooms.get(room)?.values() ?? [])];
  }

  async close(): Promise<void> {
    this.rooms.clear();
  }
}
