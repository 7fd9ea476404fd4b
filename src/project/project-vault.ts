/**
 * Project records sealed and opened with the rooms' keyring (AES-256-GCM, the newest data key). The associated data
 * binds a sealed value to its kind, id, name and meta (scope, profile ids, server, username), so a value copied to
 * another row, or a row edited in the store to widen a secret's scope, no longer decrypts.
 */
import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import { KeyringError, UnknownDataKeyError, type Keyring } from "../secrets/keyring.js";
import { ApiError } from "./api-error.js";
import type {
  ConditionOptions,
  ProjectMeta,
  ProjectRecord,
  ProjectRecordKind,
  ProjectStore,
} from "./project-store.js";

export const ID_PREFIXES: Record<ProjectRecordKind, string> = { secret: "sec_", keys: "key_", pull: "pull_" };
const ID_SUFFIX = /^[A-Za-z0-9_-]{1,64}$/;

/** A new record id: the kind's prefix and 120 random bits in base64url. */
export function newRecordId(kind: ProjectRecordKind): string {
  return ID_PREFIXES[kind] + randomBytes(15).toString("base64url");
}

/** Whether `id` could be an id of this kind (anything else cannot exist: 404 without asking the store). */
export function isRecordId(kind: ProjectRecordKind, id: string): boolean {
  return id.startsWith(ID_PREFIXES[kind]) && ID_SUFFIX.test(id.slice(ID_PREFIXES[kind].length));
}

/** The associated data: a fixed-order JSON array, meta as sorted [key, value] pairs. */
export function projectAad(kind: ProjectRecordKind, id: string, name: string, meta: ProjectMeta): string {
  const sortedMeta = Object.keys(meta)
    .sort()
    .map((key) => [key, meta[key]]);
  return JSON.stringify(["roombus.project.v1", kind, id, name, sortedMeta]);
}

export interface OpenedProjectRecord {
  record: ProjectRecord;
  value: Buffer;
}

export class ProjectVault {
  /** A reload of the data keys in progress, shared by every read that met an unknown key meanwhile. */
  private refreshing: Promise<void> | undefined;

  /**
   * `refreshKeys` loads data keys made since start (a rotation, possibly by another node); a read that meets a value
   * sealed with an unknown data key calls it once and tries again, as the rooms' Vault does.
   */
  constructor(
    readonly store: ProjectStore,
    readonly keyring: Keyring,
    private readonly logger: Logger,
    private readonly refreshKeys?: () => Promise<void>,
  ) {}

  /** Creates a record; 409 when its kind already has one with this name. */
  async create(kind: ProjectRecordKind, name: string, meta: ProjectMeta, value: Uint8Array): Promise<ProjectRecord> {
    // An id collision (120 random bits) is not expected; one retry with a new id covers it anyway.
    for (let attempt = 0; attempt < 2; attempt++) {
      const id = newRecordId(kind);
      const sealed = this.keyring.seal(value, projectAad(kind, id, name, meta));
      const result = await this.guard(() => this.store.create({ kind, id, name, meta, sealed }));
      if (result.ok) return result.record;
      if (result.reason === "name_taken") {
        const existing = await this.guard(() => this.store.findByName(kind, name));
        throw new ApiError("conflict", nameTakenMessage(kind, name, existing?.id), "name");
      }
    }
    throw new ApiError("unavailable", "could not pick a new id; try again");
  }

  async get(kind: ProjectRecordKind, id: string): Promise<ProjectRecord | undefined> {
    if (!isRecordId(kind, id)) return undefined;
    return this.guard(() => this.store.get(kind, id));
  }

  async findByName(kind: ProjectRecordKind, name: string): Promise<ProjectRecord | undefined> {
    return this.guard(() => this.store.findByName(kind, name));
  }

  async list(kind: ProjectRecordKind): Promise<ProjectRecord[]> {
    return this.guard(() => this.store.list(kind));
  }

  /** The record's value; fails closed (500, the log names the record and not the value) when it does not decrypt. */
  async open(record: ProjectRecord): Promise<Buffer> {
    const aad = projectAad(record.kind, record.id, record.name, record.meta);
    try {
      try {
        return this.keyring.open(record.sealed, aad);
      } catch (error) {
        if (!(error instanceof UnknownDataKeyError) || this.refreshKeys === undefined) throw error;
        this.refreshing ??= this.guard(this.refreshKeys).finally(() => {
          this.refreshing = undefined;
        });
        await this.refreshing;
        return this.keyring.open(record.sealed, aad);
      }
    } catch (error) {
      if (!(error instanceof KeyringError)) throw error;
      this.logger.error({ kind: record.kind, id: record.id, reason: error.message }, "stored project record does not decrypt");
      throw new ApiError("internal", "a stored value cannot be decrypted; ask an operator to check the encryption keys");
    }
  }

  /** Writes new meta and value if the stored version is still `expectedVersion` ("conflict" when it is not). */
  async replace(
    record: ProjectRecord,
    meta: ProjectMeta,
    value: Uint8Array,
    expectedVersion: number,
  ): Promise<ProjectRecord | "not_found" | "conflict"> {
    const sealed = this.keyring.seal(value, projectAad(record.kind, record.id, record.name, meta));
    const result = await this.guard(() => this.store.update(record.kind, record.id, { meta, sealed }, { ifVersion: expectedVersion }));
    return result.ok ? result.record : result.reason;
  }

  async delete(kind: ProjectRecordKind, id: string, options: ConditionOptions = {}): Promise<"deleted" | "not_found" | "conflict"> {
    if (!isRecordId(kind, id)) return "not_found";
    return this.guard(() => this.store.delete(kind, id, options));
  }

  /** A store failure (disk, connection) becomes 503, so the caller knows to retry; the log keeps the cause. */
  async guard<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      if (error instanceof ApiError) throw error;
      this.logger.error({ err: error }, "project store operation failed");
      throw new ApiError("unavailable", "the project store is unavailable; try again");
    }
  }
}

const KIND_NOUNS: Record<ProjectRecordKind, string> = { secret: "secret", keys: "key collection", pull: "pull secret" };

function nameTakenMessage(kind: ProjectRecordKind, name: string, existingId: string | undefined): string {
  const noun = KIND_NOUNS[kind];
  if (kind === "secret" && existingId !== undefined) {
    return `a ${noun} named ${name} already exists (${existingId}): change it with PATCH /v1/secrets/${existingId}`;
  }
  return `a ${noun} named ${name} already exists: delete it first, or pick another name`;
}
