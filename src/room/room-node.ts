/**
 * The room layer of one node: joins and leaves, presence, delivery to one participant or to a whole room, and the
 * relay of tool calls. Participants may be on any node; the Bus carries what crosses nodes, and this class decides,
 * per message, whether the target is local (deliver now) or remote (publish). Handlers never see the difference.
 */
import { randomFillSync } from "node:crypto";
import type { Logger } from "pino";
import type { Bus, Channel } from "../bus/bus.js";
import type { NodeLiveness, ParticipantRecord, PresenceDirectory, ToolkitRecord } from "../bus/presence.js";
import { RoombusError, errorFromWire, type WireError } from "../protocol/errors.js";
import type { LeaveReason } from "../protocol/events.js";
import { decodeMsgpackMap, encodeMsgpack } from "../protocol/codec.js";
import { encodeEvent } from "../protocol/frames.js";
import { MAX_ATTRIBUTE_KEYS } from "../protocol/limits.js";
import type { Metrics } from "../metrics.js";
import type { LocalParticipant } from "./local-participant.js";
import type { ControlMessage, InboxMessage, NodeMessage, RoomMessage } from "./node-messages.js";
import { PendingRequests } from "./pending-requests.js";
import { RecentKeys } from "./recent-keys.js";
import { Room, toWireParticipant } from "./room.js";

/** Ended tool calls a node remembers (5,000 to 10,000), so a late answer gets 1006 rather than 1003. */
const ENDED_CALLS_PER_GENERATION = 5_000;

/** How long a sending node waits for a remote node to confirm a delivery. */
const REMOTE_DELIVERY_TIMEOUT_MS = 10_000;
export const DEFAULT_TOOL_CALL_TIMEOUT_MS = 60_000;

/** A tool call whose host is on this node, waiting for the host's `toolkits.respond`. */
interface HostedCall {
  room: string;
  hostParticipantId: string;
  requesterNode: string;
  expiresAt: number;
}

export interface RoomNodeDeps {
  bus: Bus<NodeMessage>;
  presence: PresenceDirectory;
  /** Which nodes are alive; a single node passes MemoryLiveness. */
  liveness: NodeLiveness;
  /** A node presumed dead after this long without a heartbeat (heartbeats go out three times as often). */
  nodeTtlMs: number;
  /** Seals answers that cross the bus (secret values, tokens). */
  sealer?: AnswerSealer;
  logger: Logger;
  metrics: Metrics;
}

/** Encrypts an answer for the bus, bound to its call id. */
export interface AnswerSealer {
  seal(callId: string, plaintext: Uint8Array): Uint8Array;
  open(callId: string, sealed: Uint8Array): Uint8Array;
}

export type Answer = { ok: true; result: unknown } | { ok: false; error: WireError };

/**
 * Ids' randomness is taken from a block the CSPRNG fills 4 KiB at a time: the same randomness as randomBytes per id,
 * without a call into it for every message and tool call (4 µs of a tool call's CPU, measured in the peer benchmark).
 */
const idRandomness = Buffer.alloc(4096);
let idRandomnessOffset = idRandomness.length;

export function newId(prefix: string, bytes = 16): string {
  if (idRandomnessOffset + bytes > idRandomness.length) {
    randomFillSync(idRandomness);
    idRandomnessOffset = 0;
  }
  const id = prefix + idRandomness.toString("base64url", idRandomnessOffset, idRandomnessOffset + bytes);
  idRandomnessOffset += bytes;
  return id;
}

export class RoomNode {
  readonly nodeId: string;
  readonly pending: PendingRequests;
  private readonly rooms = new Map<string, Room>();
  /** Rooms whose first local join is still loading the room's participants from the directory. */
  private readonly loading = new Map<string, Promise<Room>>();
  private readonly hostedCalls = new Map<string, HostedCall>();
  /** Departures being announced right now. */
  private readonly leaving = new Set<Promise<void>>();
  /** Ended calls by id → host participant id (insertion order = age). */
  /** Calls this node hosted that have ended, by call id → host participant id (for 1006 on a late answer). */
  private readonly endedCalls = new RecentKeys<string>(ENDED_CALLS_PER_GENERATION);
  private readonly sweepTimer: NodeJS.Timeout;
  private livenessTimer: NodeJS.Timeout | undefined;
  /** False after a heartbeat failed (the backend was unreachable): the next one that works re-announces presence. */
  private heartbeatOk = true;

  constructor(private readonly deps: RoomNodeDeps) {
    this.nodeId = deps.bus.nodeId;
    this.pending = new PendingRequests((size) => deps.metrics.pendingRequests.set(size));
    this.sweepTimer = setInterval(() => this.sweepHostedCalls(Date.now()), 10_000);
    this.sweepTimer.unref();
  }

  /** Called for every token id revoked on any node (the transport closes that token's sockets here). */
  onRevoke: (jti: string) => void = () => {};

  async start(): Promise<void> {
    await this.deps.bus.subscribe({ node: this.nodeId }, (message) => this.onInbox(message as InboxMessage));
    await this.deps.bus.subscribe({ everyNode: true }, (message) => {
      if ((message as ControlMessage).kind === "revoke") this.onRevoke((message as ControlMessage).jti);
    });
    await this.deps.liveness.heartbeat(this.nodeId, this.deps.nodeTtlMs);
    this.livenessTimer = setInterval(() => void this.tickLiveness(), Math.max(50, Math.floor(this.deps.nodeTtlMs / 3)));
    this.livenessTimer.unref();
  }

  /**
   * One liveness round: heartbeat; after an outage, put this node's participants back (another node may have removed
   * them while this node looked dead); then announce the participants of nodes that stopped heart-beating as left.
   */
  private async tickLiveness(): Promise<void> {
    try {
      await this.deps.liveness.heartbeat(this.nodeId, this.deps.nodeTtlMs);
    } catch {
      this.heartbeatOk = false;
      return;
    }
    try {
      if (!this.heartbeatOk) {
        this.heartbeatOk = true;
        await this.reannounce();
      }
      await this.removeDeadNodes();
    } catch (error) {
      this.deps.logger.warn({ err: error }, "liveness round failed");
    }
  }

  private async reannounce(): Promise<void> {
    for (const room of this.rooms.values()) {
      for (const id of room.local.keys()) {
        const record = room.participants.get(id);
        if (record === undefined) continue;
        await this.deps.presence.add(room.name, record);
        await this.publish({ room: room.name }, { kind: "joined", room: room.name, participant: record });
      }
    }
    this.deps.logger.info("presence re-announced after the backend came back");
  }

  private async removeDeadNodes(): Promise<void> {
    const { liveness, presence } = this.deps;
    for (const node of await liveness.listNodes()) {
      if (node === this.nodeId || (await liveness.isAlive(node))) continue;
      if (!(await liveness.claimDeadNode(node, this.nodeId, this.deps.nodeTtlMs))) continue;
      let removed = 0;
      for (const roomName of await liveness.roomsOf(node)) {
        for (const record of await presence.list(roomName)) {
          if (record.node !== node || !(await presence.remove(roomName, record.id))) continue;
          removed++;
          const room = this.rooms.get(roomName);
          if (room !== undefined) this.applyLeft(room, record.id, "node_lost");
          await this.publish({ room: roomName }, { kind: "left", room: roomName, participantId: record.id, reason: "node_lost" });
        }
      }
      await liveness.forgetNode(node);
      this.deps.logger.warn({ node, participants: removed }, "a node stopped heart-beating; its participants were announced as left");
    }
  }

  room(name: string): Room | undefined {
    return this.rooms.get(name);
  }

  get roomCount(): number {
    return this.rooms.size;
  }

  /** Adds a connected session to its room and sends it `room.ready`, then tells everyone else. */
  async join(participant: LocalParticipant): Promise<void> {
    const room = await this.openRoom(participant.room);
    const record: ParticipantRecord = {
      id: participant.id,
      identity: participant.grants.identity,
      role: participant.grants.role,
      attributes: {},
      node: this.nodeId,
      toolkits: [],
    };
    await this.deps.presence.add(room.name, record);
    room.participants.set(record.id, record);
    room.local.set(record.id, participant);
    // room.ready goes out in the same tick as the participant becomes reachable, so nothing can precede it.
    participant.send(
      encodeEvent("room.ready", {
        participant_id: participant.id,
        identity: record.identity,
        room: room.name,
        session_id: participant.sessionId,
        participants: room.wireParticipants(),
      }),
    );
    room.sendToLocals(encodeEvent("participant.joined", { participant: toWireParticipant(record) }), record.id);
    await this.publish({ room: room.name }, { kind: "joined", room: room.name, participant: record });
  }

  /** Removes a session that closed; idempotent. */
  async leave(participant: LocalParticipant, reason: LeaveReason): Promise<void> {
    const room = this.rooms.get(participant.room);
    if (room === undefined || room.local.get(participant.id) !== participant) return;
    room.local.delete(participant.id);
    this.applyLeft(room, participant.id, reason);
    for (const [callId, call] of this.hostedCalls) {
      if (call.hostParticipantId === participant.id) this.endHostedCall(callId);
    }
    if (room.local.size === 0) {
      // Issued synchronously, before any await, so a later join's subscribe is ordered after this unsubscribe.
      this.rooms.delete(room.name);
      this.deps.metrics.rooms.set(this.rooms.size);
      void this.deps.bus.unsubscribe({ room: room.name }).catch((error: unknown) => {
        this.deps.logger.warn({ err: error, room: room.name }, "could not unsubscribe from a room channel");
      });
    }
    // Announced and removed together; tracked so a shutdown waits for them before the bus closes.
    const announced = Promise.all([
      this.publish({ room: room.name }, { kind: "left", room: room.name, participantId: participant.id, reason }),
      this.deps.presence.remove(room.name, participant.id),
    ]).then(() => undefined);
    this.leaving.add(announced);
    try {
      await announced;
    } finally {
      this.leaving.delete(announced);
    }
  }

  /** Replaces a participant's attributes (null values remove a key) and announces the new set. */
  async setAttributes(participant: LocalParticipant, changes: Record<string, unknown>): Promise<void> {
    const { room, record } = this.localRecord(participant);
    const attributes = { ...record.attributes };
    for (const [key, value] of Object.entries(changes)) {
      if (value === null) delete attributes[key];
      else attributes[key] = value;
    }
    if (Object.keys(attributes).length > MAX_ATTRIBUTE_KEYS) {
      throw new RoombusError("too_large", `a participant has at most ${MAX_ATTRIBUTE_KEYS} attributes; remove some with null`);
    }
    const updated: ParticipantRecord = { ...record, attributes };
    await this.applyUpdate(room, updated, true);
  }

  async registerToolkit(participant: LocalParticipant, toolkit: ToolkitRecord): Promise<void> {
    const { room, record } = this.localRecord(participant);
    const toolkits = record.toolkits.filter((existing) => existing.name !== toolkit.name);
    toolkits.push(toolkit);
    await this.applyUpdate(room, { ...record, toolkits }, false);
  }

  /**
   * Delivers an encoded frame to one participant; resolves once the participant's node has it.
   * Unknown participant: 1003. Participant that left: 1010.
   */
  async deliver(room: Room, fromParticipantId: string, toParticipantId: string, frame: Uint8Array): Promise<void> {
    const target = this.findParticipant(room, toParticipantId);
    if (target.node === this.nodeId) {
      const local = room.local.get(target.id);
      if (local === undefined) throw gone();
      local.send(frame);
      return;
    }
    const ackId = newId("a_", 12);
    const acknowledged = this.pending.create<boolean>({
      id: ackId,
      requesterId: fromParticipantId,
      targetId: target.id,
      timeoutMs: REMOTE_DELIVERY_TIMEOUT_MS,
      timeoutMessage: "the participant's node did not confirm delivery in time",
    });
    await this.publish(
      { node: target.node },
      { kind: "deliver", room: room.name, toParticipantId: target.id, frame, ackNode: this.nodeId, ackId },
    );
    if (!(await acknowledged)) throw gone();
  }

  /** Sends an encoded frame to everyone in the room but the sender, on every node. */
  async broadcast(room: Room, fromParticipantId: string, frame: Uint8Array): Promise<void> {
    room.sendToLocals(frame, fromParticipantId);
    if (room.participants.size > room.local.size) {
      await this.publish({ room: room.name }, { kind: "broadcast", room: room.name, fromParticipantId, frame });
    }
  }

  /** Relays a tool call to its host and waits for the answer, the deadline, or the host leaving. */
  async invokeTool(
    room: Room,
    caller: LocalParticipant,
    request: { participantId: string; toolkit: string; tool: string; arguments: Record<string, unknown>; timeoutMs: number },
  ): Promise<unknown> {
    const host = this.findParticipant(room, request.participantId);
    const toolkit = host.toolkits.find((candidate) => candidate.name === request.toolkit);
    if (toolkit === undefined || !toolkit.tools.some((tool) => tool.name === request.tool)) {
      throw new RoombusError("not_found", "that participant has no such toolkit or tool");
    }
    const callId = newId("c_");
    const expiresAt = Date.now() + request.timeoutMs;
    const frame = encodeEvent("toolkits.call", {
      call_id: callId,
      from_participant_id: caller.id,
      from_identity: caller.grants.identity,
      toolkit: request.toolkit,
      tool: request.tool,
      arguments: request.arguments,
      expires_at: expiresAt,
    });
    const answer = this.pending.create<unknown>({
      id: callId,
      requesterId: caller.id,
      targetId: host.id,
      timeoutMs: request.timeoutMs,
      timeoutMessage: "the tool did not answer in time",
      onEnd: () => this.endHostedCall(callId),
    });
    if (host.node === this.nodeId) {
      const local = room.local.get(host.id);
      if (local === undefined) {
        this.pending.end(callId, "target_left", gone());
      } else {
        this.hostedCalls.set(callId, { room: room.name, hostParticipantId: host.id, requesterNode: this.nodeId, expiresAt });
        local.send(frame);
      }
    } else {
      await this.publish(
        { node: host.node },
        {
          kind: "call",
          room: room.name,
          callId,
          hostParticipantId: host.id,
          requesterNode: this.nodeId,
          requesterParticipantId: caller.id,
          expiresAt,
          frame,
        },
      );
    }
    return { result: await answer };
  }

  /** The host's answer to a tool call it received. */
  async answerTool(
    host: LocalParticipant,
    callId: string,
    answer: Answer,
  ): Promise<void> {
    const call = this.hostedCalls.get(callId);
    if (call === undefined || call.hostParticipantId !== host.id) {
      if (this.endedCalls.get(callId) === host.id) {
        throw new RoombusError("invalid_state", "this call already ended (answered, cancelled or past its deadline)");
      }
      throw new RoombusError("not_found", "no such call is waiting for this participant");
    }
    if (call.expiresAt <= Date.now()) {
      this.endHostedCall(callId);
      throw new RoombusError("invalid_state", "this call is past its deadline");
    }
    this.endHostedCall(callId);
    if (call.requesterNode === this.nodeId) {
      this.settleCall(callId, answer);
    } else {
      await this.publish({ node: call.requesterNode }, { kind: "answer", callId, ...answer });
    }
  }

  /** Revokes a token id on every node: here at once, elsewhere through the bus. */
  async revoke(jti: string): Promise<void> {
    this.onRevoke(jti);
    await this.publish({ everyNode: true }, { kind: "revoke", jti });
  }

  /**
   * Answers a waiting call wherever its requester is: on this node at once, on another through that node's inbox.
   * A `sealed` answer crosses the bus encrypted and bound to the call id (it may hold a secret value), so Redis and
   * its MONITOR never see it.
   */
  async settle(requesterNode: string, callId: string, answer: Answer, options: { sealed: boolean }): Promise<void> {
    if (requesterNode === this.nodeId) {
      this.settleCall(callId, answer);
      return;
    }
    if (options.sealed) {
      if (this.deps.sealer === undefined) throw new RoombusError("internal", "no answer sealer configured");
      const sealed = this.deps.sealer.seal(callId, encodeMsgpack(answer));
      await this.publish({ node: requesterNode }, { kind: "sealed_answer", callId, sealed });
    } else {
      await this.publish({ node: requesterNode }, { kind: "answer", callId, ...answer });
    }
  }

  async close(): Promise<void> {
    clearInterval(this.sweepTimer);
    clearInterval(this.livenessTimer);
    // Departures still being announced (a drain closes every socket at once) must reach the bus before it closes.
    await Promise.allSettled([...this.leaving]);
    this.pending.clear(new RoombusError("unavailable", "the server is shutting down"));
  }

  // ---- internals ----

  private async openRoom(name: string): Promise<Room> {
    const existing = this.rooms.get(name);
    if (existing !== undefined) return existing;
    let loading = this.loading.get(name);
    if (loading === undefined) {
      loading = (async () => {
        const room = new Room(name);
        // Subscribe before reading the directory, so no join that happens in between is missed.
        await this.deps.bus.subscribe({ room: name }, (message) => this.onRoomMessage(message as RoomMessage));
        for (const record of await this.deps.presence.list(name)) room.participants.set(record.id, record);
        this.rooms.set(name, room);
        this.deps.metrics.rooms.set(this.rooms.size);
        return room;
      })().finally(() => this.loading.delete(name));
      this.loading.set(name, loading);
    }
    return loading;
  }

  /** The participant with this id in the room; 1010 when it left recently, else 1003. */
  findParticipant(room: Room, participantId: string): ParticipantRecord {
    const target = room.participants.get(participantId);
    if (target !== undefined) return target;
    if (room.wasHere(participantId)) throw gone();
    throw new RoombusError("not_found", "no such participant in this room");
  }

  private localRecord(participant: LocalParticipant): { room: Room; record: ParticipantRecord } {
    const room = this.rooms.get(participant.room);
    const record = room?.participants.get(participant.id);
    if (room === undefined || record === undefined) throw new RoombusError("invalid_state", "not in the room");
    return { room, record };
  }

  private async applyUpdate(room: Room, updated: ParticipantRecord, attributesChanged: boolean): Promise<void> {
    room.participants.set(updated.id, updated);
    // Local delivery and the publish are issued before any await, so an update keeps its place among the sender's
    // later messages (PROTOCOL.md §5: per sender→receiver order).
    if (attributesChanged) {
      room.sendToLocals(
        encodeEvent("participant.attributes", { participant_id: updated.id, attributes: updated.attributes }),
      );
    }
    const published = this.publish({ room: room.name }, { kind: "updated", room: room.name, participant: updated, attributesChanged });
    await Promise.all([published, this.deps.presence.update(room.name, updated)]);
  }

  private applyLeft(room: Room, participantId: string, reason: LeaveReason): void {
    const record = room.participants.get(participantId);
    if (record === undefined) return;
    room.markLeft(participantId);
    room.sendToLocals(encodeEvent("participant.left", { participant_id: participantId, reason }));
    const identityStillPresent = [...room.participants.values()].some((other) => other.identity === record.identity);
    this.pending.participantLeft({ room: room.name, id: participantId, identity: record.identity }, identityStillPresent);
  }

  private settleCall(callId: string, answer: Answer): void {
    if (answer.ok) this.pending.resolve(callId, answer.result);
    else this.pending.reject(callId, errorFromWire(answer.error));
  }

  private async publish(channel: Channel, message: NodeMessage): Promise<void> {
    const started = performance.now();
    try {
      await this.deps.bus.publish(channel, message);
    } catch (error) {
      this.deps.logger.warn({ err: error }, "bus publish failed");
      throw new RoombusError("unavailable", "the message bus is unreachable; try again");
    }
    this.deps.metrics.busPublishDuration.observe((performance.now() - started) / 1000);
  }

  private onRoomMessage(message: RoomMessage): void {
    const room = this.rooms.get(message.room);
    if (room === undefined) return;
    switch (message.kind) {
      case "joined":
        room.participants.set(message.participant.id, message.participant);
        room.sendToLocals(encodeEvent("participant.joined", { participant: toWireParticipant(message.participant) }));
        break;
      case "left":
        this.applyLeft(room, message.participantId, message.reason);
        break;
      case "updated":
        room.participants.set(message.participant.id, message.participant);
        if (message.attributesChanged) {
          room.sendToLocals(
            encodeEvent("participant.attributes", {
              participant_id: message.participant.id,
              attributes: message.participant.attributes,
            }),
          );
        }
        break;
      case "broadcast":
        room.sendToLocals(message.frame, message.fromParticipantId);
        break;
    }
  }

  private onInbox(message: InboxMessage): void {
    switch (message.kind) {
      case "deliver": {
        const local = this.rooms.get(message.room)?.local.get(message.toParticipantId);
        local?.send(message.frame);
        void this.publish(
          { node: message.ackNode },
          { kind: "delivered", ackId: message.ackId, delivered: local !== undefined },
        ).catch((error: unknown) => this.deps.logger.warn({ err: error }, "could not confirm a delivery"));
        break;
      }
      case "delivered":
        this.pending.resolve(message.ackId, message.delivered);
        break;
      case "call": {
        const host = this.rooms.get(message.room)?.local.get(message.hostParticipantId);
        if (host === undefined) {
          void this.publish(
            { node: message.requesterNode },
            { kind: "answer", callId: message.callId, ok: false, error: gone().toWire() },
          ).catch((error: unknown) => this.deps.logger.warn({ err: error }, "could not answer a tool call"));
          break;
        }
        this.hostedCalls.set(message.callId, {
          room: message.room,
          hostParticipantId: message.hostParticipantId,
          requesterNode: message.requesterNode,
          expiresAt: message.expiresAt,
        });
        host.send(message.frame);
        break;
      }
      case "answer":
        this.settleCall(message.callId, message);
        break;
      case "sealed_answer": {
        const sealer = this.deps.sealer;
        if (sealer === undefined || !this.pending.has(message.callId)) break;
        try {
          const decoded = decodeMsgpackMap(sealer.open(message.callId, message.sealed));
          if (!decoded.ok) throw new Error(`sealed answer: ${decoded.reason}`);
          this.settleCall(message.callId, decoded.value as unknown as Answer);
        } catch (error) {
          this.deps.logger.error({ err: error, callId: message.callId }, "a sealed answer did not open");
          this.pending.reject(message.callId, new RoombusError("operation_failed", "the answer could not be read"));
        }
        break;
      }
    }
  }

  private sweepHostedCalls(now: number): void {
    for (const [callId, call] of this.hostedCalls) {
      if (call.expiresAt <= now) this.endHostedCall(callId);
    }
  }

  /** Forgets a hosted call but remembers, for a while, that it ended. */
  private endHostedCall(callId: string): void {
    const call = this.hostedCalls.get(callId);
    if (call === undefined) return;
    this.hostedCalls.delete(callId);
    this.endedCalls.set(callId, call.hostParticipantId);
  }
}

function gone(): RoombusError {
  return new RoombusError("participant_gone", "the participant left");
}
