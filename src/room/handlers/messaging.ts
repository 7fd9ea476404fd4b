/** `messaging.*` ops: a message to one participant, or to everyone else in the room. */
import { requireApi } from "../../auth/permissions.js";
import { encodeEvent } from "../../protocol/frames.js";
import type { HandlerGroup } from "../handler.js";

export function createMessagingHandlers(): HandlerGroup<"messaging"> {
  return {
    "messaging.send": async (ctx, args) => {
      requireApi(ctx.participant.grants, "messaging");
      const frame = encodeEvent("messaging.message", {
        from_participant_id: ctx.participant.id,
        from_identity: ctx.participant.grants.identity,
        type: args.type,
        message: args.message,
        attachment: args.attachment,
      });
      await ctx.node.deliver(ctx.room, ctx.participant.id, args.to_participant_id, frame);
      return {};
    },
    "messaging.broadcast": async (ctx, args) => {
      requireApi(ctx.participant.grants, "messaging");
      const frame = encodeEvent("messaging.message", {
        from_participant_id: ctx.participant.id,
        from_identity: ctx.participant.grants.identity,
        type: args.type,
        message: args.message,
        attachment: args.attachment,
      });
      await ctx.node.broadcast(ctx.room, ctx.participant.id, frame);
      return {};
    },
  };
}
