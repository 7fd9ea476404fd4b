/**
 * Stored OAuth credentials: `{access_token, refresh_token, expires_at, scopes, client}` sealed under the key
 * `(room, owner, authorization_endpoint, client_id, delegated_to)`, and their refresh.
 *
 * Refresh runs at most once per credential at a time across all nodes: callers on one node share one refresh, and a
 * lock in the store keeps other nodes out; a node that finds the lock taken waits for the holder's result. Callers
 * that asked at the same moment get that one result wherever they are, even when it is due again at once (an
 * authorization server whose tokens live less than the refresh margin): "due" is judged on the credential a caller
 * found, not on what another node stored while it waited.
 */
import { randomUUID } from "node:crypto";
import * as oauth from "oauth4webapi";
import type { Logger } from "pino";
import { RoombusError } from "../protocol/errors.js";
import type { OAuthClient, OpResult } from "../protocol/ops.js";
import { canonicalKey, type RecordKey } from "../secrets/record-key.js";
import type { Vault } from "../secrets/vault.js";
import {
  authorizationServer,
  classifyTokenError,
  clientAuthentication,
  oauthClient,
  requestOptions,
} from "./authorization-server.js";

export const OAUTH_RECORD_TYPE = "application/vnd.roombus.oauth+json";
/** PROTOCOL.md §6: a credential that expires within 60 s is refreshed before it is handed out. */
export const REFRESH_MARGIN_MS = 60_000;
const REFRESH_LOCK_TTL_MS = 30_000;
const LOCK_WAIT_STEP_MS = 50;

export interface StoredCredential {
  access_token: string;
  token_type: string;
  refresh_token?: string | undefined;
  /** Milliseconds since the epoch, computed from `expires_in` on receipt (so the server's clock is the only one). */
  expires_at?: number | undefined;
  scopes: string[];
  client: OAuthClient;
  issuer: string;
}

export type TokenResult = NonNullable<OpResult<"secrets.get_offline_oauth_token">>;

export function oauthKey(room: string, owner: string, client: OAuthClient, delegatedTo: string | undefined): RecordKey {
  return {
    kind: "oauth",
    room,
    owner,
    authorizationEndpoint: client.authorization_endpoint,
    clientId: client.client_id,
    delegatedTo,
  };
}

export function toTokenResult(credential: StoredCredential): TokenResult {
  const result: TokenResult = {
    access_token: credential.access_token,
    token_type: credential.token_type,
    scopes: credential.scopes,
  };
  if (credential.expires_at !== undefined) result.expires_at = credential.expires_at;
  return result;
}

/** Builds a credential from a token endpoint response; a refresh without a new refresh token keeps the old one. */
export function credentialFrom(
  response: oauth.TokenEndpointResponse,
  client: OAuthClient,
  issuer: string,
  now: number,
  previous?: StoredCredential,
): StoredCredential {
  return {
    access_token: response.access_token,
    token_type: response.token_type,
    refresh_token: response.refresh_token ?? previous?.refresh_token,
    expires_at: response.expires_in === undefined ? undefined : now + response.expires_in * 1000,
    scopes: typeof response.scope === "string" ? response.scope.split(" ").filter((s) => s.length > 0) : (previous?.scopes ?? client.scopes ?? []),
    client,
    issuer,
  };
}

export class CredentialStore {
  /** Refreshes in flight on this node, by canonical key: concurrent callers share one. */
  private readonly refreshing = new Map<string, Promise<StoredCredential | undefined>>();
  private readonly holder = randomUUID();

  constructor(
    private readonly vault: Vault,
    private readonly logger: Logger,
    readonly tokenEndpointTimeoutMs: number,
  ) {}

  async load(key: RecordKey): Promise<StoredCredential | undefined> {
    return (await this.loadWithAuthorizer(key))?.credential;
  }

  private async loadWithAuthorizer(key: RecordKey): Promise<{ credential: StoredCredential; authorizedBy: string | undefined } | undefined> {
    const opened = await this.vault.read(key);
    if (opened === undefined) return undefined;
    return { credential: JSON.parse(opened.data.toString("utf8")) as StoredCredential, authorizedBy: opened.record.authorizedBy };
  }

  /** Stores a credential; `authorizedBy` is the identity whose approval produced it (it may see and revoke it). */
  async save(key: RecordKey, credential: StoredCredential, authorizedBy: string | undefined): Promise<void> {
    await this.vault.write(key, {
      data: Buffer.from(JSON.stringify(credential), "utf8"),
      type: OAUTH_RECORD_TYPE,
      authorizedBy,
    });
  }

  async delete(key: RecordKey): Promise<boolean> {
    return this.vault.delete(key);
  }

  /**
   * The credential, refreshed first when it expires within the margin. Resolves undefined when there is none, or
   * when the authorization server said `invalid_grant` (the credential is then deleted, so the next request asks the
   * person again). Other upstream failures answer 1008 and keep the credential.
   */
  async fresh(key: RecordKey, now = Date.now()): Promise<StoredCredential | undefined> {
    const credential = await this.load(key);
    if (credential === undefined || !needsRefresh(credential, now)) return credential;
    if (credential.refresh_token === undefined) {
      // Expired and nothing to refresh with: only a new authorization helps.
      return credential.expires_at !== undefined && credential.expires_at <= now ? undefined : credential;
    }
    const id = canonicalKey(key);
    let shared = this.refreshing.get(id);
    if (shared === undefined) {
      shared = this.refreshUnderLock(key, id, credential).finally(() => this.refreshing.delete(id));
      this.refreshing.set(id, shared);
    }
    return shared;
  }

  /** Refreshes `due` (the credential as the caller found it) unless another node replaces it first. */
  private async refreshUnderLock(key: RecordKey, id: string, due: StoredCredential): Promise<StoredCredential | undefined> {
    const lock = `oauth-refresh:${id}`;
    const deadline = Date.now() + REFRESH_LOCK_TTL_MS;
    while (!(await this.vault.guard(() => this.vault.store.acquireLock(lock, this.holder, REFRESH_LOCK_TTL_MS)))) {
      // Another node is refreshing this credential: wait for it, then use what it stored.
      if (Date.now() > deadline) throw new RoombusError("unavailable", "another node is still refreshing this credential; try again");
      await new Promise((resolve) => setTimeout(resolve, LOCK_WAIT_STEP_MS));
      const current = await this.load(key);
      if (current === undefined || !stillDue(current, due, Date.now())) return current;
    }
    try {
      // Re-read under the lock: another node may have refreshed it between our read and the lock.
      const current = await this.loadWithAuthorizer(key);
      if (current === undefined) return undefined;
      const { credential, authorizedBy } = current;
      if (!stillDue(credential, due, Date.now()) || credential.refresh_token === undefined) return credential;
      return await this.refresh(key, credential, authorizedBy);
    } finally {
      await this.vault.store.releaseLock(lock, this.holder).catch(() => undefined);
    }
  }

  private async refresh(
    key: RecordKey,
    credential: StoredCredential,
    authorizedBy: string | undefined,
  ): Promise<StoredCredential | undefined> {
    const as = authorizationServer(credential.client, credential.issuer);
    const client = oauthClient(credential.client);
    let response: oauth.TokenEndpointResponse;
    try {
      const answer = await oauth.refreshTokenGrantRequest(
        as,
        client,
        clientAuthentication(credential.client),
        credential.refresh_token!,
        requestOptions(credential.client.token_endpoint, this.tokenEndpointTimeoutMs),
      );
      response = await oauth.processRefreshTokenResponse(as, client, answer);
    } catch (error) {
      const failure = classifyTokenError(error);
      if (failure.kind === "invalid_grant") {
        this.logger.info({ room: key.room, owner: key.owner }, "refresh token refused (invalid_grant); the credential was deleted");
        await this.delete(key);
        return undefined;
      }
      this.logger.warn({ room: key.room, owner: key.owner, reason: failure.detail }, "OAuth refresh failed; the credential was kept");
      throw new RoombusError("operation_failed", `could not refresh the token: ${failure.detail}`);
    }
    const refreshed = credentialFrom(response, credential.client, credential.issuer, Date.now(), credential);
    await this.save(key, refreshed, authorizedBy);
    return refreshed;
  }
}

function needsRefresh(credential: StoredCredential, now: number): boolean {
  return credential.expires_at !== undefined && credential.expires_at - now <= REFRESH_MARGIN_MS;
}

/**
 * Whether the stored credential still has to be refreshed by a caller that found `due`: not when another node
 * replaced it meanwhile (a new access token or expiry) with one that has not expired, even if the new one is within
 * the margin too. Otherwise every waiting node would refresh once more, one after the other.
 */
function stillDue(stored: StoredCredential, due: StoredCredential, now: number): boolean {
  if (!needsRefresh(stored, now)) return false;
  const replaced = stored.access_token !== due.access_token || stored.expires_at !== due.expires_at;
  const expired = stored.expires_at !== undefined && stored.expires_at <= now;
  return !replaced || expired;
}
