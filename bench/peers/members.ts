/**
 * One participant of a workload, whatever the system: the load generator's side of W1-W5 written once. roombus
 * members speak the wire protocol through src/protocol's codec on raw `ws` sockets; Socket.IO members speak Engine.IO
 * and Socket.IO frames on raw `ws` sockets (socketio-wire.ts). Each workload plays one role per member:
 *
 * - host (W1, W2): answers every request with its payload: roombus `toolkits.call` → `toolkits.respond`; Socket.IO
 *   a `request` event → its acknowledgement;
 * - caller (W1, W2): `request(hostId, seq)`: roombus `toolkits.invoke`, Socket.IO `emitWithAck("request")`; `onAnswer`
 *   fires with the seq when the answer is back (the request id / ack id is the seq, so no table is needed);
 * - publisher (W3, W5): `broadcast(seq, pad)`: roombus `messaging.broadcast`, Socket.IO a `broadcast` event;
 * - receiver (W3, W5): `readMessages` (decodes each message's seq) or `countMessages` (counts frames, decodes none).
 */
import type WebSocket from "ws";
import { decodeServerFrame, encodeRequest, type ServerFrame } from "../../src/protocol/frames.js";
import type { RoombusConnection } from "../lib/clients.js";
import type { SocketIoWire } from "./socketio-wire.js";

export const TOOLKIT = "bench";
export const TOOL = "echo";
/** The relay's deadline on both systems (the Socket.IO server uses the same). */
export const REQUEST_TIMEOUT_MS = 10_000;

export interface Payload {
  seq: number;
  pad: string;
}

export interface Member {
  /** roombus participant id, or Socket.IO socket id: what a caller addresses. */
  readonly id: string;
  readonly ws: WebSocket;
  /** Fires with the seq of each answer (W1, W2) or broadcast acknowledgement (roombus only). */
  onAnswer: (seq: number) => void;
  /** A response that is an error, an answer that is not the request's, an undecodable frame. */
  onError: (error: Error) => void;
  /** roombus only: a participant left the room (W5 sees the slow reader go). */
  onLeft: (participantId: string, reason: string) => void;
  /** Starts answering requests; resolves once a caller that joins afterwards can reach this host. */
  host(): Promise<void>;
  request(hostId: string, seq: number, pad: string): void;
  broadcast(seq: number, pad: string): void;
  /** Decodes every message for its seq (and stops counting). */
  readMessages(onMessage: (seq: number) => void): void;
  /** Counts every frame without decoding it (and stops reading). */
  countMessages(onMessage: () => void): void;
}

const noop = (): void => undefined;
/** Ids of the member's own control requests (`toolkits.register`, `toolkits.respond`), far above any seq. */
const CONTROL_ID_BASE = 0xf000_0000;

export class RoombusMember implements Member {
  onAnswer: (seq: number) => void = noop;
  onError: (error: Error) => void = noop;
  onLeft: (participantId: string, reason: string) => void = noop;
  readonly id: string;
  readonly ws: WebSocket;
  private onMessage: ((seq: number) => void) | undefined;
  private onCount: (() => void) | undefined;
  private hosting = false;
  private nextControlId = CONTROL_ID_BASE;
  private readonly waiting = new Map<number, (frame: ServerFrame) => void>();

  constructor(connection: RoombusConnection) {
    this.id = connection.participantId;
    this.ws = connection.ws;
    this.ws.on("message", (data: Buffer) => this.onFrame(data));
  }

  async host(): Promise<void> {
    this.hosting = true;
    const id = this.nextControlId++;
    const answered = new Promise<ServerFrame>((resolve) => this.waiting.set(id, resolve));
    this.ws.send(encodeRequest(id, "toolkits.register", { name: TOOLKIT, tools: [{ name: TOOL }] }));
    const frame = await answered;
    if (frame.t === "res" && !frame.ok) throw new Error(`toolkits.register answered ${frame.error.name}`);
  }

  request(hostId: string, seq: number, pad: string): void {
    this.ws.send(
      encodeRequest(seq, "toolkits.invoke", {
        participant_id: hostId,
        toolkit: TOOLKIT,
        tool: TOOL,
        arguments: { seq, pad } satisfies Payload,
        timeout_ms: REQUEST_TIMEOUT_MS,
      }),
    );
  }

  broadcast(seq: number, pad: string): void {
    this.ws.send(encodeRequest(seq, "messaging.broadcast", { type: "bench", message: { seq, pad } satisfies Payload }));
  }

  readMessages(onMessage: (seq: number) => void): void {
    this.onCount = undefined;
    this.onMessage = onMessage;
  }

  countMessages(onMessage: () => void): void {
    this.onCount = onMessage;
  }

  private onFrame(data: Buffer): void {
    if (this.onCount !== undefined) {
      this.onCount();
      return;
    }
    const frame = decodeServerFrame(data);
    if (frame === undefined) {
      this.onError(new Error("undecodable roombus frame"));
      return;
    }
    if (frame.t === "res") {
      if (this.waiting.size > 0) {
        const resolve = this.waiting.get(frame.id);
        this.waiting.delete(frame.id);
        if (resolve !== undefined) return resolve(frame);
      }
      if (!frame.ok) {
        this.onError(new Error(`request ${frame.id} answered ${frame.error.code} ${frame.error.name}: ${frame.error.message}`));
        return;
      }
      if (frame.id >= CONTROL_ID_BASE) return;
      // toolkits.invoke answers {result: <what the host answered>}; broadcast answers {}.
      const answered = (frame.result as { result?: Partial<Payload> }).result;
      if (answered !== undefined && answered.seq !== frame.id) {
        this.onError(new Error(`answer to ${frame.id} carried seq ${String(answered.seq)}`));
        return;
      }
      this.onAnswer(frame.id);
      return;
    }
    switch (frame.ev) {
      case "messaging.message":
        this.onMessage?.((frame.data.message as Payload).seq);
        break;
      case "toolkits.call":
        if (this.hosting) {
          this.ws.send(
            encodeRequest(this.nextControlId++, "toolkits.respond", { call_id: frame.data.call_id, result: frame.data.arguments }),
          );
        }
        break;
      case "participant.left":
        this.onLeft(String(frame.data.participant_id), String(frame.data.reason));
        break;
    }
  }
}

export class SocketIoMember implements Member {
  onAnswer: (seq: number) => void = noop;
  onError: (error: Error) => void = noop;
  onLeft: (participantId: string, reason: string) => void = noop;
  readonly id: string;
  readonly ws: WebSocket;
  private onMessage: ((seq: number) => void) | undefined;
  private hosting = false;

  constructor(private readonly wire: SocketIoWire) {
    this.id = wire.id;
    this.ws = wire.ws;
    wire.onError = (error) => this.onError(error);
    wire.onAck = (ackId, args) => {
      const answered = args[0] as Partial<Payload> & { error?: string };
      if (answered.seq !== ackId) {
        this.onError(new Error(`answer to ${ackId} was ${JSON.stringify(answered).slice(0, 80)}`));
        return;
      }
      this.onAnswer(ackId);
    };
    wire.onEvent = (event, args, ackId) => {
      if (event === "message") this.onMessage?.((args[0] as Payload).seq);
      else if (event === "request" && this.hosting && ackId !== undefined) wire.ack(ackId, args[0]);
    };
  }

  host(): Promise<void> {
    this.hosting = true;
    return Promise.resolve();
  }

  request(hostId: string, seq: number, pad: string): void {
    this.wire.emitWithAck(seq, "request", hostId, { seq, pad } satisfies Payload);
  }

  broadcast(seq: number, pad: string): void {
    this.wire.emit("broadcast", { seq, pad } satisfies Payload);
  }

  readMessages(onMessage: (seq: number) => void): void {
    this.wire.countEvents(undefined);
    this.onMessage = onMessage;
  }

  countMessages(onMessage: () => void): void {
    this.wire.countEvents(onMessage);
  }
}
