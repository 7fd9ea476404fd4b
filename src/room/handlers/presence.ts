/** `room.*` ops: who is here, and what they say about themselves. */
import type { HandlerGroup } from "../handler.js";

export function createRoomHandlers(): HandlerGroup<"room"> {
  return {
    "room.list_participants": async (ctx) => ({ participants: ctx.room.wireParticipants() }),
    "room.set_attributes": async (ctx, args) => {
      await ctx.node.setAttributes(ctx.participant, args.attributes);
      return {};
    },
  };
}
