/** The handler table the compiler checks: every op of PROTOCOL.md has exactly one handler. */
import type { OpArgs, OpName, OpResult } from "../protocol/ops.js";
import type { LocalParticipant } from "./local-participant.js";
import type { Room } from "./room.js";
import type { RoomNode } from "./room-node.js";

export interface OpContext {
  participant: LocalParticipant;
  room: Room;
  node: RoomNode;
}

export type Handler<Op extends OpName> = (ctx: OpContext, args: OpArgs<Op>) => Promise<OpResult<Op>>;

export type Handlers = { [Op in OpName]: Handler<Op> };

/** The part of the table for ops named `${prefix}.*`; each feature folder returns one. */
export type HandlerGroup<Prefix extends string> = {
  [Op in OpName as Op extends `${Prefix}.${string}` ? Op : never]: Handler<Op>;
};
