/**
 * request_oauth_token and its answers (PROTOCOL.md §6 "request_oauth_token"): the server builds the authorization
 * URL (state + PKCE S256), the asked person's browser approves, the code comes back by
 * `provide_oauth_authorization` or at `GET /oauth/callback`, the server exchanges it and stores the credential.
 *
 * `state` is `<request id>.<secret>`: the request id finds the record, and the secret (stored only as a hash) proves
 * the answer comes from this authorization. It is checked before anything else, including an `error` answer.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import * as oauth from "oauth4webapi";
import type { Logger } from "pino";
import type { Grants } from "../auth/grants.js";
import { isOAuthEndpointAllowed, requireActingIdentity } from "../auth/permissions.js";
import { RoombusError } from "../protocol/errors.js";
import { encodeEvent } from "../protocol/frames.js";
import type { OAuthClient, OpArgs } from "../protocol/ops.js";
import type { LocalParticipant } from "../room/local-participant.js";
import type { Room } from "../room/room.js";
import type { RoomNode } from "../room/room-node.js";
import type { RequestExchange } from "../secrets/request-exchange.js";
import type { RequestRecord } from "../secrets/secret-store.js";
import type { Vault } from "../secrets/vault.js";
import {
  authorizationServer,
  buildAuthorizationUrl,
  checkEndpoint,
  classifyTokenError,
  clientAuthentication,
  issuerFor,
  oauthClient,
  requestOptions,
} from "./authorization-server.js";
import { credentialFrom, oauthKey, toTokenResult, type CredentialStore, type TokenResult } from "./credentials.js";

/** PROTOCOL.md §6: state lives at most 10 minutes, so an OAuth request does too. */
export const MAX_OAUTH_REQUEST_MS = 10 * 60 * 1000;

interface OAuthRequestDetails {
  state_hash: string;
  redirect_uri: string;
  delegate_to: string | null;
  /** The client (with its secret) and the PKCE verifier, sealed: a request record never holds them in plaintext. */
  sealed: string;
}

interface SealedPart {
  client: OAuthClient;
  verifier: string | null;
}

export type CallbackOutcome =
  | { status: "authorized"; requester: string }
  | { status: "declined"; requester: string }
  | { status: "failed"; message: string; httpStatus: 400 | 502 };

export class OAuthBroker {
  constructor(
    private readonly node: RoomNode,
    private readonly vault: Vault,
    private readonly requests: RequestExchange,
    private readonly credentials: CredentialStore,
    private readonly callbackUrl: () => string,
    private readonly logger: Logger,
  ) {}

  async request(room: Room, requester: LocalParticipant, args: OpArgs<"secrets.request_oauth_token">): Promise<TokenResult> {
    checkAllowed(requester.grants, args.oauth);
    // The server's own callback is the operator's to configure (ROOMBUS_PUBLIC_URL); only a client's choice is checked.
    if (args.redirect_uri !== undefined) checkEndpoint("redirect_uri", args.redirect_uri);
    const redirectUri = args.redirect_uri ?? this.callbackUrl();
    // As with request_secret, the request names a live participant even when a stored credential answers it.
    const asked = this.node.findParticipant(room, args.participant_id);
    const key = oauthKey(room.name, requester.grants.identity, args.oauth, args.delegate_to);
    if (args.refresh !== true) {
      const stored = await this.credentials.fresh(key);
      if (stored !== undefined) return toTokenResult(stored);
    }
    const stateSecret = randomBytes(24).toString("base64url");
    const stateHash = sha256(stateSecret);
    const verifier = args.oauth.no_pkce === true ? undefined : oauth.generateRandomCodeVerifier();
    const challenge = verifier === undefined ? undefined : await oauth.calculatePKCECodeChallenge(verifier);
    const sealedPart: SealedPart = { client: args.oauth, verifier: verifier ?? null };
    const details: OAuthRequestDetails = {
      state_hash: stateHash,
      redirect_uri: redirectUri,
      delegate_to: args.delegate_to ?? null,
      sealed: this.vault.keyring.seal(Buffer.from(JSON.stringify(sealedPart)), sealedAad(stateHash)).toString("base64"),
    };
    return this.requests.open<TokenResult>(room, requester, {
      kind: "oauth",
      asked,
      timeoutMs: Math.min(args.timeout_ms ?? MAX_OAUTH_REQUEST_MS, MAX_OAUTH_REQUEST_MS),
      timeoutMessage: "the authorization was not completed in time",
      details: { ...details },
      failWhenAskedLeaves: false,
      event: (record) =>
        encodeEvent("secrets.request_oauth_token", {
          request_id: record.id,
          from_participant_id: requester.id,
          from_identity: requester.grants.identity,
          authorization_url: buildAuthorizationUrl(args.oauth, redirectUri, `${record.id}.${stateSecret}`, challenge),
          client_id: args.oauth.client_id,
          scopes: args.oauth.scopes ?? [],
          redirect_uri: redirectUri,
          expires_at: record.expiresAt,
        }),
    });
  }

  async provide(room: Room, answerer: LocalParticipant, args: OpArgs<"secrets.provide_oauth_authorization">): Promise<void> {
    const found = await this.requests.find(args.request_id, "oauth", room.name);
    checkState(found.record, args.state, args.request_id);
    this.requests.checkAnswerer(found.record, answerer);
    if (found.state !== "pending") throw new RoombusError("invalid_state", `the request is already ${found.state}`);
    const record = await this.requests.finish(args.request_id, "answered");
    await this.complete(record, args.code, undefined, answerer.id);
  }

  async reject(room: Room, answerer: LocalParticipant, args: OpArgs<"secrets.reject_oauth_authorization">): Promise<void> {
    const found = await this.requests.find(args.request_id, "oauth", room.name);
    this.requests.checkAnswerer(found.record, answerer);
    const record = await this.requests.finish(args.request_id, "rejected");
    await this.decline(record, args.error, answerer.id);
  }

  /** `GET /oauth/callback?code&state` (or `?error&state`): the authorization server's redirect, in the person's browser. */
  async callback(query: URLSearchParams): Promise<CallbackOutcome> {
    const state = query.get("state") ?? undefined;
    const requestId = state?.split(".", 1)[0];
    if (state === undefined || requestId === undefined) {
      return { status: "failed", httpStatus: 400, message: "This page needs the state the authorization server sends back." };
    }
    let record: RequestRecord;
    try {
      const found = await this.requests.find(requestId, "oauth", undefined);
      checkState(found.record, state, requestId);
      if (found.state !== "pending") throw new RoombusError("invalid_state", `the request is already ${found.state}`);
      const error = query.get("error");
      record = await this.requests.finish(requestId, error === null ? "answered" : "rejected");
      if (error !== null) {
        await this.decline(record, error, undefined);
        return { status: "declined", requester: record.requesterIdentity };
      }
    } catch (error) {
      const message =
        error instanceof RoombusError && error.errorName === "invalid_state"
          ? "This authorization was already completed, declined or expired. Ask for a new one."
          : "This authorization link is not valid here (unknown or tampered state). Ask for a new one.";
      return { status: "failed", httpStatus: 400, message };
    }
    const code = query.get("code");
    if (code === null || code.length === 0) {
      await this.requests.reject(record, new RoombusError("operation_failed", "the authorization server sent no code"));
      this.requests.closePromptElsewhere(record, undefined, "cancelled");
      return { status: "failed", httpStatus: 400, message: "The authorization server sent no code." };
    }
    try {
      await this.complete(record, code, query.get("iss") ?? undefined, undefined);
      return { status: "authorized", requester: record.requesterIdentity };
    } catch (error) {
      const message = error instanceof RoombusError ? error.message : "the token exchange failed";
      return { status: "failed", httpStatus: 502, message: `Authorization failed: ${message}.` };
    }
  }

  async offline(room: Room, caller: LocalParticipant, args: OpArgs<"secrets.get_offline_oauth_token">): Promise<TokenResult | null> {
    checkAllowed(caller.grants, args.oauth);
    const acting = requireActingIdentity(caller.grants, undefined);
    const byDelegate = args.delegated_by !== undefined && args.delegated_by !== acting;
    const key = byDelegate
      ? oauthKey(room.name, args.delegated_by!, args.oauth, acting)
      : oauthKey(room.name, acting, args.oauth, args.delegated_to);
    const credential = await this.credentials.fresh(key);
    return credential === undefined ? null : toTokenResult(credential);
  }

  /**
   * Deletes a stored credential: the owner's own (or an admin's `for_identity`), or one the caller authorized for
   * `owner`. Anything else answers `{deleted: false}`, as if nothing were there.
   */
  async revoke(room: Room, caller: LocalParticipant, args: OpArgs<"secrets.revoke_oauth_token">): Promise<boolean> {
    const acting = requireActingIdentity(caller.grants, args.for_identity);
    const client = { client_id: args.client_id, authorization_endpoint: args.authorization_endpoint, token_endpoint: "" };
    if (args.owner === undefined || args.owner === acting) {
      return this.credentials.delete(oauthKey(room.name, acting, client, args.delegated_to));
    }
    const key = oauthKey(room.name, args.owner, client, args.delegated_to);
    const stored = await this.vault.guard(() => this.vault.store.getRecord(key));
    if (stored?.authorizedBy !== acting) return false;
    return this.credentials.delete(key);
  }

  /** Exchanges the code, stores the credential and answers the requester; a failure reaches both sides as 1008. */
  private async complete(record: RequestRecord, code: string, iss: string | undefined, answererId: string | undefined): Promise<void> {
    const details = record.details as unknown as OAuthRequestDetails;
    let token: TokenResult;
    try {
      const sealed = JSON.parse(
        this.vault.keyring.open(Buffer.from(details.sealed, "base64"), sealedAad(details.state_hash)).toString("utf8"),
      ) as SealedPart;
      const client = sealed.client;
      const issuer = issuerFor(client, iss);
      const as = authorizationServer(client, issuer);
      const oclient = oauthClient(client);
      const parameters = new URLSearchParams({ code });
      if (iss !== undefined) parameters.set("iss", iss);
      // state was checked above, against its stored hash; oauth4webapi still checks iss and the response shape.
      const callbackParameters = oauth.validateAuthResponse(as, oclient, parameters, oauth.skipStateCheck);
      const response = await oauth.authorizationCodeGrantRequest(
        as,
        oclient,
        clientAuthentication(client),
        callbackParameters,
        details.redirect_uri,
        sealed.verifier ?? oauth.nopkce,
        requestOptions(client.token_endpoint, this.credentials.tokenEndpointTimeoutMs),
      );
      const tokens = await oauth.processAuthorizationCodeResponse(as, oclient, response);
      const credential = credentialFrom(tokens, client, issuer, Date.now());
      await this.credentials.save(
        oauthKey(record.room, record.requesterIdentity, client, details.delegate_to ?? undefined),
        credential,
        record.askedIdentity,
      );
      token = toTokenResult(credential);
    } catch (error) {
      const failure =
        error instanceof RoombusError
          ? error
          : new RoombusError("operation_failed", `could not exchange the authorization code: ${describeExchangeError(error)}`);
      this.logger.warn({ room: record.room, requester: record.requesterIdentity, reason: failure.message }, "OAuth code exchange failed");
      await this.requests.reject(record, failure);
      this.requests.closePromptElsewhere(record, undefined, "cancelled");
      throw failure;
    }
    await this.requests.resolve(record, token);
    this.requests.closePromptElsewhere(record, answererId);
  }

  private async decline(record: RequestRecord, error: string | null | undefined, answererId: string | undefined): Promise<void> {
    const because = error === undefined || error === null || error.length === 0 ? "" : ` (${error.slice(0, 200)})`;
    await this.requests.reject(record, new RoombusError("permission_denied", `the person declined the authorization${because}`));
    this.requests.closePromptElsewhere(record, answererId);
  }
}

function checkAllowed(grants: Grants, client: OAuthClient): void {
  if (!isOAuthEndpointAllowed(grants, client.authorization_endpoint, client.client_id)) {
    throw new RoombusError("permission_denied", "this token's grant does not allow this OAuth endpoint and client id");
  }
  checkEndpoint("authorization_endpoint", client.authorization_endpoint);
  checkEndpoint("token_endpoint", client.token_endpoint);
}

/** The state's secret part must hash to what the request stored; compared in constant time. */
function checkState(record: RequestRecord, state: string | undefined, requestId: string): void {
  const details = record.details as unknown as OAuthRequestDetails;
  const prefix = `${requestId}.`;
  const ok =
    state !== undefined &&
    state.startsWith(prefix) &&
    timingSafeEqual(Buffer.from(sha256(state.slice(prefix.length)), "hex"), Buffer.from(details.state_hash, "hex"));
  if (!ok) throw new RoombusError("permission_denied", "the state is missing or does not match this authorization");
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

function sealedAad(stateHash: string): string {
  return `roombus.oauth-request.v1:${stateHash}`;
}

function describeExchangeError(error: unknown): string {
  if (error instanceof oauth.OperationProcessingError && error.code === oauth.INVALID_RESPONSE) {
    return "the answer was not valid OAuth (for example an issuer that does not match, or a negative expires_in)";
  }
  if (error instanceof oauth.ResponseBodyError && error.error === "invalid_grant") return "the code was refused (invalid_grant)";
  const failure = classifyTokenError(error);
  return failure.kind === "invalid_grant" ? "the code was refused (invalid_grant)" : failure.detail;
}
