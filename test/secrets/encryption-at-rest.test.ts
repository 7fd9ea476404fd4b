import Database from "better-sqlite3";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig, resolveMasterKeys, ConfigError } from "../../src/config.js";
import { openKeyring, rotateKeys } from "../../src/secrets/key-management.js";
import { Keyring, KeyringError, newMasterKeyBase64, parseMasterKey } from "../../src/secrets/keyring.js";
import { canonicalKey, type RecordKey } from "../../src/secrets/record-key.js";
import { SqliteStore } from "../../src/secrets/sqlite-store.js";
import { startTestNode } from "../helpers/start-test-node.js";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "roombus-rest-"));
  dirs.push(dir);
  return dir;
}

const keyA: RecordKey = { kind: "secret", room: "r", owner: "alice", id: "a" };
const keyB: RecordKey = { kind: "secret", room: "r", owner: "alice", id: "b" };
const plaintext = new TextEncoder().encode("the value");

async function keyringOn(store: SqliteStore, ...masters: string[]): Promise<Keyring> {
  return openKeyring(store, masters.map((m) => parseMasterKey(m)));
}

describe("sealed values", () => {
  it("open with the same key and record key, and fail closed on any change", async () => {
    const store = new SqliteStore(join(tempDir(), "db"));
    const keyring = await keyringOn(store, newMasterKeyBase64());
    const sealed = keyring.seal(plaintext, canonicalKey(keyA));
    expect(Buffer.from(keyring.open(sealed, canonicalKey(keyA))).toString()).toBe("the value");
    expect(Buffer.from(sealed).includes(Buffer.from("the value"))).toBe(false);

    for (let i = 0; i < sealed.length; i++) {
      const flipped = Buffer.from(sealed);
      flipped[i]! ^= 0x01;
      expect(() => keyring.open(flipped, canonicalKey(keyA)), `flipped byte ${i}`).toThrow(KeyringError);
    }
    expect(() => keyring.open(sealed.subarray(0, sealed.length - 1), canonicalKey(keyA))).toThrow(KeyringError);
    expect(() => keyring.open(sealed.subarray(0, sealed.length - 16), canonicalKey(keyA))).toThrow(KeyringError);
    // Bound to the record key: the same blob under another key (another row) does not open.
    expect(() => keyring.open(sealed, canonicalKey(keyB))).toThrow(KeyringError);
    expect(() => keyring.open(sealed, canonicalKey({ ...keyA, delegatedTo: "bob" }))).toThrow(KeyringError);
    await store.close();
  });

  it("cannot be opened by a keyring with another master key", async () => {
    const dir = tempDir();
    const first = new SqliteStore(join(dir, "one"));
    const second = new SqliteStore(join(dir, "two"));
    const sealed = (await keyringOn(first, newMasterKeyBase64())).seal(plaintext, canonicalKey(keyA));
    const other = await keyringOn(second, newMasterKeyBase64());
    expect(() => other.open(sealed, canonicalKey(keyA))).toThrow(KeyringError);
    await first.close();
    await second.close();
  });
});

describe("rotation", () => {
  it("keeps old records readable while new writes use the new data key", async () => {
    const store = new SqliteStore(join(tempDir(), "db"));
    const master = newMasterKeyBase64();
    const before = await keyringOn(store, master);
    const oldBlob = before.seal(plaintext, canonicalKey(keyA));
    const report = await rotateKeys(store, [parseMasterKey(master)]);
    expect(report.dataKeys).toBe(2);
    const after = await keyringOn(store, master);
    expect(after.newestDataKeyId).toBe(report.newDataKeyId);
    expect(Buffer.from(after.open(oldBlob, canonicalKey(keyA))).toString()).toBe("the value");
    const newBlob = after.seal(plaintext, canonicalKey(keyA));
    expect(Keyring.dataKeyIdOf(newBlob)).toBe(report.newDataKeyId);
    expect(Keyring.dataKeyIdOf(oldBlob)).not.toBe(report.newDataKeyId);
    await store.close();
  });

  it("re-wraps data keys under a new master key, after which the old master key can go", async () => {
    const store = new SqliteStore(join(tempDir(), "db"));
    const oldMaster = newMasterKeyBase64();
    const newMaster = newMasterKeyBase64();
    const blob = (await keyringOn(store, oldMaster)).seal(plaintext, canonicalKey(keyA));
    // The new master alone cannot unwrap what the old one wrapped, and says what to do.
    await expect(keyringOn(store, newMaster)).rejects.toThrow(/ROOMBUS_ENCRYPTION_KEYS_OLD/);
    const report = await rotateKeys(store, [parseMasterKey(newMaster), parseMasterKey(oldMaster)]);
    expect(report.rewrapped).toBe(1);
    const only = await keyringOn(store, newMaster);
    expect(Buffer.from(only.open(blob, canonicalKey(keyA))).toString()).toBe("the value");
    await store.close();
  });
});

describe("master key configuration", () => {
  it("refuses a key that is not 32 bytes, naming the variable and not the value", () => {
    for (const bad of [Buffer.alloc(16).toString("base64"), Buffer.alloc(33).toString("base64"), "not base64 !!"]) {
      const config = loadConfig({ ROOMBUS_ENCRYPTION_KEY: bad, ROOMBUS_DATA_DIR: tempDir() });
      let error: unknown;
      try {
        resolveMasterKeys(config, { create: true });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(/^ROOMBUS_ENCRYPTION_KEY: must be exactly 32 bytes/);
      expect((error as Error).message).not.toContain(bad);
    }
  });

  it("creates a 0600 key file in the data directory on the embedded default, and reuses it", async () => {
    const { statSync, readFileSync } = await import("node:fs");
    const dir = tempDir();
    const config = loadConfig({ ROOMBUS_DATA_DIR: dir });
    const first = resolveMasterKeys(config, { create: true });
    expect(first.createdFile).toBe(join(dir, "encryption-key"));
    expect(statSync(first.createdFile!).mode & 0o777).toBe(0o600);
    expect(Buffer.from(readFileSync(first.createdFile!, "utf8").trim(), "base64")).toHaveLength(32);
    const second = resolveMasterKeys(config, { create: true });
    expect(second.createdFile).toBeUndefined();
    expect(second.masters[0]!.id).toBe(first.masters[0]!.id);
  });
});

describe("through the server", () => {
  it("refuses to return a tampered record, and refuses a record moved to another row", async () => {
    await using node = await startTestNode();
    const alice = await node.connect("alice", { api: ["secrets"] });
    await alice.secrets.setSecret({ secret_id: "a", data: new TextEncoder().encode("value-a") });
    await alice.secrets.setSecret({ secret_id: "b", data: new TextEncoder().encode("value-b") });
    const db = new Database(join(node.config.dataDir, "roombus.db"));
    // Move a's blob into b's row.
    db.prepare("UPDATE records SET sealed = (SELECT sealed FROM records WHERE part1 = 'a') WHERE part1 = 'b'").run();
    const flipped = db.prepare("SELECT sealed FROM records WHERE part1 = 'a'").get() as { sealed: Buffer };
    flipped.sealed[flipped.sealed.length - 1]! ^= 0xff;
    db.prepare("UPDATE records SET sealed = ? WHERE part1 = 'a'").run(flipped.sealed);
    db.close();
    for (const id of ["a", "b"]) {
      const error = await alice.secrets.getSecret({ secret_id: id }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 1008 });
      expect(String((error as Error).message)).not.toMatch(/value-/);
    }
  });
});

describe("a rotation while the server runs (another node, or `roombus keys rotate`)", () => {
  it("reads a record sealed with the new data key, and seals with it from then on", async () => {
    await using node = await startTestNode();
    const alice = await node.connect("alice", { api: ["secrets"] });
    await alice.secrets.setSecret({ secret_id: "old", data: new TextEncoder().encode("sealed before") });

    // Another writer on the same store rotates and writes with the new key.
    const masters = resolveMasterKeys(node.config, { create: false }).masters;
    const other = new SqliteStore(join(node.config.dataDir, "roombus.db"));
    const report = await rotateKeys(other, masters);
    const otherKeyring = await openKeyring(other, masters);
    const key: RecordKey = { kind: "secret", room: "test-room", owner: "alice", id: "new" };
    await other.putRecord(key, { type: "text/plain", sealed: otherKeyring.seal(new TextEncoder().encode("sealed after"), canonicalKey(key)) });

    const read = await alice.secrets.getSecret({ secret_id: "new" });
    expect(new TextDecoder().decode(read?.data)).toBe("sealed after");
    expect(new TextDecoder().decode((await alice.secrets.getSecret({ secret_id: "old" }))?.data)).toBe("sealed before");

    await alice.secrets.setSecret({ secret_id: "later", data: new TextEncoder().encode("written after the reload") });
    const later = await other.getRecord({ kind: "secret", room: "test-room", owner: "alice", id: "later" });
    expect(Keyring.dataKeyIdOf(later!.sealed)).toBe(report.newDataKeyId);
    await other.close();
  });
});
