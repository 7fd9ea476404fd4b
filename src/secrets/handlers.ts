/**
 * `secrets.*` ops (PROTOCOL.md §6): per-identity records with delegation and admin `for_identity`, and the
 * request/provide/reject exchange. Every op needs the `secrets` grant and is audited. Reads of what the caller may
 * not see answer exactly as if nothing were there.
 */
import type { Grants } from "../auth/grants.js";
import { requireActingIdentity } from "../auth/permissions.js";
import type { SecretInfo } from "../protocol/ops.js";
import type { HandlerGroup } from "../room/handler.js";
import { newId } from "../room/room-node.js";
import { guardSecretsOps, type AuditTrail } from "./audit.js";
import { SecretExchange } from "./exchange.js";
import type { RequestExchange } from "./request-exchange.js";
import type { RecordKey } from "./record-key.js";
import type { StoredRecord } from "./secret-store.js";
import { DEFAULT_SECRET_TYPE, type Vault } from "./vault.js";
import type { RoomNode } from "../room/room-node.js";

export interface SecretsDeps {
  vault: Vault;
  node: RoomNode;
  audit: AuditTrail;
  requests: RequestExchange;
}

/** The OAuth ops of the `secrets` group; src/oauth provides their handlers. */
export type OAuthOp =
  | "secrets.request_oauth_token"
  | "secrets.provide_oauth_authorization"
  | "secrets.reject_oauth_authorization"
  | "secrets.get_offline_oauth_token"
  | "secrets.revoke_oauth_token";

export function createSecretsHandlers(deps: SecretsDeps): Omit<HandlerGroup<"secrets">, OAuthOp> {
  const { vault } = deps;
  const exchange = new SecretExchange(deps.node, vault, deps.requests);

  const secretKey = (room: string, owner: string, id: string, delegatedTo: string | undefined): RecordKey => ({
    kind: "secret",
    room,
    owner,
    id,
    delegatedTo,
  });

  const handlers: Omit<HandlerGroup<"secrets">, OAuthOp> = {
    "secrets.list_secrets": async (ctx, args) => {
      const identity = requireActingIdentity(ctx.participant.grants, args.for_identity);
      const { owned, delegatedToMe, authorizedByMe } = await vault.guard(() => vault.store.listRecords(ctx.room.name, identity));
      return {
        secrets: [
          ...owned.map((r) => secretInfo(r, "owner")),
          ...delegatedToMe.map((r) => secretInfo(r, "delegatee")),
          ...authorizedByMe.map((r) => secretInfo(r, "authorizer")),
        ],
      };
    },

    "secrets.set_secret": async (ctx, args) => {
      const owner = requireActingIdentity(ctx.participant.grants, args.for_identity);
      const id = args.secret_id ?? newId("sec_", 12);
      const version = await vault.write(
        secretKey(ctx.room.name, owner, id, args.delegated_to),
        { data: args.data, type: args.type ?? DEFAULT_SECRET_TYPE, name: args.name },
        { ifVersion: args.if_version },
      );
      return { id, version };
    },

    "secrets.get_secret": async (ctx, args) => {
      const { owner, delegatedTo } = readerView(ctx.participant.grants, args);
      const opened = await vault.read(secretKey(ctx.room.name, owner, args.secret_id, delegatedTo));
      if (opened === undefined) return null;
      return {
        id: args.secret_id,
        name: opened.record.name,
        type: opened.record.type,
        version: opened.record.version,
        data: opened.data,
      };
    },

    "secrets.exists": async (ctx, args) => {
      const { owner, delegatedTo } = readerView(ctx.participant.grants, args);
      return { exists: await vault.exists(secretKey(ctx.room.name, owner, args.secret_id, delegatedTo)) };
    },

    "secrets.delete_secret": async (ctx, args) => {
      const owner = requireActingIdentity(ctx.participant.grants, args.for_identity);
      return { deleted: await vault.delete(secretKey(ctx.room.name, owner, args.secret_id, args.delegated_to)) };
    },

    "secrets.delete_requested_secret": async (ctx, args) => {
      const key: RecordKey = {
        kind: "requested",
        room: ctx.room.name,
        owner: requireActingIdentity(ctx.participant.grants, args.for_identity),
        url: args.url,
        type: args.type,
        delegatedTo: args.delegated_to,
      };
      return { deleted: await vault.delete(key) };
    },

    "secrets.get_requested_secret": async (ctx, args) => {
      const { owner, delegatedTo } = readerView(ctx.participant.grants, args);
      const type = args.type ?? DEFAULT_SECRET_TYPE;
      const opened = await vault.read({ kind: "requested", room: ctx.room.name, owner, url: args.url, type, delegatedTo });
      if (opened === undefined) return null;
      return { url: args.url, type, version: opened.record.version, data: opened.data };
    },

    "secrets.request_secret": async (ctx, args) => exchange.request(ctx.room, ctx.participant, args),

    "secrets.provide_secret": async (ctx, args) => {
      await exchange.provide(ctx.room, ctx.participant, args);
      return {};
    },

    "secrets.reject_secret": async (ctx, args) => {
      await exchange.reject(ctx.room, ctx.participant, args);
      return {};
    },
  };
  return guardSecretsOps(handlers, deps.audit);
}

/**
 * Whose record a read addresses: the acting identity's own (optionally delegated out), or, with `delegated_by`, the
 * delegator's record delegated to the acting identity, and to nobody else.
 */
function readerView(
  grants: Grants,
  args: { for_identity?: string | undefined; delegated_by?: string | undefined; delegated_to?: string | undefined },
): { owner: string; delegatedTo: string | undefined } {
  const acting = requireActingIdentity(grants, args.for_identity);
  if (args.delegated_by !== undefined && args.delegated_by !== acting) return { owner: args.delegated_by, delegatedTo: acting };
  return { owner: acting, delegatedTo: args.delegated_to };
}

function secretInfo(record: StoredRecord, callerIs: "owner" | "delegatee" | "authorizer"): SecretInfo {
  const key = record.key;
  const info: SecretInfo = {
    kind: key.kind,
    type: key.kind === "oauth" ? "oauth" : record.type,
    version: record.version,
    updated_at: record.updatedAt,
  };
  switch (key.kind) {
    case "secret":
      info.id = key.id;
      break;
    case "requested":
      info.url = key.url;
      break;
    case "oauth":
      info.url = key.authorizationEndpoint;
      info.id = key.clientId;
      break;
  }
  if (record.name !== undefined) info.name = record.name;
  if (key.delegatedTo !== undefined) info.delegated_to = key.delegatedTo;
  if (callerIs === "delegatee") info.delegated_by = key.owner;
  if (callerIs === "authorizer") info.owner = key.owner;
  if (record.authorizedBy !== undefined) info.authorized_by = record.authorizedBy;
  return info;
}
