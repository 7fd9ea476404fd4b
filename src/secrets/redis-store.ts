/**
 * The cluster SecretStore: one Redis (AOF on) or a Redis Cluster, through ioredis.
 *
 * Durability: a write is acknowledged only after Redis replied to it. What "replied" means on disk is the
 * deployment's choice of `appendfsync`: `always` fsyncs the AOF before the reply (acknowledged means on disk, like
 * SqliteStore's synchronous=FULL, at the cost of one fsync per write); `everysec` (the Redis default) may lose up to
 * about one second of acknowledged writes if the Redis host itself crashes (a crash of only the redis-server process
 * loses nothing, the kernel still has the pages). The test helper runs `always`; a deployment that promises
 * "acknowledged means stored" through host crashes should too.
 *
 * Failure: commands never wait for a connection (the shared options of src/redis/connection.ts).
 * `enableOfflineQueue: false` makes a command issued while Redis is unreachable reject at once; a command in flight
 * when the connection drops rejects on that drop and is never re-sent after reconnect
 * (`autoResendUnfulfilledCommands: false`: a conditional write or a finishRequest run twice would report the wrong
 * outcome); a socket that stops answering is declared dead after `socketTimeout`. The Vault turns every rejection
 * into 1013 "unavailable". A rejected write may or may not have been applied.
 *
 * Cluster (`cluster: true` connects to a Redis Cluster): every script, pipeline and MULTI touches keys of one hash
 * slot only. Room-scoped keys carry the room as hash tag (`rb:{room}:…`); everything else carries a tag that contains
 * ":" (`rb:{req:<id>}`, `rb:{lock:<name>}`, `rb:{global:…}`), which a room tag never does (":" in a room name is
 * escaped), so the two families cannot collide. The one write that spans two slots, an audit entry appended to its
 * room's stream and to the global one, is two commands (see appendAudit). Nothing scans or lists keys.
 */
import { createHash } from "node:crypto";
import {
  SILENT_LOGGER,
  connectRedis,
  createRedisClient,
  watchRedisConnection,
  type RedisClient,
  type RedisEndpoint,
  type RedisLogger,
} from "../redis/connection.js";
import { defineScripts, RedisBackedStore, type Scripts } from "../redis/operations.js";
import { describeRedisEndpoint } from "../redis/endpoint.js";
import type { WrappedDataKey } from "./keyring.js";
import { canonicalKey, keyParts, type RecordKey } from "./record-key.js";
import { MAX_TIMEOUT_MS } from "../protocol/limits.js";
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

export const DEFAULT_REDIS_PREFIX = "rb:";
export const DEFAULT_AUDIT_MAX_LEN = 1_000_000;
/**
 * The real Redis TTL of a lock is its logical TTL plus this much. Expiry is decided against the caller's `now`
 * (stored `expires_at`); the Redis TTL only collects locks nobody releases, and must never end one early.
 */
const LOCK_GC_GRACE_MS = 60_000;
/**
 * An audit entry's `at` is taken when its op starts, and the entry is appended when the op ends (up to the longest
 * request timeout later), on a node whose clock may differ from Redis's. A query with `since` stops reading a stream
 * once the stream ids (Redis time of the append) are older than `since` by more than this.
 */
const AUDIT_SINCE_SLACK_MS = MAX_TIMEOUT_MS + 5 * 60_000;
const RECORD_ID_CHARS = 64;

export interface RedisStoreOptions {
  /** Prepended to every key (default "rb:"); must not contain "{" or "}". */
  prefix?: string | undefined;
  /** Approximate cap (XADD MAXLEN ~) of each audit stream. */
  auditMaxLen?: number | undefined;
}

export interface CreateRedisStoreOptions extends RedisStoreOptions, RedisEndpoint {
  /** redis:// or rediss:// URL, or a cluster's seed URLs (user and password in them are used, and never printed). */
  url: string;
  /** Connection losses and recoveries (once each), as RedisBus logs them; silent by default. */
  logger?: RedisLogger | undefined;
  /** Every connection error (the client reconnects by itself); only `error.message` is safe to log. */
  onError?: ((error: Error) => void) | undefined;
}

/** Thrown for every failed store operation; the message never carries command arguments (sealed bytes). */
export class RedisStoreError extends Error {
  override readonly name = "RedisStoreError";
}

/**
 * Connects to Redis at `url` with the options every roombus connection uses (src/redis/connection.ts: no offline queue,
 * in-flight commands rejected when the connection drops and never re-sent, a dead socket detected after 5 s),
 * checks it with PING and returns the store, which owns the connection and quits it on close. Fails with
 * "cannot reach Redis at <url without password>: <reason>".
 */
export async function createRedisStore(options: CreateRedisStoreOptions): Promise<RedisStore> {
  const endpoint = { url: options.url, cluster: options.cluster };
  const client = createRedisClient(endpoint, "roombus:store");
  await connectRedis([client], endpoint);
  const store = new RedisStore(client, options);
  watchRedisConnection(client, "store", endpoint, options.logger ?? SILENT_LOGGER, () => store.isClosed);
  if (options.onError !== undefined) client.on("error", options.onError);
  try {
    await client.ping();
  } catch (error) {
    await store.close();
    throw new RedisStoreError(
      `cannot reach ${describeRedisEndpoint(endpoint)}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  return store;
}

/**
 * Escapes a name for use inside a key: "%", "{", "}", ":", "|", ASCII control characters and space become %XX, and
 * lone UTF-16 surrogates (which UTF-8 cannot carry) become %uXXXX. The result is unambiguous (injective) and holds
 * no hash-tag braces and no separators.
 */
export function escapeKeyPart(name: string): string {
  return name.replace(
    /[%{}:|\x7f]|[^\x21-\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g,
    (c) => {
      const code = c.charCodeAt(0);
      return code > 0xff ? `%u${code.toString(16).padStart(4, "0")}` : `%${code.toString(16).padStart(2, "0")}`;
    },
  );
}

/**
 * The key names of one store (P = prefix, {…} = hash tag, names escaped with escapeKeyPart):
 *
 * | key                        | type              | holds                                                        |
 * |----------------------------|-------------------|--------------------------------------------------------------|
 * | P{room}:rec:<sha256>       | hash              | one record: key (canonical JSON), sealed, type, name,        |
 * |                            |                   | authorized_by, version, updated_at, idx_authorizer           |
 * | P{room}:idx                | sorted set (lex)  | o|owner|id, d|delegate|id, a|authorizer|id                   |
 * | P{room}:audit              | stream            | the room's audit entries (field "entry", JSON)               |
 * | P{global:audit}            | stream            | every audit entry, for queries without a room                |
 * | P{global:data-keys}        | hash              | newest, key:<id>:master / :wrapped / :created                |
 * | P{req:<id>}                | hash + TTL        | state, expires_at, record (JSON)                             |
 * | P{lock:<name>}             | hash + TTL        | holder, expires_at                                           |
 */
export class RedisKeyLayout {
  constructor(readonly prefix: string) {
    if (/[{}]/.test(prefix)) throw new RedisStoreError("the Redis key prefix must not contain { or }");
  }

  /** Every room-scoped key starts with this: the room is the hash tag, so one room lives in one slot. */
  room(room: string): string {
    return `${this.prefix}{${escapeKeyPart(room)}}`;
  }

  /** The record's id inside key names: SHA-256 of the canonical key, so any key maps to one fixed-length name. */
  recordId(key: RecordKey): string {
    return createHash("sha256").update(canonicalKey(key)).digest("hex");
  }

  record(key: RecordKey): string {
    return this.recordById(key.room, this.recordId(key));
  }

  recordById(room: string, id: string): string {
    return `${this.room(room)}:rec:${id}`;
  }

  /** One sorted set per room (all scores 0, read by lex range): members `o|owner|id`, `d|delegate|id`, `a|authorizer|id`. */
  roomIndex(room: string): string {
    return `${this.room(room)}:idx`;
  }

  roomAudit(room: string): string {
    return `${this.room(room)}:audit`;
  }

  globalAudit(): string {
    return `${this.prefix}{global:audit}`;
  }

  dataKeys(): string {
    return `${this.prefix}{global:data-keys}`;
  }

  request(id: string): string {
    return `${this.prefix}{req:${escapeKeyPart(id)}}`;
  }

  lock(name: string): string {
    return `${this.prefix}{lock:${escapeKeyPart(name)}}`;
  }
}

type IndexKind = "o" | "d" | "a";

function indexMember(kind: IndexKind, identity: string, recordId: string): string {
  return `${kind}|${escapeKeyPart(identity)}|${recordId}`;
}

/**
 * Lua scripts, each atomic on the keys it names (all in one hash slot). Times come in as arguments (the caller's
 * clock, as with SqliteStore), never from Redis's TIME. Numbers are stored as decimal strings.
 */
const SCRIPTS = {
  /**
   * Conditional upsert of one record and its index entries.
   * KEYS: record, room index. ARGV: mode ("any" | "create" | "expect"), expected version, now, sealed, type,
   * has name, name, has authorizer, authorizer, canonical key, owner member, delegate member ("" if none),
   * authorizer member ("" if none). Returns the new version, 0 for "exists", -1 for "conflict".
   */
  roombusStorePutRecord: {
    numberOfKeys: 2,
    lua: `
local current = redis.call('HGET', KEYS[1], 'version')
if ARGV[1] == 'create' and current then return 0 end
if ARGV[1] == 'expect' and ((not current) or tonumber(current) ~= tonumber(ARGV[2])) then return -1 end
local version = (current and tonumber(current) or 0) + 1
local oldAuthorizer = redis.call('HGET', KEYS[1], 'idx_authorizer')
redis.call('HSET', KEYS[1], 'key', ARGV[10], 'type', ARGV[5], 'sealed', ARGV[4],
  'version', string.format('%d', version), 'updated_at', ARGV[3])
if ARGV[6] == '1' then redis.call('HSET', KEYS[1], 'name', ARGV[7]) else redis.call('HDEL', KEYS[1], 'name') end
if oldAuthorizer and oldAuthorizer ~= ARGV[13] then redis.call('ZREM', KEYS[2], oldAuthorizer) end
if ARGV[8] == '1' then
  redis.call('HSET', KEYS[1], 'authorized_by', ARGV[9], 'idx_authorizer', ARGV[13])
  redis.call('ZADD', KEYS[2], 0, ARGV[13])
else
  redis.call('HDEL', KEYS[1], 'authorized_by', 'idx_authorizer')
end
redis.call('ZADD', KEYS[2], 0, ARGV[11])
if ARGV[12] ~= '' then redis.call('ZADD', KEYS[2], 0, ARGV[12]) end
return version
`,
  },
  /** KEYS: record, room index. ARGV: owner member, delegate member ("" if none). Returns 1 if it deleted. */
  roombusStoreDeleteRecord: {
    numberOfKeys: 2,
    lua: `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local authorizer = redis.call('HGET', KEYS[1], 'idx_authorizer')
if authorizer then redis.call('ZREM', KEYS[2], authorizer) end
redis.call('ZREM', KEYS[2], ARGV[1])
if ARGV[2] ~= '' then redis.call('ZREM', KEYS[2], ARGV[2]) end
redis.call('DEL', KEYS[1])
return 1
`,
  },
  /**
   * Creates a pending request unless the id exists; its TTL (ms) keeps the tombstone after the deadline.
   * KEYS: request. ARGV: record JSON, expires_at, ttl ms. Returns 1 when created, 0 when the id exists.
   */
  roombusStoreCreateRequest: {
    numberOfKeys: 1,
    lua: `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'state', 'pending', 'expires_at', ARGV[2], 'record', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`,
  },
  /**
   * Moves a pending request to a final state; exactly one caller wins. Late answers (at or past expires_at) turn it
   * "expired" instead. The key keeps its TTL (the tombstone). KEYS: request. ARGV: state, now.
   * Returns {'won', record JSON} or {'lost', state} (state "not_found" when there is no such request).
   */
  roombusStoreFinishRequest: {
    numberOfKeys: 1,
    lua: `
local current = redis.call('HMGET', KEYS[1], 'state', 'expires_at', 'record')
if not current[1] then return {'lost', 'not_found'} end
if current[1] ~= 'pending' then return {'lost', current[1]} end
if tonumber(current[2]) <= tonumber(ARGV[2]) and (ARGV[1] == 'answered' or ARGV[1] == 'rejected') then
  redis.call('HSET', KEYS[1], 'state', 'expired')
  return {'lost', 'expired'}
end
redis.call('HSET', KEYS[1], 'state', ARGV[1])
return {'won', current[3]}
`,
  },
  /**
   * Takes the lock unless another holder has it with expires_at > now (the caller's clock). The PEXPIRE is only a
   * safety net that collects abandoned locks. KEYS: lock. ARGV: holder, now, expires_at, Redis TTL ms. Returns 1/0.
   */
  roombusStoreAcquireLock: {
    numberOfKeys: 1,
    lua: `
local current = redis.call('HMGET', KEYS[1], 'holder', 'expires_at')
if current[1] and current[1] ~= ARGV[1] and tonumber(current[2]) > tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'holder', ARGV[1], 'expires_at', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
`,
  },
  /** Deletes the lock only if `holder` holds it. KEYS: lock. ARGV: holder. */
  roombusStoreReleaseLock: {
    numberOfKeys: 1,
    lua: `
if redis.call('HGET', KEYS[1], 'holder') == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`,
  },
} as const;

type StoreScripts = Scripts<keyof typeof SCRIPTS>;

export class RedisStore extends RedisBackedStore implements SecretStore {
  readonly keys: RedisKeyLayout;
  private readonly scripts: StoreScripts;
  private readonly auditMaxLen: number;

  /** Takes ownership of `client` (closing the store quits it). Give it the options `createRedisStore` uses. */
  constructor(client: RedisClient, options: RedisStoreOptions = {}) {
    super(client, (message) => new RedisStoreError(message));
    this.keys = new RedisKeyLayout(options.prefix ?? DEFAULT_REDIS_PREFIX);
    this.auditMaxLen = options.auditMaxLen ?? DEFAULT_AUDIT_MAX_LEN;
    this.scripts = defineScripts(client, SCRIPTS);
  }

  getRecord(key: RecordKey): Promise<StoredRecord | undefined> {
    return this.run("getRecord", async () => {
      const fields = await this.client.hgetallBuffer(this.keys.record(key));
      const record = fieldsToRecord(fields);
      // The key name is a hash; the stored canonical key proves it is this record.
      return record !== undefined && canonicalKey(record.key) === canonicalKey(key) ? record : undefined;
    });
  }

  putRecord(key: RecordKey, value: RecordValue, options: PutOptions = {}, now = Date.now()): Promise<PutResult> {
    return this.run("putRecord", async (): Promise<PutResult> => {
      const ifVersion = options.ifVersion;
      // Same reading of ifVersion as SqliteStore: 0 = create only, > 0 = expected version, anything else = none.
      const mode = ifVersion === 0 ? "create" : ifVersion !== undefined && ifVersion > 0 ? "expect" : "any";
      const id = this.keys.recordId(key);
      const result = await this.scripts.roombusStorePutRecord(
        this.keys.recordById(key.room, id),
        this.keys.roomIndex(key.room),
        mode,
        mode === "expect" ? String(ifVersion) : "",
        String(now),
        Buffer.from(value.sealed.buffer, value.sealed.byteOffset, value.sealed.byteLength),
        value.type,
        value.name === undefined ? "0" : "1",
        value.name ?? "",
        value.authorizedBy === undefined ? "0" : "1",
        value.authorizedBy ?? "",
        canonicalKey(key),
        indexMember("o", key.owner, id),
        key.delegatedTo === undefined ? "" : indexMember("d", key.delegatedTo, id),
        value.authorizedBy === undefined ? "" : indexMember("a", value.authorizedBy, id),
      );
      const version = Number(result);
      if (version === 0) return { ok: false, reason: "exists" };
      if (version < 0) return { ok: false, reason: "conflict" };
      return { ok: true, version };
    });
  }

  deleteRecord(key: RecordKey): Promise<boolean> {
    return this.run("deleteRecord", async () => {
      const id = this.keys.recordId(key);
      const deleted = await this.scripts.roombusStoreDeleteRecord(
        this.keys.recordById(key.room, id),
        this.keys.roomIndex(key.room),
        indexMember("o", key.owner, id),
        key.delegatedTo === undefined ? "" : indexMember("d", key.delegatedTo, id),
      );
      return Number(deleted) === 1;
    });
  }

  listRecords(room: string, identity: string): Promise<RecordListing> {
    return this.run("listRecords", async (): Promise<RecordListing> => {
      const index = this.keys.roomIndex(room);
      // Index, then records: two round trips, each one slot (the room's). A record deleted in between is skipped;
      // every record is checked against the stored key, so a stale index entry can never list a wrong record.
      const [owned, delegated, authorized] = await Promise.all(
        (["o", "d", "a"] as const).map((kind) => this.listIndex(index, kind, identity)),
      );
      const ids = [...new Set([...owned!, ...delegated!, ...authorized!])];
      const records = new Map<string, StoredRecord>();
      if (ids.length > 0) {
        const pipeline = this.client.pipeline();
        for (const id of ids) pipeline.hgetallBuffer(this.keys.recordById(room, id));
        const replies = (await pipeline.exec()) ?? [];
        replies.forEach(([error, fields], i) => {
          if (error) throw error;
          const record = fieldsToRecord(fields as Record<string, Buffer>);
          if (record !== undefined) records.set(ids[i]!, record);
        });
      }
      const pick = (ids: string[], keep: (record: StoredRecord) => boolean): StoredRecord[] =>
        ids.flatMap((id) => {
          const record = records.get(id);
          return record !== undefined && record.key.room === room && keep(record) ? [record] : [];
        });
      const byKey = (record: StoredRecord): string[] => {
        const [part1, part2] = keyParts(record.key);
        return [record.key.kind, part1, part2, record.key.delegatedTo ?? ""];
      };
      return {
        owned: sortBy(
          pick(owned!, (r) => r.key.owner === identity),
          byKey,
        ),
        delegatedToMe: sortBy(
          pick(delegated!, (r) => r.key.delegatedTo === identity && r.key.owner !== identity),
          (r) => [r.key.owner, ...byKey(r)],
        ),
        authorizedByMe: sortBy(
          // A credential also delegated to the caller is already in its delegated list (as in SqliteStore).
          pick(authorized!, (r) => r.authorizedBy === identity && r.key.owner !== identity && r.key.delegatedTo !== identity),
          (r) => [r.key.owner, ...byKey(r)],
        ),
      };
    });
  }

  createRequest(record: RequestRecord): Promise<void> {
    return this.run("createRequest", async () => {
      // Relative TTL from this node's clock: the deadline plus the tombstone, and at least the tombstone (a record
      // whose deadline has passed, or one made with a test clock, still gets remembered). Redis's own clock and
      // any skew against it do not matter.
      const ttlMs = Math.max(0, Math.ceil(record.expiresAt - Date.now())) + REQUEST_TOMBSTONE_MS;
      const created = await this.scripts.roombusStoreCreateRequest(
        this.keys.request(record.id),
        JSON.stringify(record),
        String(record.expiresAt),
        String(ttlMs),
      );
      if (Number(created) !== 1) throw new RedisStoreError(`request ${record.id} already exists`);
    });
  }

  getRequest(id: string, now = Date.now()): Promise<{ record: RequestRecord; state: RequestState } | undefined> {
    return this.run("getRequest", async () => {
      const [state, expiresAt, record] = await this.client.hmget(this.keys.request(id), "state", "expires_at", "record");
      if (state == null || expiresAt == null || record == null) return undefined;
      const shown = state === "pending" && Number(expiresAt) <= now ? "expired" : (state as RequestState);
      return { record: JSON.parse(record) as RequestRecord, state: shown };
    });
  }

  finishRequest(id: string, state: FinalRequestState, now = Date.now()): Promise<FinishResult> {
    return this.run("finishRequest", async (): Promise<FinishResult> => {
      const reply = (await this.scripts.roombusStoreFinishRequest(this.keys.request(id), state, String(now))) as [string, string];
      if (reply[0] === "won") return { won: true, record: JSON.parse(reply[1]) as RequestRecord };
      return { won: false, state: reply[1] as FinalRequestState | "not_found" };
    });
  }

  acquireLock(name: string, holder: string, ttlMs: number, now = Date.now()): Promise<boolean> {
    return this.run("acquireLock", async () => {
      if (!Number.isFinite(ttlMs) || !Number.isFinite(now)) throw new RedisStoreError("lock ttl and time must be finite numbers");
      const taken = await this.scripts.roombusStoreAcquireLock(
        this.keys.lock(name),
        holder,
        String(now),
        String(now + ttlMs),
        String(Math.max(1, Math.ceil(ttlMs)) + LOCK_GC_GRACE_MS),
      );
      return Number(taken) === 1;
    });
  }

  releaseLock(name: string, holder: string): Promise<void> {
    return this.run("releaseLock", async () => {
      await this.scripts.roombusStoreReleaseLock(this.keys.lock(name), holder);
    });
  }

  loadDataKeys(): Promise<{ keys: WrappedDataKey[]; newestId: number | undefined }> {
    return this.run("loadDataKeys", async () => {
      const fields = await this.client.hgetallBuffer(this.keys.dataKeys());
      const keys: WrappedDataKey[] = [];
      for (const [field, value] of Object.entries(fields)) {
        const match = /^key:(-?\d+):wrapped$/.exec(field);
        if (match === null) continue;
        const id = match[1]!;
        const master = fields[`key:${id}:master`];
        const created = fields[`key:${id}:created`];
        if (master === undefined || created === undefined) continue;
        keys.push({ id: Number(id), masterKeyId: master.toString("utf8"), wrapped: value, createdAt: Number(created.toString()) });
      }
      keys.sort((a, b) => a.createdAt - b.createdAt || a.id - b.id);
      const newest = fields.newest;
      return { keys, newestId: newest === undefined ? undefined : Number(newest.toString()) };
    });
  }

  saveDataKeys(keys: WrappedDataKey[], newestId: number): Promise<void> {
    return this.run("saveDataKeys", async () => {
      const ids = new Set(keys.map((key) => key.id));
      if (ids.size !== keys.length) throw new RedisStoreError("data key ids must be unique");
      const fields: (string | Buffer)[] = ["newest", String(newestId)];
      for (const key of keys) {
        fields.push(`key:${key.id}:master`, key.masterKeyId);
        fields.push(`key:${key.id}:wrapped`, Buffer.from(key.wrapped.buffer, key.wrapped.byteOffset, key.wrapped.byteLength));
        fields.push(`key:${key.id}:created`, String(key.createdAt));
      }
      // One key, one MULTI: readers see the old set or the new one, never a mix.
      const dataKeys = this.keys.dataKeys();
      const replies = await this.client.multi().del(dataKeys).hset(dataKeys, ...fields).exec();
      if (replies === null) throw new RedisStoreError("saving the data keys was aborted");
      for (const [error] of replies) if (error) throw error;
    });
  }

  appendAudit(entry: AuditEntry): Promise<void> {
    return this.run("appendAudit", async () => {
      const json = JSON.stringify(auditToJson(entry));
      const append = (key: string) => this.client.xadd(key, "MAXLEN", "~", this.auditMaxLen, "*", "entry", json);
      // Two streams in two slots (the room's and the global one), on two shards of a Redis Cluster: so two commands,
      // never one transaction or script. An entry can land in one and not the other only if Redis fails between
      // the two, and then the append rejects.
      await Promise.all([append(this.keys.roomAudit(entry.room)), append(this.keys.globalAudit())]);
    });
  }

  queryAudit(query: AuditQuery): Promise<AuditEntry[]> {
    return this.run("queryAudit", async () => {
      const stream = query.room === undefined ? this.keys.globalAudit() : this.keys.roomAudit(query.room);
      const limit = query.limit < 0 ? Number.POSITIVE_INFINITY : query.limit;
      const batch = Math.min(1_000, Math.max(100, Number.isFinite(limit) ? limit * 2 : 1_000));
      const found: AuditEntry[] = [];
      let end = "+";
      // Newest first, page by page, filtering here: stream order is append order, like SqliteStore's seq.
      while (found.length < limit) {
        const page = await this.client.xrevrange(stream, end, "-", "COUNT", batch);
        for (const [id, fields] of page) {
          if (query.since !== undefined && Number(id.split("-")[0]) < query.since - AUDIT_SINCE_SLACK_MS) return found;
          const entry = auditFromFields(fields);
          if (entry === undefined) continue;
          if (query.room !== undefined && entry.room !== query.room) continue;
          if (query.identity !== undefined && entry.actor !== query.identity) continue;
          if (query.since !== undefined && entry.at < query.since) continue;
          found.push(entry);
          if (found.length >= limit) break;
        }
        if (page.length < batch) break;
        end = `(${page[page.length - 1]![0]}`;
      }
      return found;
    });
  }

  private async listIndex(index: string, kind: IndexKind, identity: string): Promise<string[]> {
    const prefix = `${kind}|${escapeKeyPart(identity)}|`;
    // Members are prefix + 64 hex digits; 0xff never occurs in UTF-8, so it closes the range.
    const members = await this.client.zrangebylex(
      index,
      Buffer.from(`[${prefix}`),
      Buffer.concat([Buffer.from(`(${prefix}`), Buffer.from([0xff])]),
    );
    return members.map((member) => member.slice(-RECORD_ID_CHARS));
  }
}

function fieldsToRecord(fields: Record<string, Buffer>): StoredRecord | undefined {
  const { key: keyField, sealed, type, version, updated_at: updatedAt, name, authorized_by: authorizedBy } = fields;
  if (keyField === undefined || sealed === undefined || type === undefined || version === undefined || updatedAt === undefined) {
    return undefined;
  }
  return {
    key: parseCanonicalKey(keyField.toString("utf8")),
    name: name?.toString("utf8"),
    authorizedBy: authorizedBy?.toString("utf8"),
    type: type.toString("utf8"),
    version: Number(version.toString()),
    updatedAt: Number(updatedAt.toString()),
    sealed,
  };
}

/** The inverse of canonicalKey (record-key.ts): JSON of ["roombus.record.v1", room, owner, kind, part1, part2, delegated_to]. */
function parseCanonicalKey(text: string): RecordKey {
  const [, room, owner, kind, part1, part2, delegated] = JSON.parse(text) as string[];
  if (room === undefined || owner === undefined || part1 === undefined || part2 === undefined) {
    throw new RedisStoreError("a stored record has a malformed key");
  }
  const delegatedTo = delegated === undefined || delegated === "" ? undefined : delegated;
  switch (kind) {
    case "secret":
      return { kind: "secret", room, owner, id: part1, delegatedTo };
    case "requested":
      return { kind: "requested", room, owner, url: part1, type: part2, delegatedTo };
    case "oauth":
      return { kind: "oauth", room, owner, authorizationEndpoint: part1, clientId: part2, delegatedTo };
    default:
      throw new RedisStoreError("a stored record has a malformed key");
  }
}

/** Sorts by a tuple of strings compared as UTF-8 bytes (SQLite's BINARY collation), so both stores list alike. */
function sortBy<T>(items: T[], tuple: (item: T) => string[]): T[] {
  const keyed = items.map((item) => ({ item, parts: tuple(item).map((part) => Buffer.from(part, "utf8")) }));
  keyed.sort((a, b) => {
    for (let i = 0; i < a.parts.length; i++) {
      const order = Buffer.compare(a.parts[i]!, b.parts[i]!);
      if (order !== 0) return order;
    }
    return 0;
  });
  return keyed.map(({ item }) => item);
}

interface AuditJson {
  at: number;
  room: string;
  actor: string;
  participant_id: string;
  op: string;
  target: Record<string, string>;
  outcome: string;
  error_code?: number;
  value_digest?: string;
}

function auditToJson(entry: AuditEntry): AuditJson {
  const json: AuditJson = {
    at: entry.at,
    room: entry.room,
    actor: entry.actor,
    participant_id: entry.participantId,
    op: entry.op,
    target: entry.target,
    outcome: entry.outcome,
  };
  if (entry.errorCode !== undefined) json.error_code = entry.errorCode;
  if (entry.valueDigest !== undefined) json.value_digest = entry.valueDigest;
  return json;
}

function auditFromFields(fields: string[]): AuditEntry | undefined {
  const index = fields.indexOf("entry");
  const text = index >= 0 && index % 2 === 0 ? fields[index + 1] : undefined;
  if (text === undefined) return undefined;
  const json = JSON.parse(text) as AuditJson;
  return {
    at: json.at,
    room: json.room,
    actor: json.actor,
    participantId: json.participant_id,
    op: json.op,
    target: json.target,
    outcome: json.outcome,
    errorCode: json.error_code,
    valueDigest: json.value_digest,
  };
}
