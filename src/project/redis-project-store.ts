/**
 * The cluster ProjectStore, in Redis, on its own connection with the options every roombus connection uses
 * (src/redis/connection.ts: no offline queue, nothing re-sent after a drop, a dead socket found in 5 s).
 *
 * Every key carries the one hash tag `{global:project}` (it holds ":", which an escaped room tag never does, as in
 * RedisStore), so each Lua script and pipeline below touches keys of one slot and runs on Redis Cluster too (`cluster:
 * true`), on the one shard that owns that slot; listing reads the names hash, never scans:
 *
 * | key                                  | type | holds                                                       |
 * |--------------------------------------|------|-------------------------------------------------------------|
 * | P{global:project}:rec:<kind>:<id>    | hash | kind, id, name, meta (JSON), sealed, version, created_at,   |
 * |                                      |      | updated_at                                                  |
 * | P{global:project}:names:<kind>       | hash | name → id (names are unique per kind)                       |
 *
 * Failures become RedisStoreError with the message only: ioredis errors carry the command's arguments (sealed bytes).
 */
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
import { DEFAULT_REDIS_PREFIX, RedisStoreError, escapeKeyPart } from "../secrets/redis-store.js";
import {
  byName,
  type ConditionOptions,
  type CreateResult,
  type DeleteResult,
  type NewProjectRecord,
  type ProjectChange,
  type ProjectMeta,
  type ProjectRecord,
  type ProjectRecordKind,
  type ProjectStore,
  type UpdateResult,
} from "./project-store.js";

export interface CreateRedisProjectStoreOptions extends RedisEndpoint {
  /** redis:// or rediss:// URL, or a cluster's seed URLs (no password is ever printed). */
  url: string;
  /** Prepended to every key (default "rb:", the RedisStore's); must not contain "{" or "}". */
  prefix?: string | undefined;
  logger?: RedisLogger | undefined;
}

/** Connects (one line naming the URL without its password when Redis is unreachable) and returns the store. */
export async function createRedisProjectStore(options: CreateRedisProjectStoreOptions): Promise<RedisProjectStore> {
  const endpoint = { url: options.url, cluster: options.cluster };
  const client = createRedisClient(endpoint, "roombus:project");
  await connectRedis([client], endpoint);
  const store = new RedisProjectStore(client, options.prefix);
  watchRedisConnection(client, "project store", endpoint, options.logger ?? SILENT_LOGGER, () => store.isClosed);
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

export class ProjectKeyLayout {
  constructor(readonly prefix: string) {
    if (/[{}]/.test(prefix)) throw new RedisStoreError("the Redis key prefix must not contain { or }");
  }

  private get base(): string {
    return `${this.prefix}{global:project}`;
  }

  record(kind: ProjectRecordKind, id: string): string {
    return `${this.base}:rec:${kind}:${escapeKeyPart(id)}`;
  }

  names(kind: ProjectRecordKind): string {
    return `${this.base}:names:${kind}`;
  }
}

/** Each atomic on its keys (one slot). Times come from the caller, as in SqliteProjectStore. */
const SCRIPTS = {
  /**
   * KEYS: record, names. ARGV: kind, id, name, meta, sealed, now.
   * Returns 1 when created, 0 when the name is taken, -1 when the id is taken.
   */
  roombusProjectCreate: {
    numberOfKeys: 2,
    lua: `
if redis.call('HEXISTS', KEYS[2], ARGV[3]) == 1 then return 0 end
if redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
redis.call('HSET', KEYS[1], 'kind', ARGV[1], 'id', ARGV[2], 'name', ARGV[3], 'meta', ARGV[4], 'sealed', ARGV[5],
  'version', '1', 'created_at', ARGV[6], 'updated_at', ARGV[6])
redis.call('HSET', KEYS[2], ARGV[3], ARGV[2])
return 1
`,
  },
  /**
   * KEYS: record. ARGV: expected version ("" for any), meta, sealed, now.
   * Returns the new version, -1 on a version mismatch, -2 when there is no record.
   */
  roombusProjectUpdate: {
    numberOfKeys: 1,
    lua: `
local current = redis.call('HGET', KEYS[1], 'version')
if not current then return -2 end
if ARGV[1] ~= '' and tonumber(current) ~= tonumber(ARGV[1]) then return -1 end
local version = tonumber(current) + 1
redis.call('HSET', KEYS[1], 'meta', ARGV[2], 'sealed', ARGV[3], 'version', string.format('%d', version), 'updated_at', ARGV[4])
return version
`,
  },
  /**
   * KEYS: record, names. ARGV: expected version ("" for any).
   * Returns 1 when deleted, -1 on a version mismatch, -2 when there is no record.
   */
  roombusProjectDelete: {
    numberOfKeys: 2,
    lua: `
local current = redis.call('HMGET', KEYS[1], 'version', 'name', 'id')
if not current[1] then return -2 end
if ARGV[1] ~= '' and tonumber(current[1]) ~= tonumber(ARGV[1]) then return -1 end
if redis.call('HGET', KEYS[2], current[2]) == current[3] then redis.call('HDEL', KEYS[2], current[2]) end
redis.call('DEL', KEYS[1])
return 1
`,
  },
} as const;

type ProjectScripts = Scripts<keyof typeof SCRIPTS>;

export class RedisProjectStore extends RedisBackedStore implements ProjectStore {
  readonly keys: ProjectKeyLayout;
  private readonly scripts: ProjectScripts;

  /** Takes ownership of `client` (closing the store quits it). */
  constructor(client: RedisClient, prefix: string = DEFAULT_REDIS_PREFIX) {
    super(client, (message) => new RedisStoreError(message));
    this.keys = new ProjectKeyLayout(prefix);
    this.scripts = defineScripts(client, SCRIPTS);
  }

  create(record: NewProjectRecord, now = Date.now()): Promise<CreateResult> {
    return this.run("create", async (): Promise<CreateResult> => {
      const result = Number(
        await this.scripts.roombusProjectCreate(
          this.keys.record(record.kind, record.id),
          this.keys.names(record.kind),
          record.kind,
          record.id,
          record.name,
          JSON.stringify(record.meta),
          toBuffer(record.sealed),
          String(now),
        ),
      );
      if (result === 0) return { ok: false, reason: "name_taken" };
      if (result < 0) return { ok: false, reason: "id_taken" };
      return { ok: true, record: { ...record, version: 1, createdAt: now, updatedAt: now } };
    });
  }

  get(kind: ProjectRecordKind, id: string): Promise<ProjectRecord | undefined> {
    return this.run("get", async () => {
      const record = fieldsToRecord(await this.client.hgetallBuffer(this.keys.record(kind, id)));
      return record?.kind === kind && record.id === id ? record : undefined;
    });
  }

  findByName(kind: ProjectRecordKind, name: string): Promise<ProjectRecord | undefined> {
    return this.run("findByName", async () => {
      const id = await this.client.hget(this.keys.names(kind), name);
      if (id === null) return undefined;
      const record = fieldsToRecord(await this.client.hgetallBuffer(this.keys.record(kind, id)));
      // A record deleted between the two reads, or a stale index entry, is not this name's record.
      return record?.kind === kind && record.name === name ? record : undefined;
    });
  }

  list(kind: ProjectRecordKind): Promise<ProjectRecord[]> {
    return this.run("list", async () => {
      const ids = await this.client.hvals(this.keys.names(kind));
      if (ids.length === 0) return [];
      const pipeline = this.client.pipeline();
      for (const id of ids) pipeline.hgetallBuffer(this.keys.record(kind, id));
      const records: ProjectRecord[] = [];
      for (const [error, fields] of (await pipeline.exec()) ?? []) {
        if (error) throw error;
        const record = fieldsToRecord(fields as Record<string, Buffer>);
        if (record?.kind === kind) records.push(record);
      }
      return byName(records);
    });
  }

  update(
    kind: ProjectRecordKind,
    id: string,
    change: ProjectChange,
    options: ConditionOptions = {},
    now = Date.now(),
  ): Promise<UpdateResult> {
    return this.run("update", async (): Promise<UpdateResult> => {
      const key = this.keys.record(kind, id);
      const version = Number(
        await this.scripts.roombusProjectUpdate(
          key,
          options.ifVersion === undefined ? "" : String(options.ifVersion),
          JSON.stringify(change.meta),
          toBuffer(change.sealed),
          String(now),
        ),
      );
      if (version === -2) return { ok: false, reason: "not_found" };
      if (version < 0) return { ok: false, reason: "conflict" };
      const record = fieldsToRecord(await this.client.hgetallBuffer(key));
      // Read back for name and created_at; a delete right after the update leaves what the update wrote.
      if (record === undefined) return { ok: false, reason: "not_found" };
      return { ok: true, record: { ...record, meta: change.meta, sealed: change.sealed, version, updatedAt: now } };
    });
  }

  delete(kind: ProjectRecordKind, id: string, options: ConditionOptions = {}): Promise<DeleteResult> {
    return this.run("delete", async (): Promise<DeleteResult> => {
      const result = Number(
        await this.scripts.roombusProjectDelete(
          this.keys.record(kind, id),
          this.keys.names(kind),
          options.ifVersion === undefined ? "" : String(options.ifVersion),
        ),
      );
      if (result === -2) return "not_found";
      if (result < 0) return "conflict";
      return "deleted";
    });
  }
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function fieldsToRecord(fields: Record<string, Buffer>): ProjectRecord | undefined {
  const { kind, id, name, meta, sealed, version, created_at: createdAt, updated_at: updatedAt } = fields;
  if (
    kind === undefined ||
    id === undefined ||
    name === undefined ||
    meta === undefined ||
    sealed === undefined ||
    version === undefined ||
    createdAt === undefined ||
    updatedAt === undefined
  ) {
    return undefined;
  }
  return {
    kind: kind.toString("utf8") as ProjectRecordKind,
    id: id.toString("utf8"),
    name: name.toString("utf8"),
    meta: JSON.parse(meta.toString("utf8")) as ProjectMeta,
    sealed,
    version: Number(version.toString()),
    createdAt: Number(createdAt.toString()),
    updatedAt: Number(updatedAt.toString()),
  };
}
