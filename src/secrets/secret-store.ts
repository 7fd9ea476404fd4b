/**
 * The SecretStore interface, shaped like the domain: records by key, single-use request records, data keys and the
 * audit log. Values arrive already sealed; a store never sees plaintext. Every implementation passes
 * test/contract/store.contract.ts.
 */
import type { WrappedDataKey } from "./keyring.js";
import type { RecordKey } from "./record-key.js";

export interface StoredRecord {
  key: RecordKey;
  name?: string | undefined;
  /** For OAuth credentials: the identity whose approval produced it (it may see and revoke it). */
  authorizedBy?: string | undefined;
  type: string;
  version: number;
  /** Milliseconds since the epoch. */
  updatedAt: number;
  sealed: Uint8Array;
}

export interface RecordValue {
  name?: string | undefined;
  authorizedBy?: string | undefined;
  type: string;
  sealed: Uint8Array;
}

export interface RecordListing {
  owned: StoredRecord[];
  delegatedToMe: StoredRecord[];
  authorizedByMe: StoredRecord[];
}

export interface PutOptions {
  /** 0: create only (fails with "exists" when the record is there); n ≥ 1: only when the stored version is n. */
  ifVersion?: number | undefined;
}

export type PutResult = { ok: true; version: number } | { ok: false; reason: "exists" | "conflict" };

export type RequestKind = "secret" | "oauth";

/** A request waiting for an answer from another participant; consumed exactly once. */
export interface RequestRecord {
  id: string;
  kind: RequestKind;
  room: string;
  requesterNode: string;
  requesterParticipantId: string;
  requesterIdentity: string;
  askedParticipantId: string;
  askedIdentity: string;
  expiresAt: number;
  /** Kind-specific fields (url, type, delegate_to; or the OAuth state). Never a secret value in plaintext. */
  details: Record<string, unknown>;
}

export type RequestState = "pending" | "answered" | "rejected" | "cancelled" | "expired";
export type FinalRequestState = Exclude<RequestState, "pending">;

export type FinishResult =
  | { won: true; record: RequestRecord }
  | { won: false; state: FinalRequestState | "not_found" };

export interface AuditEntry {
  at: number;
  room: string;
  actor: string;
  participantId: string;
  op: string;
  /** The record key (or request id) the op touched; never a value. */
  target: Record<string, string>;
  /** "ok", or the error name the op answered with. */
  outcome: string;
  errorCode?: number | undefined;
  /** An HMAC of the value under the audit key, for writes. */
  valueDigest?: string | undefined;
}

export interface AuditQuery {
  room?: string | undefined;
  identity?: string | undefined;
  since?: number | undefined;
  limit: number;
}

export interface SecretStore {
  getRecord(key: RecordKey): Promise<StoredRecord | undefined>;
  putRecord(key: RecordKey, value: RecordValue, options?: PutOptions, now?: number): Promise<PutResult>;
  deleteRecord(key: RecordKey): Promise<boolean>;
  /** Records owned by `identity` in `room`, records others delegated to it, and credentials it authorized for others. */
  listRecords(room: string, identity: string): Promise<RecordListing>;

  createRequest(record: RequestRecord): Promise<void>;
  getRequest(id: string, now?: number): Promise<{ record: RequestRecord; state: RequestState } | undefined>;
  /**
   * Moves a pending request to a final state; exactly one caller wins. A pending request past its deadline can only
   * become "expired" or "cancelled".
   */
  finishRequest(id: string, state: FinalRequestState, now?: number): Promise<FinishResult>;

  /**
   * Takes a named lock for `ttlMs` unless someone else holds it; resolves true when taken. A holder that dies loses
   * the lock at the TTL. Used so that only one node refreshes one OAuth credential at a time.
   */
  acquireLock(name: string, holder: string, ttlMs: number, now?: number): Promise<boolean>;
  /** Releases the lock if `holder` still holds it. */
  releaseLock(name: string, holder: string): Promise<void>;

  loadDataKeys(): Promise<{ keys: WrappedDataKey[]; newestId: number | undefined }>;
  /** Replaces the stored data keys (first start and rotation), atomically. */
  saveDataKeys(keys: WrappedDataKey[], newestId: number): Promise<void>;

  appendAudit(entry: AuditEntry): Promise<void>;
  queryAudit(query: AuditQuery): Promise<AuditEntry[]>;

  isHealthy(): boolean;
  close(): Promise<void>;
}

/** How long an answered or expired request is remembered, so a late second answer gets 1006 and not 1003. */
export const REQUEST_TOMBSTONE_MS = 10 * 60 * 1000;
