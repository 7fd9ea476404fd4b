/**
 * The Bus over Redis pub/sub: one connection publishes, a second one subscribes (a RESP2 subscriber connection can
 * run nothing else, and a slow handler must never delay a publish).
 *
 * Wire format: each Redis message is the msgpack map `{n: <publishing node id>, m: <message>}`. Redis delivers a
 * message to every subscriber, the publisher included; the node id lets a node drop its own echoes (the contract:
 * never delivered to the publisher). The echo test compares the payload's first bytes with this node's precomputed
 * `{n: <own id>` prefix, so an echo is dropped without being decoded.
 *
 * `sharded: true` uses SPUBLISH / SSUBSCRIBE (Redis 7 sharded pub/sub): with Redis Cluster a message then travels
 * only within the shard that owns the channel's `{room}` hash tag. A single Redis 7 server accepts both forms.
 *
 * `cluster: true` connects to a Redis Cluster and always uses sharded pub/sub, for every channel: a room's, a node's
 * inbox and the one every node hears (`rb:{nodes}:all`). The last reaches every node too, because every node
 * subscribes to it, and SSUBSCRIBE puts each subscription on the shard that owns the channel, the shard SPUBLISH
 * delivers on. The subscriber is then a cluster client with one subscriber connection per master; ioredis moves a
 * shard's subscriptions to its new owner when the cluster's slots change.
 *
 * While Redis is down, `publish` and `subscribe` reject at once (see `redisClientOptions`); `unsubscribe` resolves,
 * since the subscription died with the connection. On reconnect the bus re-subscribes every channel in its handler
 * table; `isHealthy()` is true again once that is done.
 */
import { encodeMsgpack } from "../protocol/codec.js";
import { channelKey, type Bus, type BusHandler, type Channel } from "./bus.js";
import {
  closeRedis,
  connectRedis,
  createRedisClient,
  decodePeerMsgpack,
  isRedisReady,
  SILENT_LOGGER,
  watchRedisConnection,
  type RedisClient,
  type RedisEndpoint,
  type RedisLogger,
} from "../redis/connection.js";

export interface RedisBusOptions extends RedisEndpoint {
  /** `redis://` or `rediss://` (a cluster's seeds, comma-separated); no password appears in an error or a log line. */
  url: string;
  nodeId: string;
  /**
   * SPUBLISH / SSUBSCRIBE instead of PUBLISH / SUBSCRIBE (Redis ≥ 7; needed to scale pub/sub on Redis Cluster).
   * Always on with `cluster`.
   */
  sharded?: boolean;
  logger?: RedisLogger;
}

/** Creates a RedisBus and resolves once both connections are ready; rejects with `cannot reach Redis at …`. */
export async function createRedisBus<M extends object = object>(options: RedisBusOptions): Promise<RedisBus<M>> {
  const bus = new RedisBus<M>(options);
  await bus.start();
  return bus;
}

/** `{n: string, m: M}`; `m` is null only between publishes (the envelope object is reused). */
interface Envelope<M> {
  n: string;
  m: M | null;
}

/** The bytes after the `{n: <id>` prefix in an encoded envelope whose `m` is nil: `a1 6d c0` ("m": nil). */
const NIL_M_SUFFIX_LENGTH = 3;

export class RedisBus<M extends object = object> implements Bus<M> {
  readonly nodeId: string;
  private readonly publisher: RedisClient;
  private readonly subscriber: RedisClient;
  private readonly sharded: boolean;
  private readonly logger: RedisLogger;
  private readonly endpoint: RedisEndpoint;
  /** channel key → handler: what this node wants, and what is re-subscribed after a reconnect. */
  private readonly handlers = new Map<string, BusHandler<M>>();
  /** Reused for every publish, so a publish allocates nothing but the encoded bytes. */
  private readonly envelope: Envelope<M>;
  /** The encoded `{n: <this node>` that starts every message this node publishes. */
  private readonly echoPrefix: Buffer;
  /**
   * Cluster only: channels unsubscribed while the subscriber was down. ioredis keeps a cluster's sharded channels in
   * a list of its own and subscribes them again when it reconnects; these are unsubscribed again after that.
   */
  private readonly droppedWhileDown = new Set<string>();
  private closed = false;
  /** False from a reconnect until the handler table is subscribed again. */
  private resubscribed = true;
  private connectionEpoch = 0;

  constructor(options: RedisBusOptions) {
    this.nodeId = options.nodeId;
    this.endpoint = { url: options.url, cluster: options.cluster === true };
    this.sharded = options.sharded === true || options.cluster === true;
    this.logger = options.logger ?? SILENT_LOGGER;
    this.publisher = createRedisClient(this.endpoint, `roombus:bus:pub:${options.nodeId}`);
    this.subscriber = createRedisClient(this.endpoint, `roombus:bus:sub:${options.nodeId}`, {
      shardedSubscribers: this.sharded,
    });
    this.envelope = { n: options.nodeId, m: null };
    const probe = encodeMsgpack(this.envelope);
    this.echoPrefix = Buffer.from(probe.subarray(0, probe.length - NIL_M_SUFFIX_LENGTH));
    this.subscriber.on(this.sharded ? "smessageBuffer" : "messageBuffer", this.onMessage);
  }

  /** Connects both connections; `createRedisBus` calls it. */
  async start(): Promise<void> {
    await connectRedis([this.publisher, this.subscriber], this.endpoint);
    const isClosing = (): boolean => this.closed;
    watchRedisConnection(this.publisher, "bus-publisher", this.endpoint, this.logger, isClosing);
    watchRedisConnection(this.subscriber, "bus-subscriber", this.endpoint, this.logger, isClosing);
    this.subscriber.on("close", () => {
      this.resubscribed = false;
      this.connectionEpoch++;
    });
    this.subscriber.on("ready", () => void this.resubscribe());
  }

  publish(channel: Channel, message: M): Promise<void> {
    if (this.closed) return Promise.reject(new Error("bus closed"));
    this.envelope.m = message;
    let payload: Buffer;
    try {
      payload = encodeMsgpack(this.envelope);
    } finally {
      // Not keeping the caller's message alive until the next publish.
      this.envelope.m = null;
    }
    const key = channelKey(channel);
    // The reply (a receiver count) is not needed; returning ioredis's promise as is saves a `.then` per message.
    const sent = this.sharded ? this.publisher.spublish(key, payload) : this.publisher.publish(key, payload);
    return sent as Promise<void>;
  }

  async subscribe(channel: Channel, handler: BusHandler<M>): Promise<void> {
    if (this.closed) throw new Error("bus closed");
    const key = channelKey(channel);
    const previous = this.handlers.get(key);
    // Set before SUBSCRIBE so nothing that arrives after the subscription starts is missed.
    this.handlers.set(key, handler);
    this.droppedWhileDown.delete(key);
    try {
      // Sent even when already subscribed (replacing the handler): Redis treats it as a no-op, and awaiting it keeps
      // "subscribed once this resolves" true when the first SUBSCRIBE is still in flight.
      await (this.sharded ? this.subscriber.ssubscribe(key) : this.subscriber.subscribe(key));
    } catch (error) {
      // Leave the table as the server has it, so the next re-subscription restores exactly the previous state.
      if (this.handlers.get(key) === handler) {
        if (previous === undefined) this.handlers.delete(key);
        else this.handlers.set(key, previous);
      }
      throw error;
    }
  }

  async unsubscribe(channel: Channel): Promise<void> {
    const key = channelKey(channel);
    // Deleted first: anything still in flight for this channel is dropped on arrival.
    if (!this.handlers.delete(key) || this.closed) return;
    // A connection that is down has no subscriptions; the re-subscription after reconnect skips this channel.
    if (this.subscriber.status !== "ready") {
      if (this.endpoint.cluster === true) this.droppedWhileDown.add(key);
      return;
    }
    try {
      await (this.sharded ? this.subscriber.sunsubscribe(key) : this.subscriber.unsubscribe(key));
    } catch (error) {
      if (this.subscriber.status === "ready" && !this.handlers.has(key)) throw error;
    }
  }

  isHealthy(): boolean {
    return (
      !this.closed && this.resubscribed && isRedisReady(this.publisher) && isRedisReady(this.subscriber)
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.handlers.clear();
    this.droppedWhileDown.clear();
    await Promise.all([closeRedis(this.publisher), closeRedis(this.subscriber)]);
  }

  /**
   * Subscribes the whole handler table again after a reconnect. Done here rather than by ioredis's autoResubscribe,
   * whose own channel list would disagree with the table after a subscribe or unsubscribe that failed while down.
   * Commands on one connection run in order, so a subscribe/unsubscribe issued meanwhile still wins.
   */
  private async resubscribe(): Promise<void> {
    if (this.closed) return;
    const epoch = this.connectionEpoch;
    const keys = [...this.handlers.keys()];
    const dropped = [...this.droppedWhileDown];
    try {
      if (dropped.length > 0) {
        // Cluster only: what ioredis subscribed again on its own, and the table no longer holds. One per channel.
        await Promise.all(dropped.map((key) => this.subscriber.sunsubscribe(key)));
        for (const key of dropped) this.droppedWhileDown.delete(key);
      }
      if (keys.length > 0) {
        if (this.sharded) {
          // One SSUBSCRIBE per channel: on Redis Cluster, channels of different rooms live on different shards.
          await Promise.all(keys.map((key) => this.subscriber.ssubscribe(key)));
        } else {
          await this.subscriber.subscribe(...keys);
        }
      }
      if (epoch === this.connectionEpoch) {
        this.resubscribed = true;
        this.logger.info({ channels: keys.length }, "bus re-subscribed after reconnect");
      }
    } catch (error) {
      // The connection dropped again; the next "ready" tries again.
      this.logger.warn({ error: error instanceof Error ? error.message : String(error) }, "bus re-subscribe failed");
    }
  }

  private readonly onMessage = (channel: Buffer, payload: Buffer): void => {
    const prefix = this.echoPrefix;
    if (payload.length > prefix.length && prefix.compare(payload, 0, prefix.length) === 0) return;
    const handler = this.handlers.get(channel.toString());
    if (handler === undefined) return;
    let message: M;
    try {
      message = (decodePeerMsgpack(payload) as Envelope<M>).m as M;
    } catch {
      this.logger.warn({ channel: channel.toString(), bytes: payload.length }, "bus dropped an undecodable message");
      return;
    }
    if (typeof message !== "object" || message === null) {
      this.logger.warn({ channel: channel.toString() }, "bus dropped a message that is not a map");
      return;
    }
    try {
      handler(message);
    } catch (error) {
      // A throwing handler must not unwind into ioredis's reply parser (it would rethrow it as uncaught).
      this.logger.warn(
        { channel: channel.toString(), error: error instanceof Error ? error.message : String(error) },
        "bus handler threw",
      );
    }
  };
}
