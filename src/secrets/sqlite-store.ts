/**
 * The embedded SecretStore: one SQLite file (better-sqlite3, WAL) in the data directory.
 *
 * Writes are group-committed: the writes that arrive in one turn of the event loop run in one transaction, and a
 * record or data key is acknowledged only once that transaction is on disk. One fsync serves many writers, which is
 * what keeps throughput up without weakening "acknowledged means stored". (Request states, locks and audit records
 * are acknowledged once committed to the log; see Durability below.)
 *
 * The fsync runs off the event loop. SQLite commits with synchronous=NORMAL (the write-ahead log is written, not
 * synced), and the store itself syncs the log file with an asynchronous fdatasync on libuv's thread pool before it
 * acknowledges: the same guarantee as synchronous=FULL, without the event loop waiting for the disk while other
 * sockets are ready. Syncs run one at a time; the commits made while one runs are acknowledged by the next.
 *
 * Checkpoints run on a thread of their own, which also keeps the log to a bounded size under steady writes by asking
 * for a short hold of the commits now and then (sqlite-checkpointer.ts).
 */
import Database, { type Database as SqliteDatabase, type Statement } from "better-sqlite3";
import { chmodSync, closeSync, existsSync, fdatasync, fsyncSync, mkdirSync, openSync } from "node:fs";
import { dirname } from "node:path";
import type { WrappedDataKey } from "./keyring.js";
import { Checkpointer, DEFAULT_CHECKPOINT_INTERVAL_MS, DEFAULT_WAL_LIMIT_BYTES } from "./sqlite-checkpointer.js";
import { keyParts, type RecordKey } from "./record-key.js";
import {
  REQUEST_TOMBSTONE_MS,
  type AuditEntry,
  type AuditQuery,
  type FinalRequestState,
  type FinishResult,
  type PutOptions,
  type PutResult,
  type RecordListing,
  type RecordValue,
  type RequestRecord,
  type RequestState,
  type SecretStore,
  type StoredRecord,
} from "./secret-store.js";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS records (
  room TEXT NOT NULL, owner TEXT NOT NULL, kind TEXT NOT NULL, part1 TEXT NOT NULL, part2 TEXT NOT NULL,
  delegated_to TEXT NOT NULL, name TEXT, type TEXT NOT NULL, version INTEGER NOT NULL, updated_at INTEGER NOT NULL,
  sealed BLOB NOT NULL, authorized_by TEXT,
  PRIMARY KEY (room, owner, kind, part1, part2, delegated_to)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS records_by_delegate ON records (room, delegated_to);
CREATE INDEX IF NOT EXISTS records_by_authorizer ON records (room, authorized_by) WHERE authorized_by IS NOT NULL;
CREATE TABLE IF NOT EXISTS requests (
  id TEXT PRIMARY KEY, state TEXT NOT NULL, expires_at INTEGER NOT NULL, purge_at INTEGER NOT NULL, record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS requests_by_purge ON requests (purge_at);
CREATE TABLE IF NOT EXISTS data_keys (
  id INTEGER PRIMARY KEY, master_key_id TEXT NOT NULL, wrapped BLOB NOT NULL, created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS locks (name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at INTEGER NOT NULL);
-- Audit rows are never deleted, so a plain rowid only grows; AUTOINCREMENT would cost a second write per row.
-- (Files made before this keep their AUTOINCREMENT table; both read the same.)
CREATE TABLE IF NOT EXISTS audit (
  seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, room TEXT NOT NULL, actor TEXT NOT NULL,
  participant_id TEXT NOT NULL, op TEXT NOT NULL, target TEXT NOT NULL, outcome TEXT NOT NULL, error_code INTEGER,
  value_digest TEXT
);
CREATE INDEX IF NOT EXISTS audit_by_room ON audit (room, at);
`;

interface RecordRow {
  room: string;
  owner: string;
  kind: RecordKey["kind"];
  part1: string;
  part2: string;
  delegated_to: string;
  name: string | null;
  authorized_by: string | null;
  type: string;
  version: number;
  updated_at: number;
  sealed: Buffer;
}

/**
 * How far a write must get before it is acknowledged. DURABLE: on disk (records and data keys: what a client was
 * told is stored survives a power loss). LOGGED: committed to the write-ahead log, which survives the process but
 * reaches the disk only with the next sync or checkpoint (at most a checkpoint interval later): request states and
 * locks, which do not outlive the sockets that made them, and audit records (see docs/decisions.md).
 */
type Durability = "durable" | "logged";
const DURABLE: Durability = "durable";
const LOGGED: Durability = "logged";

type Write = {
  run: () => unknown;
  durability: Durability;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
};

/** A committed write waiting for the write-ahead log to reach the disk. */
type Committed = { settle: () => void; reject: (error: unknown) => void };

/** A hold the checkpointer asked for ends by this time even if the thread never answers (writes then go on). */
const HOLD_LIMIT_MS = 2_000;

export interface SqliteStoreOptions {
  /** The write-ahead log is rewound once it is past this size (see sqlite-checkpointer.ts). */
  walLimitBytes?: number;
  /** How often the checkpointer thread copies the log into the database file. */
  checkpointIntervalMs?: number;
}

export class SqliteStore implements SecretStore {
  private readonly db: SqliteDatabase;
  private readonly statements: ReturnType<typeof prepare>;
  private queue: Write[] = [];
  private flushScheduled = false;
  /** Committed but not yet synced; and whether a sync is running. */
  private unsynced: Committed[] = [];
  private syncing = false;
  private idleWaiters: (() => void)[] = [];
  /** The write-ahead log, opened only to sync it. */
  private readonly walFd: number;
  private syncFailure: Error | undefined;
  private closed = false;
  private readonly purgeTimer: NodeJS.Timeout;
  private readonly checkpointer: Checkpointer;
  /** Why the last checkpoint failed, if one did: reported by isHealthy until the store is reopened. */
  private checkpointFailure: string | undefined;
  /** Set while the checkpointer catches up with the log: writes queue and commit when it lets go. */
  private holdTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly path: string,
    options: SqliteStoreOptions = {},
  ) {
    const fresh = !existsSync(path);
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    this.db = new Database(path);
    if (fresh) chmodSync(path, 0o600);
    this.db.pragma("journal_mode = WAL");
    // Commits write the log without syncing it; flush() syncs it before acknowledging (see the top of this file).
    this.db.pragma("synchronous = NORMAL");
    this.db.pragma("busy_timeout = 5000");
    // Checkpoints run on their own thread (sqlite-checkpointer.ts), not inside a commit on the event loop.
    this.db.pragma("wal_autocheckpoint = 0");
    this.db.exec(SCHEMA);
    this.statements = prepare(this.db);
    const limits = {
      intervalMs: options.checkpointIntervalMs ?? DEFAULT_CHECKPOINT_INTERVAL_MS,
      walLimitBytes: options.walLimitBytes ?? DEFAULT_WAL_LIMIT_BYTES,
    };
    this.checkpointer = new Checkpointer(path, limits, {
      onFailure: (reason) => {
        this.checkpointFailure ??= reason;
      },
      onHoldWanted: () => this.hold(),
      onRelease: () => this.release(),
    });
    this.walFd = openSync(`${path}-wal`, "r");
    // The log file may be new: make its directory entry durable too, once.
    const dirFd = openSync(dirname(path), "r");
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
    this.purgeTimer = setInterval(() => void this.enqueue(LOGGED, () => this.statements.purgeRequests.run(Date.now())), 60_000);
    this.purgeTimer.unref();
  }

  async getRecord(key: RecordKey): Promise<StoredRecord | undefined> {
    const row = this.statements.getRecord.get(...keyColumns(key)) as RecordRow | undefined;
    return row === undefined ? undefined : rowToRecord(row);
  }

  putRecord(key: RecordKey, value: RecordValue, options: PutOptions = {}, now = Date.now()): Promise<PutResult> {
    return this.enqueue(DURABLE, (): PutResult => {
      const columns = keyColumns(key);
      const current = this.statements.getVersion.get(...columns) as { version: number } | undefined;
      if (options.ifVersion === 0 && current !== undefined) return { ok: false, reason: "exists" };
      if (options.ifVersion !== undefined && options.ifVersion > 0 && current?.version !== options.ifVersion) {
        return { ok: false, reason: "conflict" };
      }
      const version = (current?.version ?? 0) + 1;
      this.statements.upsertRecord.run(
        ...columns,
        value.name ?? null,
        value.type,
        version,
        now,
        value.sealed,
        value.authorizedBy ?? null,
      );
      return { ok: true, version };
    });
  }

  deleteRecord(key: RecordKey): Promise<boolean> {
    return this.enqueue(DURABLE, () => this.statements.deleteRecord.run(...keyColumns(key)).changes > 0);
  }

  async listRecords(room: string, identity: string): Promise<RecordListing> {
    const owned = (this.statements.listOwned.all(room, identity) as RecordRow[]).map(rowToRecord);
    const delegatedToMe = (this.statements.listDelegated.all(room, identity, identity) as RecordRow[]).map(rowToRecord);
    const authorizedByMe = (this.statements.listAuthorized.all({ room, identity }) as RecordRow[]).map(rowToRecord);
    return { owned, delegatedToMe, authorizedByMe };
  }

  createRequest(record: RequestRecord): Promise<void> {
    return this.enqueue(LOGGED, () => {
      this.statements.insertRequest.run(
        record.id,
        record.expiresAt,
        record.expiresAt + REQUEST_TOMBSTONE_MS,
        JSON.stringify(record),
      );
    });
  }

  async getRequest(id: string, now = Date.now()): Promise<{ record: RequestRecord; state: RequestState } | undefined> {
    const row = this.statements.getRequest.get(id) as { state: RequestState; expires_at: number; record: string } | undefined;
    if (row === undefined) return undefined;
    const state = row.state === "pending" && row.expires_at <= now ? "expired" : row.state;
    return { record: JSON.parse(row.record) as RequestRecord, state };
  }

  finishRequest(id: string, state: FinalRequestState, now = Date.now()): Promise<FinishResult> {
    return this.enqueue(LOGGED, (): FinishResult => {
      const row = this.statements.getRequest.get(id) as { state: RequestState; expires_at: number; record: string } | undefined;
      if (row === undefined) return { won: false, state: "not_found" };
      if (row.state !== "pending") return { won: false, state: row.state };
      const late = row.expires_at <= now;
      if (late && (state === "answered" || state === "rejected")) {
        this.statements.setRequestState.run("expired", id);
        return { won: false, state: "expired" };
      }
      this.statements.setRequestState.run(state, id);
      return { won: true, record: JSON.parse(row.record) as RequestRecord };
    });
  }

  acquireLock(name: string, holder: string, ttlMs: number, now = Date.now()): Promise<boolean> {
    return this.enqueue(LOGGED, () => {
      const current = this.statements.getLock.get(name) as { holder: string; expires_at: number } | undefined;
      if (current !== undefined && current.expires_at > now && current.holder !== holder) return false;
      this.statements.setLock.run(name, holder, now + ttlMs);
      return true;
    });
  }

  releaseLock(name: string, holder: string): Promise<void> {
    return this.enqueue(LOGGED, () => {
      this.statements.deleteLock.run(name, holder);
    });
  }

  async loadDataKeys(): Promise<{ keys: WrappedDataKey[]; newestId: number | undefined }> {
    const rows = this.statements.listDataKeys.all() as {
      id: number;
      master_key_id: string;
      wrapped: Buffer;
      created_at: number;
    }[];
    const newest = this.statements.getMeta.get("newest_data_key") as { value: string } | undefined;
    return {
      keys: rows.map((row) => ({
        id: row.id,
        masterKeyId: row.master_key_id,
        wrapped: row.wrapped,
        createdAt: row.created_at,
      })),
      newestId: newest === undefined ? undefined : Number(newest.value),
    };
  }

  saveDataKeys(keys: WrappedDataKey[], newestId: number): Promise<void> {
    return this.enqueue(DURABLE, () => {
      this.statements.deleteDataKeys.run();
      for (const key of keys) this.statements.insertDataKey.run(key.id, key.masterKeyId, key.wrapped, key.createdAt);
      this.statements.setMeta.run("newest_data_key", String(newestId));
    });
  }

  appendAudit(entry: AuditEntry): Promise<void> {
    return this.enqueue(LOGGED, () => {
      this.statements.insertAudit.run(
        entry.at,
        entry.room,
        entry.actor,
        entry.participantId,
        entry.op,
        JSON.stringify(entry.target),
        entry.outcome,
        entry.errorCode ?? null,
        entry.valueDigest ?? null,
      );
    });
  }

  async queryAudit(query: AuditQuery): Promise<AuditEntry[]> {
    const rows = this.statements.queryAudit.all({
      room: query.room ?? null,
      identity: query.identity ?? null,
      since: query.since ?? 0,
      limit: query.limit,
    }) as {
      at: number;
      room: string;
      actor: string;
      participant_id: string;
      op: string;
      target: string;
      outcome: string;
      error_code: number | null;
      value_digest: string | null;
    }[];
    return rows.map((row) => ({
      at: row.at,
      room: row.room,
      actor: row.actor,
      participantId: row.participant_id,
      op: row.op,
      target: JSON.parse(row.target) as Record<string, string>,
      outcome: row.outcome,
      errorCode: row.error_code ?? undefined,
      valueDigest: row.value_digest ?? undefined,
    }));
  }

  isHealthy(): boolean {
    return !this.closed && this.syncFailure === undefined && this.checkpointFailure === undefined && this.db.open;
  }

  /** Commits and syncs what is queued, then closes. */
  async close(): Promise<void> {
    if (this.closed) return;
    clearInterval(this.purgeTimer);
    this.release();
    this.flush();
    this.closed = true;
    await new Promise<void>((resolve) => {
      if (!this.syncing && this.unsynced.length === 0) resolve();
      else this.idleWaiters.push(resolve);
    });
    await this.checkpointer.stop();
    closeSync(this.walFd);
    this.db.close();
  }

  private enqueue<T>(durability: Durability, run: () => T): Promise<T> {
    if (this.closed) return Promise.reject(new Error("store closed"));
    if (this.syncFailure !== undefined) return Promise.reject(this.syncFailure);
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ run, durability, resolve: resolve as (value: unknown) => void, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /**
   * Runs every queued write in one transaction, then acknowledges each once the log is synced (or fails all if the
   * commit fails).
   */
  private flush(): void {
    this.flushScheduled = false;
    // Held: release() flushes what queued meanwhile.
    if (this.holdTimer !== undefined) return;
    const batch = this.queue;
    if (batch.length === 0) return;
    this.queue = [];
    const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
    try {
      this.db.transaction(() => {
        for (const write of batch) {
          try {
            outcomes.push({ ok: true, value: write.run() });
          } catch (error) {
            outcomes.push({ ok: false, error });
          }
        }
      })();
    } catch (error) {
      for (const write of batch) write.reject(error);
      return;
    }
    batch.forEach((write, index) => {
      const outcome = outcomes[index]!;
      // A write that failed changed nothing: it may answer at once.
      if (!outcome.ok) write.reject(outcome.error);
      else if (write.durability === LOGGED) write.resolve(outcome.value);
      else this.unsynced.push({ settle: () => write.resolve(outcome.value), reject: write.reject });
    });
    this.sync();
  }

  /** Stops committing (flush() runs between turns, so no transaction is open) and lets the checkpointer catch up. */
  private hold(): void {
    if (this.closed || this.holdTimer !== undefined) return;
    this.holdTimer = setTimeout(() => this.release(), HOLD_LIMIT_MS).unref();
    this.checkpointer.held();
  }

  private release(): void {
    if (this.holdTimer === undefined) return;
    clearTimeout(this.holdTimer);
    this.holdTimer = undefined;
    if (this.queue.length > 0 && !this.flushScheduled) this.flush();
  }

  /** Syncs the log for every commit made so far, unless a sync is running: then the next one covers them. */
  private sync(): void {
    if (this.syncing || this.unsynced.length === 0) return;
    this.syncing = true;
    const covered = this.unsynced;
    this.unsynced = [];
    fdatasync(this.walFd, (error) => {
      this.syncing = false;
      if (error !== null) {
        // The disk refused: nothing committed since the last good sync can be promised, now or later.
        this.syncFailure = new Error(`the secret store could not sync its log to disk: ${error.message}`);
        for (const write of [...covered, ...this.unsynced.splice(0)]) write.reject(this.syncFailure);
      } else {
        for (const write of covered) write.settle();
      }
      if (this.unsynced.length > 0) this.sync();
      else for (const waiter of this.idleWaiters.splice(0)) waiter();
    });
  }
}

function keyColumns(key: RecordKey): [string, string, string, string, string, string] {
  const [part1, part2] = keyParts(key);
  return [key.room, key.owner, key.kind, part1, part2, key.delegatedTo ?? ""];
}

function rowToRecord(row: RecordRow): StoredRecord {
  const delegatedTo = row.delegated_to === "" ? undefined : row.delegated_to;
  let key: RecordKey;
  switch (row.kind) {
    case "secret":
      key = { kind: "secret", room: row.room, owner: row.owner, id: row.part1, delegatedTo };
      break;
    case "requested":
      key = { kind: "requested", room: row.room, owner: row.owner, url: row.part1, type: row.part2, delegatedTo };
      break;
    case "oauth":
      key = {
        kind: "oauth",
        room: row.room,
        owner: row.owner,
        authorizationEndpoint: row.part1,
        clientId: row.part2,
        delegatedTo,
      };
      break;
  }
  return {
    key,
    name: row.name ?? undefined,
    authorizedBy: row.authorized_by ?? undefined,
    type: row.type,
    version: row.version,
    updatedAt: row.updated_at,
    sealed: row.sealed,
  };
}

function prepare(db: SqliteDatabase) {
  const keyWhere = "room = ? AND owner = ? AND kind = ? AND part1 = ? AND part2 = ? AND delegated_to = ?";
  const s = (sql: string): Statement => db.prepare(sql);
  return {
    getRecord: s(`SELECT * FROM records WHERE ${keyWhere}`),
    getVersion: s(`SELECT version FROM records WHERE ${keyWhere}`),
    upsertRecord: s(
      `INSERT INTO records (room, owner, kind, part1, part2, delegated_to, name, type, version, updated_at, sealed, authorized_by)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (room, owner, kind, part1, part2, delegated_to) DO UPDATE SET
         name = excluded.name, type = excluded.type, version = excluded.version,
         updated_at = excluded.updated_at, sealed = excluded.sealed, authorized_by = excluded.authorized_by`,
    ),
    deleteRecord: s(`DELETE FROM records WHERE ${keyWhere}`),
    listOwned: s("SELECT * FROM records WHERE room = ? AND owner = ? ORDER BY kind, part1, part2, delegated_to"),
    listDelegated: s(
      "SELECT * FROM records WHERE room = ? AND delegated_to = ? AND owner <> ? ORDER BY owner, kind, part1, part2",
    ),
    listAuthorized: s(
      // A credential also delegated to the caller is already in its delegated list.
      "SELECT * FROM records WHERE room = @room AND authorized_by = @identity AND owner <> @identity AND delegated_to <> @identity ORDER BY owner, kind, part1, part2",
    ),
    insertRequest: s("INSERT INTO requests (id, state, expires_at, purge_at, record) VALUES (?, 'pending', ?, ?, ?)"),
    getRequest: s("SELECT state, expires_at, record FROM requests WHERE id = ?"),
    setRequestState: s("UPDATE requests SET state = ? WHERE id = ?"),
    purgeRequests: s("DELETE FROM requests WHERE purge_at <= ?"),
    listDataKeys: s("SELECT id, master_key_id, wrapped, created_at FROM data_keys ORDER BY created_at"),
    deleteDataKeys: s("DELETE FROM data_keys"),
    insertDataKey: s("INSERT INTO data_keys (id, master_key_id, wrapped, created_at) VALUES (?, ?, ?, ?)"),
    getMeta: s("SELECT value FROM meta WHERE name = ?"),
    getLock: s("SELECT holder, expires_at FROM locks WHERE name = ?"),
    setLock: s(
      "INSERT INTO locks (name, holder, expires_at) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at",
    ),
    deleteLock: s("DELETE FROM locks WHERE name = ? AND holder = ?"),
    setMeta: s("INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value"),
    insertAudit: s(
      `INSERT INTO audit (at, room, actor, participant_id, op, target, outcome, error_code, value_digest)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    queryAudit: s(
      `SELECT * FROM audit WHERE (@room IS NULL OR room = @room) AND (@identity IS NULL OR actor = @identity)
       AND at >= @since ORDER BY seq DESC LIMIT @limit`,
    ),
  };
}
