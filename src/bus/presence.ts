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

/**
 * Which nodes are alive, so that a surviving node can find a dead node's participants and announce them gone.
 *
 * The cleanup a node runs now and then: for each node of `listNodes()` other than itself that is not `isAlive`,
 * `claimDeadNode` (one survivor wins); the winner takes `roomsOf(dead)`, removes from each room's directory the
 * records whose `node` is the dead node (sending `participant.left` for each removal it wins), then `forgetNode`.
 */
export interface NodeLiveness {
  /** Marks the node alive for `ttlMs` and makes it known to `listNodes`; call it well within the TTL. */
  heartbeat(nodeId: string, ttlMs: number): Promise<void>;
  isAlive(nodeId: string): Promise<boolean>;
  /** Every node that has sent a heartbeat and has not been forgotten. */
  listNodes(): Promise<string[]>;
  /** The rooms where the node has (or recently had) participants; a superset, so the cleaner checks `node`. */
  roomsOf(nodeId: string): Promise<string[]>;
  /**
   * Takes the cleanup lock for a node presumed dead: resolves true for exactly one claimer until `ttlMs` pass (so a
   * claimer that dies mid-cleanup is replaced). Does not check liveness; the caller checks `isAlive` first.
   */
  claimDeadNode(deadNodeId: string, claimerId: string, ttlMs: number): Promise<boolean>;
  /** Drops a cleaned-up node from `listNodes` and its room bookkeeping. */
  forgetNode(nodeId: string): Promise<void>;
}

/** One node alone: nobody else to die. Every node is alive; a claim is granted once per node until forgotten. */
export class MemoryLiveness implements NodeLiveness {
  private readonly nodes = new Set<string>();
  private readonly claims = new Set<string>();

  async heartbeat(nodeId: string, _ttlMs: number): Promise<void> {
    this.nodes.add(nodeId);
  }

  async isAlive(_nodeId: string): Promise<boolean> {
    return true;
  }

  async listNodes(): Promise<string[]> {
    return [...this.nodes];
  }

  async roomsOf(_nodeId: string): Promise<string[]> {
    return [];
  }

  async claimDeadNode(deadNodeId: string, _claimerId: string, _ttlMs: number): Promise<boolean> {
    if (this.claims.has(deadNodeId)) return false;
    this.claims.add(deadNodeId);
    return true;
  }

  async forgetNode(nodeId: string): Promise<void> {
    this.nodes.delete(nodeId);
    this.claims.delete(nodeId);
  }
}
