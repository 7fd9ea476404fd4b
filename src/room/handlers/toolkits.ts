/** `toolkits.*` ops: participants host tools; others call them through the server with a deadline. */
import { requireApi } from "../../auth/permissions.js";
import { ERROR_CODES } from "../../protocol/errors.js";
import type { HandlerGroup } from "../handler.js";
import { DEFAULT_TOOL_CALL_TIMEOUT_MS } from "../room-node.js";

export function createToolkitHandlers(): HandlerGroup<"toolkits"> {
  return {
    "toolkits.register": async (ctx, args) => {
      requireApi(ctx.participant.grants, "toolkits");
      await ctx.node.registerToolkit(ctx.participant, { name: args.name, tools: args.tools });
      return {};
    },
    "toolkits.list": async (ctx) => {
      requireApi(ctx.participant.grants, "toolkits");
      const toolkits = [];
      for (const record of ctx.room.participants.values()) {
        for (const toolkit of record.toolkits) {
          toolkits.push({ participant_id: record.id, identity: record.identity, name: toolkit.name, tools: toolkit.tools });
        }
      }
      return { toolkits };
    },
    "toolkits.invoke": async (ctx, args) => {
      requireApi(ctx.participant.grants, "toolkits");
      const answer = await ctx.node.invokeTool(ctx.room, ctx.participant, {
        participantId: args.participant_id,
        toolkit: args.toolkit,
        tool: args.tool,
        arguments: args.arguments,
        timeoutMs: args.timeout_ms ?? DEFAULT_TOOL_CALL_TIMEOUT_MS,
      });
      return answer as { result: unknown };
    },
    "toolkits.respond": async (ctx, args) => {
      requireApi(ctx.participant.grants, "toolkits");
      if (args.error !== undefined) {
        await ctx.node.answerTool(ctx.participant, args.call_id, {
          ok: false,
          error: {
            code: ERROR_CODES.operation_failed,
            name: "operation_failed",
            message: `the tool failed: ${args.error.message}`,
          },
        });
      } else {
        await ctx.node.answerTool(ctx.participant, args.call_id, { ok: true, result: args.result ?? null });
      }
      return {};
    },
  };
}
