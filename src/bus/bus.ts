/**
 * The Bus carries messages between the nodes that serve one logical roombus server. A node subscribes to a room's
 * channel while it has a local participant in that room, and always to its own inbox.
 *
 * Contract (every implementation passes test/contract/bus.contract.ts):
 * - `publish` reaches every other node subscribed to the channel; never the publishing node itself (it delivers to
 *   its own participants directly, so nothing is delivered twice).
 * - Messages from one node to one channel arrive in the order they were published.
 * - A handler receives each message once per subscription; after `unsubscribe` it receives nothing more.
 * - Payloads are plain msgpack values (maps, arrays, strings, numbers, booleans, null, Uint8Array).
 */

/** A room's channel, one node's inbox, or the channel every node hears (operations such as token revocation). */
export type Channel = { readonly room: string } | { readonly node: string } | { readonly everyNode: true };

export type BusHandler<M> = (message: M) => void;

export interface Bus<M extends object = object> {
  readonly nodeId: string;
  publish(channel: Channel, message: M): Promise<void>;
  /** One handler per channel on a node; subscribing again replaces it. */
  subscribe(channel: Channel, handler: BusHandler<M>): Promise<void>;
  unsubscribe(channel: Channel): Promise<void>;
  /** Resolves true while the bus can carry messages (for /readyz). */
  isHealthy(): boolean;
  close(): Promise<void>;
}

/** The string form of a channel; `{room}` hash tags keep a room's channels on one Redis Cluster shard. */
export function channelKey(channel: Channel): string {
  if ("room" in channel) return `rb:{${channel.room}}:room`;
  if ("node" in channel) return `rb:{node:${channel.node}}:inbox`;
  return "rb:{nodes}:all";
}
