/** `messaging.*` ops: a message to one participant, or to everyone else in the room. */
import { requireApi } from "../../auth/permissions.js";
import { encodeEvent } from "../../protocol/frames.js";
import type { OpArgs } from "../../protocol/ops.js";
import type { HandlerGroup, OpContext } from "../handler.js";

/** The `messaging.message` event a send or broadcast delivers, encoded once for every receiver. */
function messageEvent(ctx: OpContext, args: OpArgs<"messaging.broadcast">): Buffer {
  requireApi(ctx.participant.grants, "messaging");
  return encodeEvent("messaging.message", {
    from_participant_id: ctx.participant.id,
    from_identity: ctx.participant.grants.identity,
    type: args.type,
    message: args.message,
    attachment: args.attachment,
  });
}

export function createMessagingHandlers(): HandlerGroup<"messaging"> {
  return {
    "messaging.send": async (ctx, args) => {
      await ctx.node.deliver(ctx.room, ctx.participant.id, args.to_participant_id, messageEvent(ctx, args));
      return {};
    },
    "messaging.broadcast": async (ctx, args) => {
      await ctx.node.broadcast(ctx.room, ctx.participant.id, messageEvent(ctx, args));
      return {};
    },
  };
}
