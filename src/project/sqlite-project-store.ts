/**
 * The embedded ProjectStore: its own tables in the server's SQLite file, through its own connection (WAL, a busy
 * timeout, synchronous=FULL: a write is acknowledged after its commit is on disk).
 *
 * Each write is one IMMEDIATE transaction: the version check and the write hold the write lock together, and a
 * second connection on the same file (the room SecretStore, `roombus keys rotate`) waits for it rather than failing.
 * Project writes are rare (an operator's), so there is no group commit as in SqliteStore.
 */
import Database, { type Database as SqliteDatabase, type Statement } from "better-sqlite3";
import { chmodSync, existsSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type {
  ConditionOptions,
  CreateResult,
  DeleteResult,
  NewProjectRecord,
  ProjectChange,
  ProjectMeta,
  ProjectRecord,
  ProjectRecordKind,
  ProjectStore,
  UpdateResult,
} from "./project-store.js";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS project_records (
  kind TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL, meta TEXT NOT NULL, sealed BLOB NOT NULL,
  version INTEGER NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
  PRIMARY KEY (kind, id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS project_records_by_name ON project_records (kind, name);
`;

interface Row {
  kind: ProjectRecordKind;
  id: string;
  name: string;
  meta: string;
  sealed: Buffer;
  version: number;
  created_at: number;
  updated_at: number;
}

export class SqliteProjectStore implements ProjectStore {
  private readonly db: SqliteDatabase;
  private readonly statements: ReturnType<typeof prepare>;
  private closed = false;

  constructor(readonly path: string) {
    const fresh = !existsSync(path);
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    this.db = new Database(path);
    if (fresh) chmodSync(path, 0o600);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = FULL");
    this.db.pragma("busy_timeout = 5000");
    // The room store's checkpointer thread checkpoints this file; a checkpoint inside a commit here would stall the
    // event loop (see src/secrets/sqlite-checkpointer.ts).
    this.db.pragma("wal_autocheckpoint = 0");
    this.db.exec(SCHEMA);
    this.statements = prepare(this.db);
  }

  async create(record: NewProjectRecord, now = Date.now()): Promise<CreateResult> {
    return this.db
      .transaction((): CreateResult => {
        if (this.statements.getByName.get(record.kind, record.name) !== undefined) return { ok: false, reason: "name_taken" };
        if (this.statements.get.get(record.kind, record.id) !== undefined) return { ok: false, reason: "id_taken" };
        const stored: ProjectRecord = { ...record, version: 1, createdAt: now, updatedAt: now };
        this.statements.insert.run(
          stored.kind,
          stored.id,
          stored.name,
          JSON.stringify(stored.meta),
          stored.sealed,
          stored.version,
          stored.createdAt,
          stored.updatedAt,
        );
        return { ok: true, record: stored };
      })
      .immediate();
  }

  async get(kind: ProjectRecordKind, id: string): Promise<ProjectRecord | undefined> {
    const row = this.statements.get.get(kind, id) as Row | undefined;
    return row === undefined ? undefined : rowToRecord(row);
  }

  async findByName(kind: ProjectRecordKind, name: string): Promise<ProjectRecord | undefined> {
    const row = this.statements.getByName.get(kind, name) as Row | undefined;
    return row === undefined ? undefined : rowToRecord(row);
  }

  async list(kind: ProjectRecordKind): Promise<ProjectRecord[]> {
    return (this.statements.list.all(kind) as Row[]).map(rowToRecord);
  }

  async update(
    kind: ProjectRecordKind,
    id: string,
    change: ProjectChange,
    options: ConditionOptions = {},
    now = Date.now(),
  ): Promise<UpdateResult> {
    return this.db
      .transaction((): UpdateResult => {
        const row = this.statements.get.get(kind, id) as Row | undefined;
        if (row === undefined) return { ok: false, reason: "not_found" };
        if (options.ifVersion !== undefined && row.version !== options.ifVersion) return { ok: false, reason: "conflict" };
        const version = row.version + 1;
        this.statements.update.run(JSON.stringify(change.meta), change.sealed, version, now, kind, id);
        return { ok: true, record: { ...rowToRecord(row), meta: change.meta, sealed: change.sealed, version, updatedAt: now } };
      })
      .immediate();
  }

  async delete(kind: ProjectRecordKind, id: string, options: ConditionOptions = {}): Promise<DeleteResult> {
    return this.db
      .transaction((): DeleteResult => {
        const row = this.statements.get.get(kind, id) as Row | undefined;
        if (row === undefined) return "not_found";
        if (options.ifVersion !== undefined && row.version !== options.ifVersion) return "conflict";
        this.statements.delete.run(kind, id);
        return "deleted";
      })
      .immediate();
  }

  isHealthy(): boolean {
    return !this.closed && this.db.open;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}

function rowToRecord(row: Row): ProjectRecord {
  return {
    kind: row.kind,
    id: row.id,
    name: row.name,
    meta: JSON.parse(row.meta) as ProjectMeta,
    sealed: row.sealed,
    version: row.version,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function prepare(db: SqliteDatabase) {
  const s = (sql: string): Statement => db.prepare(sql);
  return {
    get: s("SELECT * FROM project_records WHERE kind = ? AND id = ?"),
    getByName: s("SELECT * FROM project_records WHERE kind = ? AND name = ?"),
    list: s("SELECT * FROM project_records WHERE kind = ? ORDER BY name"),
    insert: s(
      `INSERT INTO project_records (kind, id, name, meta, sealed, version, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    update: s("UPDATE project_records SET meta = ?, sealed = ?, version = ?, updated_at = ? WHERE kind = ? AND id = ?"),
    delete: s("DELETE FROM project_records WHERE kind = ? AND id = ?"),
  };
}
