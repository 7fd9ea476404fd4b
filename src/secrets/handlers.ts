/**
 * `secrets.*` ops. The secret store, the request/provide exchange and OAuth arrive in the next milestones; until
 * then every op checks the grant and answers 1013 so clients get a clear, retryable answer.
 */
import { requireApi } from "../auth/permissions.js";
import { RoombusError } from "../protocol/errors.js";
import { OP_NAMES } from "../protocol/ops.js";
import type { HandlerGroup, OpContext } from "../room/handler.js";

export function createSecretsHandlers(): HandlerGroup<"secrets"> {
  const handlers: Record<string, HandlerGroup<"secrets">[keyof HandlerGroup<"secrets">]> = {};
  for (const op of OP_NAMES) {
    if (!op.startsWith("secrets.")) continue;
    handlers[op] = async (ctx: OpContext) => {
      requireApi(ctx.participant.grants, "secrets");
      throw new RoombusError("unavailable", "secrets are not available on this server version");
    };
  }
  return handlers as HandlerGroup<"secrets">;
}
