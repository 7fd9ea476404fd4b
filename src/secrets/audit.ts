/**
 * The audit trail: every secrets op, allowed or refused, leaves one record of who did what to which key and how it
 * ended. A value never appears; for writes, an HMAC of the value under the audit key lets an auditor see that two
 * writes stored the same (or a different) value without learning it.
 */
import type { Logger } from "pino";
import { RoombusError } from "../protocol/errors.js";
import type { OpArgs, OpName, OpResult } from "../protocol/ops.js";
import { requireApi } from "../auth/permissions.js";
import type { Handler, OpContext } from "../room/handler.js";
import type { Keyring } from "./keyring.js";
import type { AuditEntry, SecretStore } from "./secret-store.js";

export type SecretsOp = Extract<OpName, `secrets.${string}`>;

/** What an op's audit record says about its target: the key fields it named, never a value. */
export function auditTarget(args: Record<string, unknown>): Record<string, string> {
  const target: Record<string, string> = {};
  for (const field of [
    "secret_id",
    "url",
    "type",
    "delegated_to",
    "delegated_by",
    "delegate_to",
    "for_identity",
    "participant_id",
    "request_id",
    "authorization_endpoint",
    "client_id",
    "owner",
  ]) {
    const value = args[field];
    if (typeof value === "string") target[field] = value;
  }
  const oauth = args.oauth as { authorization_endpoint?: unknown; client_id?: unknown } | undefined;
  if (typeof oauth?.authorization_endpoint === "string") target.authorization_endpoint = oauth.authorization_endpoint;
  if (typeof oauth?.client_id === "string") target.client_id = oauth.client_id;
  return target;
}

export class AuditTrail {
  constructor(
    private readonly store: SecretStore,
    private readonly keyring: Keyring,
    private readonly logger: Logger,
  ) {}

  /** Wraps a handler so that every call, whatever its outcome, is written to the audit log before it answers. */
  wrap<Op extends SecretsOp>(op: Op, handler: Handler<Op>): Handler<Op> {
    return async (ctx: OpContext, args: OpArgs<Op>): Promise<OpResult<Op>> => {
      const entry: AuditEntry = {
        at: Date.now(),
        room: ctx.room.name,
        actor: ctx.participant.grants.identity,
        participantId: ctx.participant.id,
        op,
        target: auditTarget(args),
        outcome: "ok",
      };
      const data = (args as { data?: unknown }).data;
      if (data instanceof Uint8Array) entry.valueDigest = this.keyring.auditDigest(data);
      try {
        const result = await handler(ctx, args);
        await this.append(entry);
        return result;
      } catch (error) {
        entry.outcome = error instanceof RoombusError ? error.errorName : "internal";
        entry.errorCode = error instanceof RoombusError ? error.code : 1100;
        await this.append(entry);
        throw error;
      }
    };
  }

  private async append(entry: AuditEntry): Promise<void> {
    try {
      await this.store.appendAudit(entry);
    } catch (error) {
      // The op itself already happened; refusing to answer would not undo it. Make the gap loud instead.
      this.logger.error({ err: error, op: entry.op, room: entry.room, actor: entry.actor }, "could not write an audit record");
    }
  }
}

/**
 * Wraps a group of `secrets.*` handlers: the `secrets` grant is checked first, and every call, allowed or not, is
 * audited. Secrets and OAuth handlers both go through this one door.
 */
export function guardSecretsOps<G extends Partial<Record<SecretsOp, unknown>>>(handlers: G, audit: AuditTrail): G {
  const guarded: Record<string, unknown> = {};
  for (const [op, handler] of Object.entries(handlers) as [SecretsOp, Handler<SecretsOp>][]) {
    guarded[op] = audit.wrap(op, async (ctx, args) => {
      requireApi(ctx.participant.grants, "secrets");
      return handler(ctx, args);
    });
  }
  return guarded as G;
}
