import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { SqliteStore } from "../../src/secrets/sqlite-store.js";
import { storeContract } from "../contract/store.contract.js";

storeContract("SqliteStore", () => {
  const dir = mkdtempSync(join(tmpdir(), "roombus-store-"));
  return {
    open: async () => new SqliteStore(join(dir, "roombus.db")),
    dispose: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

describe("SqliteStore file", () => {
  it("creates its file readable by the owner only, and keeps data across reopen", async () => {
    const dir = mkdtempSync(join(tmpdir(), "roombus-store-"));
    try {
      const path = join(dir, "nested", "roombus.db");
      const first = new SqliteStore(path);
      await first.putRecord({ kind: "secret", room: "r", owner: "a", id: "x" }, { type: "t", sealed: new Uint8Array([9]) });
      await first.close();
      expect(statSync(path).mode & 0o777).toBe(0o600);
      const second = new SqliteStore(path);
      expect((await second.getRecord({ kind: "secret", room: "r", owner: "a", id: "x" }))?.version).toBe(1);
      await second.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("SqliteStore durability", () => {
  it("copies the write-ahead log into the database file while open (checkpoints run off the event loop)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "roombus-store-"));
    const path = join(dir, "roombus.db");
    const store = new SqliteStore(path);
    try {
      const before = statSync(path).size;
      const value = new Uint8Array(2048).fill(7);
      await Promise.all(
        Array.from({ length: 200 }, (_, index) =>
          store.putRecord({ kind: "secret", room: "r", owner: "a", id: `id-${index}` }, { type: "t", sealed: value }),
        ),
      );
      const deadline = Date.now() + 5_000;
      while (statSync(path).size <= before + 200 * 2048 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(statSync(path).size).toBeGreaterThan(before + 200 * 2048);
      expect(store.isHealthy()).toBe(true);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("keeps the write-ahead log bounded under writes that never pause, and loses none of them", async () => {
    const dir = mkdtempSync(join(tmpdir(), "roombus-store-"));
    const path = join(dir, "roombus.db");
    // A small log limit and frequent checkpoints, so the bound below does not depend on how fast this disk is.
    const store = new SqliteStore(path, { walLimitBytes: 1024 * 1024, checkpointIntervalMs: 50 });
    const writes = 6_000;
    const value = new Uint8Array(8 * 1024);
    try {
      // One write after the other: a commit every turn, with no pause long enough for a checkpoint to catch up.
      for (let index = 0; index < writes; index++) {
        value.fill(index % 251);
        await store.putRecord({ kind: "secret", room: "r", owner: "a", id: `id-${index % 500}` }, { type: "t", sealed: value });
      }
      expect(store.isHealthy()).toBe(true);
      // Every write puts its 8 KiB value in the log (tens of megabytes in all): without rewinds the file holds them all.
      const written = writes * value.length;
      expect(statSync(`${path}-wal`).size).toBeLessThan(written / 4);
    } finally {
      await store.close();
    }
    const reopened = new SqliteStore(path);
    try {
      for (let id = 0; id < 500; id++) {
        const last = writes - 500 + id;
        const record = await reopened.getRecord({ kind: "secret", room: "r", owner: "a", id: `id-${id}` });
        expect(record?.version).toBe(writes / 500);
        expect(record?.sealed[0]).toBe(last % 251);
      }
    } finally {
      await reopened.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("keeps every acknowledged write when its process is killed", async () => {
    const dir = mkdtempSync(join(tmpdir(), "roombus-store-"));
    const path = join(dir, "roombus.db");
    const script = `
      import { SqliteStore } from ${JSON.stringify(new URL("../../dist/src/secrets/sqlite-store.js", import.meta.url).href)};
      const store = new SqliteStore(process.argv[1]);
      for (let index = 0; ; index++) {
        await store.putRecord({ kind: "secret", room: "r", owner: "a", id: "id-" + index }, { type: "t", sealed: new Uint8Array([index % 256]) });
        process.stdout.write(index + "\\n");
      }`;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script, path], { stdio: ["ignore", "pipe", "inherit"] });
    try {
      let acknowledged = -1;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("the writer did not acknowledge 300 writes in time")), 15_000);
        child.stdout.setEncoding("utf8");
        let pending = "";
        child.stdout.on("data", (chunk: string) => {
          pending += chunk;
          const lines = pending.split("\n");
          pending = lines.pop()!;
          acknowledged = Number(lines.at(-1) ?? acknowledged);
          if (acknowledged >= 300) {
            clearTimeout(timer);
            child.kill("SIGKILL");
            resolve();
          }
        });
      });
      await new Promise((resolve) => child.once("exit", resolve));
      const store = new SqliteStore(path);
      try {
        for (let index = 0; index <= acknowledged; index++) {
          const record = await store.getRecord({ kind: "secret", room: "r", owner: "a", id: `id-${index}` });
          expect(record?.sealed[0], `write ${index} was acknowledged`).toBe(index % 256);
        }
      } finally {
        await store.close();
      }
    } finally {
      child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
