/**
 * The in-process Bus: the reference implementation and the embedded default. Several MemoryBus instances on one
 * MemoryHub behave like several nodes on one Redis, which is how the contract suite exercises cross-node paths.
 */
import { channelKey, type Bus, type BusHandler, type Channel } from "./bus.js";

export class MemoryHub {
  /** channel key → node id → handler */
  readonly subscriptions = new Map<string, Map<string, BusHandler<object>>>();

  bus<M extends object>(nodeId: string): MemoryBus<M> {
    return new MemoryBus<M>(this, nodeId);
  }
}

export class MemoryBus<M extends object = object> implements Bus<M> {
  private closed = false;

  constructor(
    private readonly hub: MemoryHub,
    readonly nodeId: string,
  ) {}

  async publish(channel: Channel, message: M): Promise<void> {
    const subscribers = this.hub.subscriptions.get(channelKey(channel));
    if (subscribers === undefined) return;
    for (const [nodeId, handler] of subscribers) {
      // Delivered on a later microtask, as a network bus would: a handler never runs inside the publisher's call.
      // Microtasks run in the order they were queued, which keeps per-channel order.
      // A node that unsubscribes before the microtask runs gets nothing.
      if (nodeId !== this.nodeId) {
        queueMicrotask(() => {
          if (subscribers.get(nodeId) === handler) handler(message);
        });
      }
    }
  }

  async subscribe(channel: Channel, handler: BusHandler<M>): Promise<void> {
    if (this.closed) throw new Error("bus closed");
    const key = channelKey(channel);
    let subscribers = this.hub.subscriptions.get(key);
    if (subscribers === undefined) {
      subscribers = new Map();
      this.hub.subscriptions.set(key, subscribers);
    }
    subscribers.set(this.nodeId, handler as BusHandler<object>);
  }

  async unsubscribe(channel: Channel): Promise<void> {
    const key = channelKey(channel);
    const subscribers = this.hub.subscriptions.get(key);
    if (subscribers === undefined) return;
    subscribers.delete(this.nodeId);
    if (subscribers.size === 0) this.hub.subscriptions.delete(key);
  }

  isHealthy(): boolean {
    return !this.closed;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const [key, subscribers] of this.hub.subscriptions) {
      subscribers.delete(this.nodeId);
      if (subscribers.size === 0) this.hub.subscriptions.delete(key);
    }
  }
}
