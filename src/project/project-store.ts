/**
 * The ProjectStore interface: the project's own records (project secrets, key collections, image-pull secrets),
 * beside the rooms' SecretStore. Values arrive sealed (src/project/project-vault.ts seals them); a store never sees
 * plaintext. Every implementation passes test/contract/project-store.contract.ts.
 */

/** `secret`: a project secret; `keys`: a key collection; `pull`: an image-pull secret. */
export type ProjectRecordKind = "secret" | "keys" | "pull";

export const PROJECT_RECORD_KINDS: readonly ProjectRecordKind[] = ["secret", "keys", "pull"];

/** Fields the API shows and filters on (scope, profile ids, key names, server, username): never a value. */
export type ProjectMeta = Record<string, string | string[]>;

export interface ProjectRecord {
  kind: ProjectRecordKind;
  id: string;
  /** Unique among the records of one kind; never changes. */
  name: string;
  meta: ProjectMeta;
  sealed: Uint8Array;
  version: number;
  /** Milliseconds since the epoch. */
  createdAt: number;
  updatedAt: number;
}

export type NewProjectRecord = Omit<ProjectRecord, "version" | "createdAt" | "updatedAt">;

export type CreateResult = { ok: true; record: ProjectRecord } | { ok: false; reason: "name_taken" | "id_taken" };

export interface ProjectChange {
  meta: ProjectMeta;
  sealed: Uint8Array;
}

export interface ConditionOptions {
  /** Only when the stored version is this one ("conflict" otherwise). */
  ifVersion?: number | undefined;
}

export type UpdateResult = { ok: true; record: ProjectRecord } | { ok: false; reason: "not_found" | "conflict" };

export type DeleteResult = "deleted" | "not_found" | "conflict";

export interface ProjectStore {
  /** Creates a record at version 1, unless its kind already has one with this name (or, by chance, this id). */
  create(record: NewProjectRecord, now?: number): Promise<CreateResult>;
  get(kind: ProjectRecordKind, id: string): Promise<ProjectRecord | undefined>;
  findByName(kind: ProjectRecordKind, name: string): Promise<ProjectRecord | undefined>;
  /** Every record of a kind, by name (compared as UTF-8 bytes). */
  list(kind: ProjectRecordKind): Promise<ProjectRecord[]>;
  /** Replaces meta and sealed value and adds 1 to the version, atomically with the version check. */
  update(kind: ProjectRecordKind, id: string, change: ProjectChange, options?: ConditionOptions, now?: number): Promise<UpdateResult>;
  delete(kind: ProjectRecordKind, id: string, options?: ConditionOptions): Promise<DeleteResult>;
  isHealthy(): boolean;
  close(): Promise<void>;
}

/** Sorts records by name as UTF-8 bytes (SQLite's BINARY collation), so every store lists alike. */
export function byName(records: ProjectRecord[]): ProjectRecord[] {
  return records.sort((a, b) => Buffer.compare(Buffer.from(a.name, "utf8"), Buffer.from(b.name, "utf8")));
}
