/**
 * A lean Socket.IO client for the load generator: Engine.IO v4 over one raw `ws` socket, the default namespace, the
 * default (JSON text) parser, no binary attachments, no reconnection. It sends the same frames socket.io-client sends
 * over its websocket transport, without the client library's per-packet work, so the load generator costs the same
 * per message for both systems (roombus's side is raw `ws` plus src/protocol's codec).
 *
 * Frames (each WebSocket message is one Engine.IO packet): `0{…}` open, `2` ping (answered `3`), `4…` a Socket.IO
 * packet: `40{auth}` connect (the server answers `40{"sid":…}` or `44{"message":…}`), `42[ack id]["event",…]` an event,
 * `43<ack id>[…]` an acknowledgement. bench/peers/run.ts checks this client against socket.io-client once per run.
 */
import WebSocket from "ws";
import type { SocketSet } from "../lib/clients.js";

const CLIENT_OPTIONS = { perMessageDeflate: false, handshakeTimeout: 10_000 } as const;
const PING = 0x32; // "2"
const MESSAGE = 0x34; // "4"
const EVENT = 0x32; // "2" after "4"
const ACK = 0x33; // "3" after "4"

export type EventHandler = (event: string, args: unknown[], ackId: number | undefined) => void;
export type AckHandler = (ackId: number, args: unknown[]) => void;

export class SocketIoWire {
  /** Called for every event; acknowledge with `ack(ackId, …)` when `ackId` is set. */
  onEvent: EventHandler = () => undefined;
  /** Called for every acknowledgement of an `emitWithAck`, with the id it was sent with. */
  onAck: AckHandler = () => undefined;
  /** Called when a frame is not what the protocol allows. */
  onError: (error: Error) => void = () => undefined;
  /** Counting mode: events are counted here and not parsed (pings are still answered). */
  private countEvent: (() => void) | undefined;

  constructor(
    readonly ws: WebSocket,
    readonly id: string,
  ) {
    ws.on("message", (data: Buffer, isBinary: boolean) => this.onFrame(data, isBinary));
  }

  emit(event: string, ...args: unknown[]): void {
    this.ws.send("42" + JSON.stringify([event, ...args]));
  }

  /** Sends an event that asks for an acknowledgement; the answer arrives at `onAck` with this `ackId`. */
  emitWithAck(ackId: number, event: string, ...args: unknown[]): void {
    this.ws.send("42" + String(ackId) + JSON.stringify([event, ...args]));
  }

  ack(ackId: number, ...args: unknown[]): void {
    this.ws.send("43" + String(ackId) + JSON.stringify(args));
  }

  /** Counts events without parsing them (the broadcast receivers of W3); undefined parses them again. */
  countEvents(onEvent: (() => void) | undefined): void {
    this.countEvent = onEvent;
  }

  private onFrame(data: Buffer, isBinary: boolean): void {
    if (isBinary) {
      this.onError(new Error("binary frame from the Socket.IO server (no attachments are sent)"));
      return;
    }
    const kind = data[0];
    if (kind === PING && data.length === 1) {
      this.ws.send("3");
      return;
    }
    if (kind !== MESSAGE) return;
    const packet = data[1];
    if (packet === EVENT && this.countEvent !== undefined) {
      this.countEvent();
      return;
    }
    if (packet !== EVENT && packet !== ACK) return;
    const text = data.toString("utf8", 2);
    const bracket = text.indexOf("[");
    if (bracket < 0) {
      this.onError(new Error("a Socket.IO packet without its array"));
      return;
    }
    const ackId = bracket === 0 ? undefined : Number(text.slice(0, bracket));
    let args: unknown[];
    try {
      args = JSON.parse(text.slice(bracket)) as unknown[];
    } catch {
      this.onError(new Error("an undecodable Socket.IO packet"));
      return;
    }
    if (packet === ACK) {
      if (ackId === undefined) this.onError(new Error("an acknowledgement without its id"));
      else this.onAck(ackId, args);
      return;
    }
    this.onEvent(String(args[0]), args.slice(1), ackId);
  }
}

/** Opens a Socket.IO connection with `auth` and resolves once the server has accepted it (`40{"sid":…}`). */
export function connectSocketIo(
  port: number,
  auth: Record<string, unknown>,
  set: SocketSet,
  timeoutMs = 10_000,
): Promise<SocketIoWire> {
  return new Promise((resolve, reject) => {
    const ws = set.add(new WebSocket(`ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket`, CLIENT_OPTIONS));
    const fail = (error: Error): void => {
      clearTimeout(timer);
      ws.off("message", onHandshake);
      reject(error);
    };
    const timer = setTimeout(() => {
      ws.terminate();
      fail(new Error("no Socket.IO connect in time"));
    }, timeoutMs);
    // A listener stays for the socket's life: an 'error' event without one would crash the load generator.
    ws.on("error", fail);
    ws.once("close", (code) => fail(new Error(`socket closed (${code}) before the Socket.IO connect`)));
    const onHandshake = (data: Buffer): void => {
      const text = data.toString();
      if (text.startsWith("0{")) {
        ws.send("40" + JSON.stringify(auth));
      } else if (text === "2") {
        ws.send("3");
      } else if (text.startsWith("40{")) {
        clearTimeout(timer);
        ws.off("message", onHandshake);
        const { sid } = JSON.parse(text.slice(2)) as { sid: string };
        resolve(new SocketIoWire(ws, sid));
      } else if (text.startsWith("44")) {
        ws.terminate();
        fail(new Error(`the Socket.IO server refused the connection: ${text.slice(2, 200)}`));
      }
    };
    ws.on("message", onHandshake);
  });
}
