/**
 * RedisProjectStore against the shared Redis (ROOMBUS_TEST_REDIS_URL, default 127.0.0.1:6379), each store under a
 * random key prefix whose keys are deleted afterwards; nothing else is touched.
 */
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { createRedisProjectStore, type RedisProjectStore } from "../../src/project/redis-project-store.js";
import { projectStoreContract } from "../contract/project-store.contract.js";

const REDIS_URL = process.env.ROOMBUS_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
const admin = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });

afterAll(async () => {
  await admin.quit();
});

const freshPrefix = () => `test:project:${randomBytes(6).toString("hex")}:`;

/** Every key under `prefix` (random hex and ":", so no glob characters). */
async function keysUnder(prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = "0";
  do {
    const [next, batch] = await admin.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 500);
    keys.push(...batch);
    cursor = next;
  } while (cursor !== "0");
  return keys;
}

async function removeKeys(prefix: string): Promise<void> {
  const keys = await keysUnder(prefix);
  if (keys.length > 0) await admin.unlink(...keys);
}

projectStoreContract("RedisProjectStore", () => {
  const prefix = freshPrefix();
  return {
    open: () => createRedisProjectStore({ url: REDIS_URL, prefix }),
    dispose: () => removeKeys(prefix),
  };
});

describe("RedisProjectStore keys", () => {
  it("keeps every key in the one hash slot {global:project}, under its prefix", async () => {
    const prefix = freshPrefix();
    let store: RedisProjectStore | undefined;
    try {
      store = await createRedisProjectStore({ url: REDIS_URL, prefix });
      await store.create({ kind: "secret", id: "sec_a", name: "A", meta: {}, sealed: new Uint8Array([1]) });
      await store.create({ kind: "pull", id: "pull_{x}:y", name: "weird{name}", meta: {}, sealed: new Uint8Array([2]) });
      const keys = await keysUnder(prefix);
      expect(keys.length).toBe(4);
      for (const key of keys) expect(key.startsWith(`${prefix}{global:project}:`), key).toBe(true);
      expect(await store.get("pull", "pull_{x}:y")).toMatchObject({ name: "weird{name}" });
    } finally {
      await store?.close();
      await removeKeys(prefix);
    }
  });

  it("says which Redis it cannot reach, without the password", async () => {
    await expect(createRedisProjectStore({ url: "redis://user:hunter2-secret@127.0.0.1:1" })).rejects.toThrow(
      /cannot reach Redis at redis:\/\/user@127\.0\.0\.1:1/,
    );
    await expect(createRedisProjectStore({ url: "redis://user:hunter2-secret@127.0.0.1:1" })).rejects.not.toThrow(/hunter2/);
  });
});
