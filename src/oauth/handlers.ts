/** The OAuth ops of the `secrets` group (PROTOCOL.md §6), guarded and audited like every secrets op. */
import type { HandlerGroup } from "../room/handler.js";
import { guardSecretsOps, type AuditTrail } from "../secrets/audit.js";
import type { OAuthOp } from "../secrets/handlers.js";
import type { OAuthBroker } from "./oauth-broker.js";

export function createOAuthHandlers(broker: OAuthBroker, audit: AuditTrail): Pick<HandlerGroup<"secrets">, OAuthOp> {
  return guardSecretsOps(
    {
      "secrets.request_oauth_token": async (ctx, args) => broker.request(ctx.room, ctx.participant, args),
      "secrets.provide_oauth_authorization": async (ctx, args) => {
        await broker.provide(ctx.room, ctx.participant, args);
        return {};
      },
      "secrets.reject_oauth_authorization": async (ctx, args) => {
        await broker.reject(ctx.room, ctx.participant, args);
        return {};
      },
      "secrets.get_offline_oauth_token": async (ctx, args) => broker.offline(ctx.room, ctx.participant, args),
      "secrets.revoke_oauth_token": async (ctx, args) => ({ deleted: await broker.revoke(ctx.room, ctx.participant, args) }),
    },
    audit,
  );
}
