/**
 * The Bus contract: every implementation runs this suite. `makeNodes(n)` returns n buses that behave as n nodes
 * sharing one backend; `dispose` releases them.
 */
import { describe, expect, it, vi } from "vitest";
import type { Bus } from "../../src/bus/bus.js";

export interface BusFactory {
  makeNodes(count: number): Promise<Bus<Record<string, unknown>>[]>;
  dispose(): Promise<void>;
}

type Message = Record<string, unknown>;

function collector() {
  const received: Message[] = [];
  return { received, handler: (message: Message) => void received.push(message) };
}

export function busContract(name: string, factory: () => BusFactory): void {
  describe(`Bus contract: ${name}`, () => {
    async function withNodes(count: number, body: (nodes: Bus<Message>[]) => Promise<void>): Promise<void> {
      const f = factory();
      try {
        await body(await f.makeNodes(count));
      } finally {
        await f.dispose();
      }
    }

    it("delivers a room message to every other subscribed node, not to the publisher", async () => {
      await withNodes(3, async ([a, b, c]) => {
        const [ra, rb, rc] = [collector(), collector(), collector()];
        await a!.subscribe({ room: "r1" }, ra.handler);
        await b!.subscribe({ room: "r1" }, rb.handler);
        await c!.subscribe({ room: "r1" }, rc.handler);
        await a!.publish({ room: "r1" }, { kind: "hello", n: 1 });
        await vi.waitFor(() => {
          expect(rb.received).toEqual([{ kind: "hello", n: 1 }]);
          expect(rc.received).toEqual([{ kind: "hello", n: 1 }]);
        });
        expect(ra.received).toEqual([]);
      });
    });

    it("keeps rooms apart", async () => {
      await withNodes(2, async ([a, b]) => {
        const r1 = collector();
        const r2 = collector();
        await b!.subscribe({ room: "r1" }, r1.handler);
        await b!.subscribe({ room: "r2" }, r2.handler);
        await a!.publish({ room: "r2" }, { to: "r2" });
        await a!.publish({ room: "r1" }, { to: "r1" });
        await vi.waitFor(() => {
          expect(r1.received).toEqual([{ to: "r1" }]);
          expect(r2.received).toEqual([{ to: "r2" }]);
        });
      });
    });

    it("delivers to one node's inbox only", async () => {
      await withNodes(3, async ([a, b, c]) => {
        const rb = collector();
        const rc = collector();
        await b!.subscribe({ node: b!.nodeId }, rb.handler);
        await c!.subscribe({ node: c!.nodeId }, rc.handler);
        await a!.publish({ node: c!.nodeId }, { for: "c" });
        await vi.waitFor(() => expect(rc.received).toEqual([{ for: "c" }]));
        expect(rb.received).toEqual([]);
      });
    });

    it("keeps the order of messages from one node to one channel", async () => {
      await withNodes(2, async ([a, b]) => {
        const rb = collector();
        await b!.subscribe({ room: "ordered" }, rb.handler);
        const count = 500;
        await Promise.all(Array.from({ length: count }, (_, i) => a!.publish({ room: "ordered" }, { i })));
        await vi.waitFor(() => expect(rb.received).toHaveLength(count));
        expect(rb.received.map((m) => m.i)).toEqual(Array.from({ length: count }, (_, i) => i));
      });
    });

    it("carries binary values and nested maps intact", async () => {
      await withNodes(2, async ([a, b]) => {
        const rb = collector();
        await b!.subscribe({ node: b!.nodeId }, rb.handler);
        const frame = new Uint8Array([0, 1, 2, 255, 254]);
        await a!.publish({ node: b!.nodeId }, { frame, nested: { list: [1, "two", null, true] } });
        await vi.waitFor(() => expect(rb.received).toHaveLength(1));
        const got = rb.received[0]!;
        expect(Buffer.from(got.frame as Uint8Array)).toEqual(Buffer.from(frame));
        expect(got.nested).toEqual({ list: [1, "two", null, true] });
      });
    });

    it("stops delivering after unsubscribe, even what was published just before", async () => {
      await withNodes(2, async ([a, b]) => {
        const rb = collector();
        await b!.subscribe({ room: "gone" }, rb.handler);
        await a!.publish({ room: "gone" }, { n: 1 });
        await vi.waitFor(() => expect(rb.received).toHaveLength(1));
        await b!.unsubscribe({ room: "gone" });
        await a!.publish({ room: "gone" }, { n: 2 });
        // A marker on another channel, published after, proves the first message had its chance to arrive.
        const marker = collector();
        await b!.subscribe({ room: "marker" }, marker.handler);
        await a!.publish({ room: "marker" }, { done: true });
        await vi.waitFor(() => expect(marker.received).toHaveLength(1));
        expect(rb.received).toEqual([{ n: 1 }]);
      });
    });

    it("replaces the handler when a node subscribes to a channel again", async () => {
      await withNodes(2, async ([a, b]) => {
        const first = collector();
        const second = collector();
        await b!.subscribe({ room: "r" }, first.handler);
        await b!.subscribe({ room: "r" }, second.handler);
        await a!.publish({ room: "r" }, { n: 1 });
        await vi.waitFor(() => expect(second.received).toHaveLength(1));
        expect(first.received).toHaveLength(0);
      });
    });

    it("reports healthy while open and not after close", async () => {
      await withNodes(1, async ([a]) => {
        expect(a!.isHealthy()).toBe(true);
        await a!.close();
        expect(a!.isHealthy()).toBe(false);
      });
    });
  });
}
