/**
 * How frames leave a node, for every session at once: the end of each turn of the event loop (when held writes go
 * out), and broadcasts, whose one payload goes to many sockets.
 *
 * A broadcast hands the same encoded payload to every receiving session in a row, with one `Fanout` for them all. For
 * the second receiver the payload is framed once (RFC 6455 §5.2: a final binary frame, unmasked as every server frame
 * is) and that one buffer is written to each socket from then on, instead of `ws` building a header per socket and
 * writing header and payload as two chunks. Those writes are also held to the end of the turn, so a receiver that
 * gets several messages in one turn gets them in one system call. The first receiver's write leaves at once, as any
 * first frame of a turn does.
 */
import type { Socket } from "node:net";
import type { Fanout } from "../room/local-participant.js";

const FIN_BINARY = 0x82;

/** The complete WebSocket frame of a binary message sent by a server. */
export function encodeBinaryFrame(payload: Uint8Array): Buffer {
  const length = payload.byteLength;
  const headerLength = length < 126 ? 2 : length < 0x1_0000 ? 4 : 10;
  const frame = Buffer.allocUnsafe(headerLength + length);
  frame[0] = FIN_BINARY;
  if (length < 126) {
    frame[1] = length;
  } else if (length < 0x1_0000) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(length / 0x1_0000_0000), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  frame.set(payload, headerLength);
  return frame;
}

/**
 * The framed bytes of `payload` for this receiver of a fan-out, built once for all of them; undefined for a plain
 * send and for a fan-out's first receiver, whose frame `ws` frames as usual.
 */
export function framedForFanout(payload: Uint8Array, fanout: Fanout | undefined): Buffer | undefined {
  if (fanout === undefined || fanout.receivers++ === 0) return undefined;
  fanout.prepared ??= encodeBinaryFrame(payload);
  return fanout.prepared;
}

/** What `ws` keeps of a socket that this module needs (ws has no public cork and no pre-framed send). */
interface WsInternals {
  _socket?: Socket;
  /** ws's Sender: state 0 means nothing is queued in it (no compression, no Blob being read). */
  _sender?: { _state?: number } | null;
}

/** The socket under a `ws` WebSocket, or undefined when it has none (not open yet, or closed). */
export function socketOf(ws: unknown): Socket | undefined {
  return (ws as WsInternals)._socket;
}

/**
 * Whether bytes written straight to the socket keep their place among `ws`'s own frames: only while its Sender
 * holds nothing back (compression is off in this transport, and nothing sends Blobs, so that is always; the check
 * keeps it true should that change).
 */
export function canWriteFramed(ws: unknown): boolean {
  return (ws as WsInternals)._sender?._state === 0;
}

/** Anything whose held writes are released when the turn ends. */
export interface TurnParticipant {
  finishTurn(): void;
}

let endingThisTurn: TurnParticipant[] = [];

function endTurn(): void {
  const participants = endingThisTurn;
  endingThisTurn = [];
  for (const participant of participants) participant.finishTurn();
}

/**
 * Calls `participant.finishTurn()` once the current turn of the event loop is over. One setImmediate per turn for all
 * the node's sessions (a broadcast to a thousand used to schedule a thousand).
 */
export function finishAtEndOfTurn(participant: TurnParticipant): void {
  if (endingThisTurn.push(participant) === 1) setImmediate(endTurn);
}
