/**
 * Every op of PROTOCOL.md §5–§6: its args (strict: unknown keys are refused) and its result.
 * The op names form the union `OpName`; the router's handler table is typed against it.
 */
import { z } from "zod";
import {
  attributes,
  bin,
  empty,
  freeMap,
  id,
  identity,
  name,
  participant,
  secretData,
  text,
  timeoutMs,
} from "./common.js";
import { DEFAULT_MAX_FRAME_BYTES, MAX_NAME_CHARS, MAX_TOOLS } from "./limits.js";

const attachment = bin(DEFAULT_MAX_FRAME_BYTES);
const url = z.string().min(1).max(2048);
const mimeType = z.string().min(1).max(MAX_NAME_CHARS);

const tool = z.strictObject({ name, description: text.optional() });

export const secretInfo = z.strictObject({
  kind: z.enum(["secret", "requested", "oauth"]),
  id: id.optional(),
  url: url.optional(),
  type: mimeType,
  name: name.optional(),
  delegated_to: identity.optional(),
  delegated_by: identity.optional(),
  /** On credentials the caller authorized for someone else: whose they are. */
  owner: identity.optional(),
  /** On OAuth credentials: the identity whose approval produced them. */
  authorized_by: identity.optional(),
  version: z.int().min(1),
  updated_at: z.number(),
});
export type SecretInfo = z.infer<typeof secretInfo>;

export const oauthClient = z.strictObject({
  client_id: z.string().min(1).max(MAX_NAME_CHARS),
  client_secret: z.string().min(1).max(2048).optional(),
  authorization_endpoint: url,
  token_endpoint: url,
  scopes: z.array(z.string().min(1).max(MAX_NAME_CHARS)).max(64).optional(),
  no_pkce: z.boolean().optional(),
});
export type OAuthClient = z.infer<typeof oauthClient>;

export const oauthToken = z.strictObject({
  access_token: z.string(),
  token_type: z.string(),
  expires_at: z.number().optional(),
  scopes: z.array(z.string()),
});

function op<A extends z.ZodType, R extends z.ZodType>(args: A, result: R) {
  return { args, result };
}

export const OPS = {
  "room.list_participants": op(empty, z.strictObject({ participants: z.array(participant) })),
  "room.set_attributes": op(z.strictObject({ attributes }), empty),

  "messaging.send": op(
    z.strictObject({ to_participant_id: id, type: name, message: freeMap, attachment: attachment.optional() }),
    empty,
  ),
  "messaging.broadcast": op(
    z.strictObject({ type: name, message: freeMap, attachment: attachment.optional() }),
    empty,
  ),

  "toolkits.register": op(z.strictObject({ name, tools: z.array(tool).max(MAX_TOOLS) }), empty),
  "toolkits.list": op(
    empty,
    z.strictObject({
      toolkits: z.array(
        z.strictObject({ participant_id: id, identity, name, tools: z.array(tool) }),
      ),
    }),
  ),
  "toolkits.invoke": op(
    z.strictObject({
      participant_id: id,
      toolkit: name,
      tool: name,
      arguments: freeMap,
      timeout_ms: timeoutMs.optional(),
    }),
    z.strictObject({ result: z.unknown() }),
  ),
  "toolkits.respond": op(
    z.strictObject({ call_id: id, result: z.unknown().optional(), error: z.strictObject({ message: text }).optional() }),
    empty,
  ),

  "secrets.list_secrets": op(
    z.strictObject({ for_identity: identity.optional() }),
    z.strictObject({ secrets: z.array(secretInfo) }),
  ),
  "secrets.set_secret": op(
    z.strictObject({
      secret_id: id.optional(),
      type: mimeType.optional(),
      name: name.optional(),
      data: secretData,
      delegated_to: identity.optional(),
      for_identity: identity.optional(),
      if_version: z.int().min(0).optional(),
    }),
    z.strictObject({ id, version: z.int() }),
  ),
  "secrets.get_secret": op(
    z.strictObject({
      secret_id: id,
      delegated_to: identity.optional(),
      delegated_by: identity.optional(),
      for_identity: identity.optional(),
    }),
    z.strictObject({ id, name: name.optional(), type: mimeType, version: z.int(), data: secretData }).nullable(),
  ),
  "secrets.exists": op(
    z.strictObject({
      secret_id: id,
      delegated_to: identity.optional(),
      delegated_by: identity.optional(),
      for_identity: identity.optional(),
    }),
    z.strictObject({ exists: z.boolean() }),
  ),
  "secrets.delete_secret": op(
    z.strictObject({ secret_id: id, delegated_to: identity.optional(), for_identity: identity.optional() }),
    z.strictObject({ deleted: z.boolean() }),
  ),
  "secrets.delete_requested_secret": op(
    z.strictObject({ url, type: mimeType, delegated_to: identity.optional(), for_identity: identity.optional() }),
    z.strictObject({ deleted: z.boolean() }),
  ),
  /** Reads a requested secret without asking anyone: the owner's, or one delegated to the caller (`delegated_by`). */
  "secrets.get_requested_secret": op(
    z.strictObject({
      url,
      type: mimeType.optional(),
      delegated_to: identity.optional(),
      delegated_by: identity.optional(),
      for_identity: identity.optional(),
    }),
    z.strictObject({ url, type: mimeType, version: z.int(), data: secretData }).nullable(),
  ),
  "secrets.request_secret": op(
    z.strictObject({
      participant_id: id,
      url,
      type: mimeType.optional(),
      delegate_to: identity.optional(),
      prompt: text.optional(),
      timeout_ms: timeoutMs.optional(),
      refresh: z.boolean().optional(),
    }),
    z.strictObject({ data: secretData, type: mimeType }),
  ),
  "secrets.provide_secret": op(z.strictObject({ request_id: id, data: secretData }), empty),
  "secrets.reject_secret": op(z.strictObject({ request_id: id, reason: text.optional() }), empty),
  "secrets.request_oauth_token": op(
    z.strictObject({
      participant_id: id,
      oauth: oauthClient,
      redirect_uri: url.optional(),
      delegate_to: identity.optional(),
      timeout_ms: timeoutMs.optional(),
      refresh: z.boolean().optional(),
    }),
    oauthToken,
  ),
  "secrets.provide_oauth_authorization": op(
    z.strictObject({ request_id: id, code: z.string().min(1).max(4096), state: z.string().max(512).optional() }),
    empty,
  ),
  "secrets.reject_oauth_authorization": op(
    z.strictObject({ request_id: id, error: text.optional() }),
    empty,
  ),
  "secrets.get_offline_oauth_token": op(
    z.strictObject({ oauth: oauthClient, delegated_to: identity.optional(), delegated_by: identity.optional() }),
    oauthToken.nullable(),
  ),
  /**
   * Deletes a stored OAuth credential: the caller's own, or (with `owner`) one the caller authorized for `owner`.
   * An addition to PROTOCOL.md §6, so a person can revoke what they approved.
   */
  "secrets.revoke_oauth_token": op(
    z.strictObject({
      authorization_endpoint: url,
      client_id: z.string().min(1).max(MAX_NAME_CHARS),
      delegated_to: identity.optional(),
      owner: identity.optional(),
      for_identity: identity.optional(),
    }),
    z.strictObject({ deleted: z.boolean() }),
  ),
} as const;

export type OpName = keyof typeof OPS;
export type OpArgs<Op extends OpName> = z.infer<(typeof OPS)[Op]["args"]>;
export type OpResult<Op extends OpName> = z.infer<(typeof OPS)[Op]["result"]>;
export const OP_NAMES = Object.keys(OPS) as OpName[];

export function isOpName(value: string): value is OpName {
  return Object.hasOwn(OPS, value);
}
