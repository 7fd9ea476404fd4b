/**
 * The PresenceDirectory and NodeLiveness over Redis.
 *
 * Keys (ARCHITECTURE.md, "Routing across nodes"):
 * - `rb:{<room>}:presence`: hash participant id → msgpack(ParticipantRecord). The `{room}` hash tag puts it on the
 *   shard of the room's channel.
 * - `rb:node:<id>:alive`: "1" with a PX TTL, refreshed by `heartbeat`.
 * - `rb:nodes`: set of every node that has sent a heartbeat and was not forgotten.
 * - `rb:node:<id>:rooms`: set of rooms where the node has (or recently had) participants, for the cleaner.
 * - `rb:node:<id>:cleanup`: the cleanup lock for a dead node (SET NX PX), holding the claimer's id.
 *
 * No command spans two keys (no MULTI, no multi-key script; the one script names one key), so the same code runs on
 * Redis Cluster, where each command goes to its key's shard. Nothing scans or lists keys: the node list is a set.
 * Every command fails fast while Redis is down (see `redisClientOptions`).
 */
import { encodeMsgpack } from "../protocol/codec.js";
import type { NodeLiveness, ParticipantRecord, PresenceDirectory } from "./presence.js";
import {
  closeRedis,
  connectRedis,
  createRedisClient,
  decodePeerMsgpack,
  SILENT_LOGGER,
  watchRedisConnection,
  type RedisClient,
  type RedisEndpoint,
  type RedisLogger,
} from "../redis/connection.js";

export const NODES_KEY = "rb:nodes";

export function presenceKey(room: string): string {
  return `rb:{${room}}:presence`;
}

export function nodeAliveKey(nodeId: string): string {
  return `rb:node:${nodeId}:alive`;
}

export function nodeRoomsKey(nodeId: string): string {
  return `rb:node:${nodeId}:rooms`;
}

export function nodeCleanupKey(nodeId: string): string {
  return `rb:node:${nodeId}:cleanup`;
}

/** HSET only when the field exists, atomically: an update racing a removal must not bring the participant back. */
const HSET_IF_PRESENT = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  return 1
end
return 0
`;
const HSET_IF_PRESENT_COMMAND = "roombusHsetIfPresent";
type HsetIfPresent = (key: string, field: string, value: Buffer) => Promise<number>;

export interface RedisPresenceOptions extends RedisEndpoint {
  /** `redis://` or `rediss://` (a cluster's seeds, comma-separated); no password appears in an error or a log line. */
  url: string;
  logger?: RedisLogger;
}

/** Connects and resolves with a RedisPresence that owns (and on `close` quits) its connection. */
export async function createRedisPresence(options: RedisPresenceOptions): Promise<RedisPresence> {
  const logger = options.logger ?? SILENT_LOGGER;
  const endpoint = { url: options.url, cluster: options.cluster };
  const redis = createRedisClient(endpoint, "roombus:presence");
  await connectRedis([redis], endpoint);
  const presence = new RedisPresence(redis, { ownsConnection: true, logger });
  watchRedisConnection(redis, "presence", endpoint, logger, () => presence.isClosed);
  return presence;
}

export class RedisPresence implements PresenceDirectory, NodeLiveness {
  private readonly ownsConnection: boolean;
  private readonly logger: RedisLogger;
  private readonly hsetIfPresent: HsetIfPresent;
  /**
   * room → node → ids of participants this instance added and has not removed. It tells `remove` when a node's last
   * participant of a room leaves, so the room leaves that node's `rooms` set and the set stays bounded.
   */
  private readonly added = new Map<string, Map<string, Set<string>>>();
  private closed = false;

  /** Uses `redis` (connected, or connecting lazily); with `ownsConnection` the connection is quit on `close`. */
  constructor(
    private readonly redis: RedisClient,
    options: { ownsConnection?: boolean; logger?: RedisLogger } = {},
  ) {
    this.ownsConnection = options.ownsConnection === true;
    this.logger = options.logger ?? SILENT_LOGGER;
    redis.defineCommand(HSET_IF_PRESENT_COMMAND, { numberOfKeys: 1, lua: HSET_IF_PRESENT });
    const command = (redis as unknown as Record<string, HsetIfPresent>)[HSET_IF_PRESENT_COMMAND]!;
    this.hsetIfPresent = command.bind(redis);
  }

  async add(room: string, participant: ParticipantRecord): Promise<void> {
    const { node, id } = participant;
    let nodes = this.added.get(room);
    if (nodes === undefined) {
      nodes = new Map();
      this.added.set(room, nodes);
    }
    let ids = nodes.get(node);
    if (ids === undefined) {
      ids = new Set();
      nodes.set(node, ids);
    }
    ids.add(id);
    const value = encodeMsgpack(participant);
    // Both commands are issued in this tick, so they reach Redis in the order of the calls that issued them, and
    // the SADD here cannot be overtaken by the SREM of an earlier `remove`. SADD first: whenever a record is in the
    // hash, its room is in its node's set, so a cleaner cannot miss it.
    await Promise.all([this.redis.sadd(nodeRoomsKey(node), room), this.redis.hset(presenceKey(room), id, value)]);
  }

  async remove(room: string, participantId: string): Promise<boolean> {
    const removed = this.redis.hdel(presenceKey(room), participantId);
    const lastOfNode = this.forgetAdded(room, participantId);
    const untracked = lastOfNode === undefined ? undefined : this.redis.srem(nodeRoomsKey(lastOfNode), room);
    const [count] = await Promise.all([removed, untracked]);
    return count === 1;
  }

  async update(room: string, participant: ParticipantRecord): Promise<void> {
    await this.hsetIfPresent(presenceKey(room), participant.id, encodeMsgpack(participant));
  }

  async list(room: string): Promise<ParticipantRecord[]> {
    const fields = await this.redis.hgetallBuffer(presenceKey(room));
    const records: ParticipantRecord[] = [];
    for (const [id, value] of Object.entries(fields)) {
      try {
        records.push(decodePeerMsgpack(value) as ParticipantRecord);
      } catch {
        this.logger.warn({ room, participant_id: id }, "presence skipped an undecodable record");
      }
    }
    return records;
  }

  async heartbeat(nodeId: string, ttlMs: number): Promise<void> {
    checkTtl(ttlMs);
    await Promise.all([this.redis.set(nodeAliveKey(nodeId), "1", "PX", ttlMs), this.redis.sadd(NODES_KEY, nodeId)]);
  }

  async isAlive(nodeId: string): Promise<boolean> {
    return (await this.redis.exists(nodeAliveKey(nodeId))) === 1;
  }

  async listNodes(): Promise<string[]> {
    return this.redis.smembers(NODES_KEY);
  }

  async roomsOf(nodeId: string): Promise<string[]> {
    return this.redis.smembers(nodeRoomsKey(nodeId));
  }

  async claimDeadNode(deadNodeId: string, claimerId: string, ttlMs: number): Promise<boolean> {
    checkTtl(ttlMs);
    return (await this.redis.set(nodeCleanupKey(deadNodeId), claimerId, "PX", ttlMs, "NX")) === "OK";
  }

  async forgetNode(nodeId: string): Promise<void> {
    await Promise.all([this.redis.srem(NODES_KEY, nodeId), this.redis.del(nodeRoomsKey(nodeId))]);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.added.clear();
    if (this.ownsConnection) await closeRedis(this.redis);
  }

  /** Drops the participant from `added`; returns its node when it was that node's last one in the room. */
  private forgetAdded(room: string, participantId: string): string | undefined {
    const nodes = this.added.get(room);
    if (nodes === undefined) return undefined;
    for (const [node, ids] of nodes) {
      if (!ids.delete(participantId)) continue;
      if (ids.size > 0) return undefined;
      nodes.delete(node);
      if (nodes.size === 0) this.added.delete(room);
      return node;
    }
    return undefined;
  }
}

function checkTtl(ttlMs: number): void {
  // PX takes a positive integer; anything else would be a Redis error at best, a key without expiry at worst.
  if (!Number.isInteger(ttlMs) || ttlMs <= 0) throw new RangeError(`ttlMs must be a positive integer, got ${ttlMs}`);
}
