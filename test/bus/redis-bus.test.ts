import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createRedisBus, type RedisBus } from "../../src/bus/redis-bus.js";
import { busContract } from "../contract/bus.contract.js";
import { startTestRedis, type TestRedis } from "../helpers/redis-server.js";
import { freePort } from "../helpers/free-port.js";

type Message = Record<string, unknown>;

let redis: TestRedis;

beforeAll(async () => {
  redis = await startTestRedis();
});

afterAll(async () => {
  await redis[Symbol.asyncDispose]();
});

async function openBuses(url: string, count: number, sharded: boolean): Promise<RedisBus<Message>[]> {
  const run = randomBytes(4).toString("hex");
  return Promise.all(
    Array.from({ length: count }, (_, i) => createRedisBus<Message>({ url, nodeId: `node-${run}-${i}`, sharded })),
  );
}

function collector() {
  const received: Message[] = [];
  return { received, handler: (message: Message) => void received.push(message) };
}

for (const sharded of [false, true]) {
  const mode = sharded ? "sharded (SPUBLISH/SSUBSCRIBE)" : "PUBLISH/SUBSCRIBE";

  busContract(`RedisBus, ${mode}`, () => {
    const opened: RedisBus<Message>[] = [];
    return {
      async makeNodes(count) {
        opened.push(...(await openBuses(redis.url, count, sharded)));
        return opened;
      },
      async dispose() {
        await Promise.all(opened.map((bus) => bus.close()));
      },
    };
  });

  describe(`RedisBus, ${mode}`, () => {
    it("carries every byte value and a large binary frame intact", async () => {
      const [a, b] = await openBuses(redis.url, 2, sharded);
      try {
        const rb = collector();
        await b!.subscribe({ node: b!.nodeId }, rb.handler);
        const everyByte = Uint8Array.from({ length: 256 }, (_, i) => i);
        const large = randomBytes(1 << 20);
        await a!.publish({ node: b!.nodeId }, { kind: "deliver", frame: everyByte, large, text: "ünï 😀\u0000" });
        await vi.waitFor(() => expect(rb.received).toHaveLength(1));
        const got = rb.received[0]!;
        expect(got.frame).toBeInstanceOf(Uint8Array);
        expect(Buffer.from(got.frame as Uint8Array).equals(Buffer.from(everyByte))).toBe(true);
        expect(Buffer.from(got.large as Uint8Array).equals(large)).toBe(true);
        expect(got.text).toBe("ünï 😀\u0000");
      } finally {
        await Promise.all([a!.close(), b!.close()]);
      }
    });

    it("survives a handler that throws", async () => {
      const [a, b] = await openBuses(redis.url, 2, sharded);
      try {
        const rb = collector();
        let calls = 0;
        await b!.subscribe({ room: "throwing" }, (message) => {
          calls++;
          if (calls === 1) throw new Error("handler bug");
          rb.handler(message);
        });
        await a!.publish({ room: "throwing" }, { n: 1 });
        await a!.publish({ room: "throwing" }, { n: 2 });
        await vi.waitFor(() => expect(rb.received).toEqual([{ n: 2 }]));
      } finally {
        await Promise.all([a!.close(), b!.close()]);
      }
    });

    it("uses channel names with the room's hash tag", async () => {
      const [a] = await openBuses(redis.url, 1, sharded);
      try {
        await a!.subscribe({ room: "tagged" }, () => {});
        const listed = sharded
          ? ((await redis.client().call("PUBSUB", "SHARDCHANNELS", "rb:{tagged}:*")) as string[])
          : await redis.client().pubsub("CHANNELS", "rb:{tagged}:*");
        expect(listed).toEqual(["rb:{tagged}:room"]);
      } finally {
        await a!.close();
      }
    });

    it("rejects publish and subscribe at once while Redis is down, and resumes delivery after it is back", async () => {
      // A Redis of this test's own: it is killed and restarted.
      await using own = await startTestRedis();
      const [a, b] = await openBuses(own.url, 2, sharded);
      try {
        const room = collector();
        const inbox = collector();
        await b!.subscribe({ room: "r" }, room.handler);
        await b!.subscribe({ node: b!.nodeId }, inbox.handler);
        await a!.publish({ room: "r" }, { n: 0 });
        await vi.waitFor(() => expect(room.received).toEqual([{ n: 0 }]));

        await own.kill();
        await vi.waitFor(() => {
          expect(a!.isHealthy()).toBe(false);
          expect(b!.isHealthy()).toBe(false);
        });
        const start = Date.now();
        await expect(a!.publish({ room: "r" }, { n: 1 })).rejects.toThrow();
        await expect(b!.subscribe({ room: "while-down" }, () => {})).rejects.toThrow();
        await b!.unsubscribe({ node: "never-subscribed" });
        expect(Date.now() - start).toBeLessThan(1_000);

        await own.restart();
        await vi.waitFor(
          () => {
            expect(a!.isHealthy()).toBe(true);
            expect(b!.isHealthy()).toBe(true);
          },
          { timeout: 10_000, interval: 20 },
        );
        // Healthy means re-subscribed: the first publish after it arrives on both channels.
        await a!.publish({ room: "r" }, { n: 2 });
        await a!.publish({ node: b!.nodeId }, { n: 3 });
        await vi.waitFor(() => {
          expect(room.received).toEqual([{ n: 0 }, { n: 2 }]);
          expect(inbox.received).toEqual([{ n: 3 }]);
        });
        // The channel whose subscribe failed while down was not subscribed behind the caller's back.
        const channels = sharded
          ? ((await own.client().call("PUBSUB", "SHARDCHANNELS")) as string[])
          : await own.client().pubsub("CHANNELS");
        expect(channels.sort()).toEqual([`rb:{node:${b!.nodeId}}:inbox`, "rb:{r}:room"]);
      } finally {
        await Promise.all([a!.close(), b!.close()]);
      }
    });

    it("unsubscribes while Redis is down, and stays unsubscribed after it is back", async () => {
      await using own = await startTestRedis();
      const [a, b] = await openBuses(own.url, 2, sharded);
      try {
        const gone = collector();
        const kept = collector();
        await b!.subscribe({ room: "gone" }, gone.handler);
        await b!.subscribe({ room: "kept" }, kept.handler);
        await own.kill();
        await vi.waitFor(() => expect(b!.isHealthy()).toBe(false));
        await b!.unsubscribe({ room: "gone" });
        await own.restart();
        await vi.waitFor(() => expect(a!.isHealthy() && b!.isHealthy()).toBe(true), { timeout: 10_000, interval: 20 });
        await a!.publish({ room: "gone" }, { n: 1 });
        await a!.publish({ room: "kept" }, { n: 2 });
        await vi.waitFor(() => expect(kept.received).toEqual([{ n: 2 }]));
        expect(gone.received).toEqual([]);
      } finally {
        await Promise.all([a!.close(), b!.close()]);
      }
    });

    it("closes promptly while Redis is down", async () => {
      await using own = await startTestRedis();
      const [a] = await openBuses(own.url, 1, sharded);
      await own.kill();
      const start = Date.now();
      await a!.close();
      expect(Date.now() - start).toBeLessThan(500);
      expect(a!.isHealthy()).toBe(false);
      await expect(a!.publish({ room: "r" }, { n: 1 })).rejects.toThrow("bus closed");
      // The helper's dispose waits for a running server (it hangs on one already killed).
      await own.restart();
    });
  });
}

describe("RedisBus on a Redis that stops answering", () => {
  it("rejects a publish written to a connection that went silent, instead of waiting forever", async () => {
    await using own = await startTestRedis();
    const [a] = await openBuses(own.url, 1, false);
    // SIGSTOP: the socket stays open and nothing answers, as with a half-open connection.
    const info = await own.client().info("server");
    const pid = Number(/process_id:(\d+)/.exec(info)?.[1]);
    process.kill(pid, "SIGSTOP");
    try {
      const start = Date.now();
      await expect(a!.publish({ room: "r" }, { n: 1 })).rejects.toThrow(/max retries per request/);
      expect(Date.now() - start).toBeLessThan(7_000);
    } finally {
      process.kill(pid, "SIGCONT");
      await a!.close();
    }
  });
});

describe("createRedisBus", () => {
  it("fails fast with a clear error, without the password, when Redis is unreachable", async () => {
    const port = await freePort();
    const start = Date.now();
    const failure = createRedisBus({ url: `redis://roombus:hunter2-secret@127.0.0.1:${port}/0`, nodeId: "n" });
    await expect(failure).rejects.toThrow(`cannot reach Redis at redis://roombus@127.0.0.1:${port}/0: `);
    await expect(failure).rejects.not.toThrow(/hunter2/);
    expect(Date.now() - start).toBeLessThan(5_000);
  });

  it("refuses a URL that is not a redis:// URL without quoting its password", async () => {
    await expect(createRedisBus({ url: "not a url :secret@", nodeId: "n" })).rejects.toThrow("invalid Redis URL: not a URL");
    await expect(createRedisBus({ url: "http://u:secret-pw@127.0.0.1:1", nodeId: "n" })).rejects.toThrow(
      "invalid Redis URL: http://u@127.0.0.1:1/ (expected redis:// or rediss://)",
    );
  });

  it("reports a wrong password without repeating it", async () => {
    await using own = await startTestRedis();
    await own.client().config("SET", "requirepass", "right-password");
    const failure = createRedisBus({ url: `redis://:wrong-password-xyz@127.0.0.1:${own.port}`, nodeId: "n" });
    await expect(failure).rejects.toThrow(`cannot reach Redis at redis://127.0.0.1:${own.port}: `);
    await expect(failure).rejects.not.toThrow(/wrong-password-xyz/);
    const bus = await createRedisBus({ url: `redis://:right-password@127.0.0.1:${own.port}`, nodeId: "n" });
    expect(bus.isHealthy()).toBe(true);
    await bus.close();
  });
});
