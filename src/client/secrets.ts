/**
 * Thin typed wrappers over every `secrets.*` op (PROTOCOL.md §6). Arguments are the wire's own snake_case objects,
 * so the protocol document is the reference for what each field means.
 */
import type { EventData } from "../protocol/events.js";
import type { OpArgs, OpName, OpResult } from "../protocol/ops.js";
import type { EventListener, RequestOptions, RoomClient } from "./room-client.js";

type SecretsOp = Extract<OpName, `secrets.${string}`>;

/** Method name → op. The check below makes a new `secrets.*` op without a method here a compile error. */
const SECRET_METHODS = {
  listSecrets: "secrets.list_secrets",
  setSecret: "secrets.set_secret",
  getSecret: "secrets.get_secret",
  exists: "secrets.exists",
  deleteSecret: "secrets.delete_secret",
  deleteRequestedSecret: "secrets.delete_requested_secret",
  getRequestedSecret: "secrets.get_requested_secret",
  requestSecret: "secrets.request_secret",
  provideSecret: "secrets.provide_secret",
  rejectSecret: "secrets.reject_secret",
  requestOAuthToken: "secrets.request_oauth_token",
  provideOAuthAuthorization: "secrets.provide_oauth_authorization",
  rejectOAuthAuthorization: "secrets.reject_oauth_authorization",
  getOfflineOAuthToken: "secrets.get_offline_oauth_token",
  revokeOAuthToken: "secrets.revoke_oauth_token",
} as const satisfies Record<string, SecretsOp>;

type Uncovered = Exclude<SecretsOp, (typeof SECRET_METHODS)[keyof typeof SECRET_METHODS]>;
const _everySecretsOpHasAMethod: [Uncovered] extends [never] ? true : Uncovered = true;

export type SecretRequest = EventData<"secrets.request_secret">;

export class SecretsClient {
  readonly #client: RoomClient;

  /** @internal Reached as `client.secrets`. */
  constructor(client: RoomClient) {
    this.#client = client;
  }

  #call<Op extends SecretsOp>(op: Op, args: OpArgs<Op>, options?: RequestOptions): Promise<OpResult<Op>> {
    return this.#client.request(op, args, options);
  }

  /**
   * Lists the caller's records and those delegated to it (never values).
   * @example const { secrets } = await client.secrets.listSecrets();
   */
  listSecrets(args: OpArgs<"secrets.list_secrets"> = {}, options?: RequestOptions) {
    return this.#call(SECRET_METHODS.listSecrets, args, options);
  }

  /**
   * Stores a secret; an id is made when `secret_id` is left out.
   * @example const { id, version } = await client.secrets.setSecret({ secret_id: "api-key", data: new TextEncoder().encode("s3cr3t") });
   */
  setSecret(args: OpArgs<"secrets.set_secret">, options?: RequestOptions) {
    return this.#call(SECRET_METHODS.setSecret, args, options);
  }

  /**
   * Reads a secret; resolves with `null` when there is none the caller may see.
   * @example const secret = await client.secrets.getSecret({ secret_id: "api-key" });
   */
  getSecret(args: OpArgs<"secrets.get_secret">, options?: RequestOptions) {
    return this.#call(SECRET_METHODS.getSecret, args, options);
  }

  /**
   * Tells whether a secret exists.
   * @example const { exists } = await client.secrets.exists({ secret_id: "api-key" });
   */
  exists(args: OpArgs<"secrets.exists">, options?: RequestOptions) {
    return this.#call(SECRET_METHODS.exists, args, options);
  }

  /**
   * Deletes a secret.
   * @example const { deleted } = await client.secrets.deleteSecret({ secret_id: "api-key" });
   */
  deleteSecret(args: OpArgs<"secrets.delete_secret">, options?: RequestOptions) {
    return this.#call(SECRET_METHODS.deleteSecret, args, options);
  }

  /**
   * Deletes a secret obtained through `requestSecret`, by url and type.
   * @example await client.secrets.deleteRequestedSecret({ url: "secret://github", type: "text/plain" });
   */
  deleteRequestedSecret(args: OpArgs<"secrets.delete_requested_secret">, options?: RequestOptions) {
    return this.#call(SECRET_METHODS.deleteRequestedSecret, args, options);
  }

  /**
   * Reads a stored requested secret without asking anyone; `delegated_by` reads one delegated to the caller.
   * @example const token = await client.secrets.getRequestedSecret({ url: "secret://github", delegated_by: "agent" });
   */
  getRequestedSecret(args: OpArgs<"secrets.get_requested_secret">, options?: RequestOptions) {
    return this.#call(SECRET_METHODS.getRequestedSecret, args, options);
  }

  /**
   * Asks another participant for a secret and resolves with it (or the stored one, unless `refresh`).
   * @example const { data } = await client.secrets.requestSecret({ participant_id: userId, url: "secret://github", prompt: "GitHub token" });
   */
  requestSecret(args: OpArgs<"secrets.request_secret">, options?: RequestOptions) {
    return this.#call(SECRET_METHODS.requestSecret, args, options);
  }

  /**
   * Answers a `secrets.request_secret` event with the value.
   * @example await client.secrets.provideSecret({ request_id: request.request_id, data: new TextEncoder().encode("ghp_…") });
   */
  provideSecret(args: OpArgs<"secrets.provide_secret">, options?: RequestOptions) {
    return this.#call(SECRET_METHODS.provideSecret, args, options);
  }

  /**
   * Declines a `secrets.request_secret` event; the requester's call fails with 1001 and the reason.
   * @example await client.secrets.rejectSecret({ request_id: request.request_id, reason: "not today" });
   */
  rejectSecret(args: OpArgs<"secrets.reject_secret">, options?: RequestOptions) {
    return this.#call(SECRET_METHODS.rejectSecret, args, options);
  }

  /**
   * Asks another participant to authorize an OAuth client and resolves with the access token (or a stored one).
   * @example const token = await client.secrets.requestOAuthToken({ participant_id: userId, oauth: { client_id: "app", authorization_endpoint: "https://idp/authorize", token_endpoint: "https://idp/token" } });
   */
  requestOAuthToken(args: OpArgs<"secrets.request_oauth_token">, options?: RequestOptions) {
    return this.#call(SECRET_METHODS.requestOAuthToken, args, options);
  }

  /**
   * Hands the authorization code of a `secrets.request_oauth_token` event back to the server.
   * @example await client.secrets.provideOAuthAuthorization({ request_id: request.request_id, code, state });
   */
  provideOAuthAuthorization(args: OpArgs<"secrets.provide_oauth_authorization">, options?: RequestOptions) {
    return this.#call(SECRET_METHODS.provideOAuthAuthorization, args, options);
  }

  /**
   * Declines a `secrets.request_oauth_token` event.
   * @example await client.secrets.rejectOAuthAuthorization({ request_id: request.request_id, error: "access_denied" });
   */
  rejectOAuthAuthorization(args: OpArgs<"secrets.reject_oauth_authorization">, options?: RequestOptions) {
    return this.#call(SECRET_METHODS.rejectOAuthAuthorization, args, options);
  }

  /**
   * Reads a stored OAuth token without asking anyone; `null` when there is none.
   * @example const token = await client.secrets.getOfflineOAuthToken({ oauth });
   */
  getOfflineOAuthToken(args: OpArgs<"secrets.get_offline_oauth_token">, options?: RequestOptions) {
    return this.#call(SECRET_METHODS.getOfflineOAuthToken, args, options);
  }

  /**
   * Deletes a stored OAuth credential: your own, or (with `owner`) one you authorized for someone else.
   * @example await client.secrets.revokeOAuthToken({ authorization_endpoint, client_id, owner: "agent" });
   */
  revokeOAuthToken(args: OpArgs<"secrets.revoke_oauth_token">, options?: RequestOptions) {
    return this.#call(SECRET_METHODS.revokeOAuthToken, args, options);
  }

  /**
   * Calls `handler` for every secret request addressed to this participant; returns the unsubscribe function.
   * @example client.secrets.onSecretRequest((r) => void client.secrets.rejectSecret({ request_id: r.request_id }));
   */
  onSecretRequest(handler: EventListener<"secrets.request_secret">): () => void {
    return this.#client.on("secrets.request_secret", handler);
  }
}
