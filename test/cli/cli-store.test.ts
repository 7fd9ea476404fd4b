/**
 * `roombus audit` and `roombus keys rotate`: commands that read the embedded store in a server's data directory,
 * run as the built CLI next to (or after) a real in-process server.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { newMasterKeyBase64 } from "../../src/secrets/keyring.js";
import { startTestNode, TEST_ROOM } from "../helpers/start-test-node.js";
import { assertBuilt, roomEnv, runCli } from "../helpers/cli-process.js";

const CANARY = "canary-audit-4b1e-DO-NOT-PRINT";
const bytes = (text: string) => Buffer.from(text, "utf8");

let dataDir: string;

beforeAll(() => {
  assertBuilt();
});

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "roombus-cli-store-"));
});

afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

describe("roombus audit", () => {
  it("prints the secrets ops newest first, with key fields and outcome, and never a value", async () => {
    await using node = await startTestNode({ ROOMBUS_DATA_DIR: dataDir });
    const alice = await roomEnv(node, "alice");
    const set = await runCli(["room", "secret", "set", "--room", TEST_ROOM, "--id", "audited", "--in", "-"], alice, { input: CANARY });
    expect(set.code).toBe(0);
    expect((await runCli(["room", "secret", "get", "--room", TEST_ROOM, "--id", "audited"], alice)).stdout).toBe(CANARY);
    const outsider = await node.connect("mallory", { api: ["messaging"] });
    await expect(outsider.secrets.getSecret({ secret_id: "audited" })).rejects.toMatchObject({ errorName: "permission_denied" });

    const [text, json, byAlice] = await Promise.all([
      runCli(["audit", "--room", TEST_ROOM, "--data-dir", dataDir]),
      runCli(["audit", "--room", TEST_ROOM, "--json", "--since", "1h"], { ROOMBUS_DATA_DIR: dataDir }),
      runCli(["audit", "--room", TEST_ROOM, "--identity", "alice", "--limit", "1", "--data-dir", dataDir]),
    ]);
    expect(text).toMatchObject({ code: 0, stderr: "" });
    const lines = text.stdout.trim().split("\n");
    expect(lines).toHaveLength(3);
    const iso = String.raw`\d{4}-\d\d-\d\dT[\d:.]+Z`;
    expect(lines[0]).toMatch(new RegExp(`^${iso}  mallory  p_\\S+  secrets.get_secret  secret_id=audited  permission_denied \\(1001\\)$`));
    expect(lines[1]).toMatch(new RegExp(`^${iso}  alice  p_\\S+  secrets.get_secret  secret_id=audited  ok$`));
    expect(lines[2]).toMatch(new RegExp(`^${iso}  alice  p_\\S+  secrets.set_secret  secret_id=audited type=application/octet-stream  ok$`));

    const records = json.stdout.trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(records.map((record) => record.op)).toEqual(["secrets.get_secret", "secrets.get_secret", "secrets.set_secret"]);
    expect(records[2]).toMatchObject({ room: TEST_ROOM, actor: "alice", target: { secret_id: "audited" }, outcome: "ok" });
    expect(byAlice.stdout.trim().split("\n")).toEqual([expect.stringMatching(/ {2}alice {2}.*secrets.get_secret/)]);

    for (const output of [text.stdout, json.stdout, text.stderr, json.stderr]) expect(output).not.toContain(CANARY);
  });

  it("says in one line when there is no store in the data directory, or Redis cannot be reached", async () => {
    const missing = await runCli(["audit", "--room", TEST_ROOM, "--data-dir", join(dataDir, "nothing-here")]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^roombus: no store at .*nothing-here\/roombus\.db \(did the server run with this --data-dir\?\)\n$/);
    const redis = await runCli(["audit", "--room", TEST_ROOM], { ROOMBUS_REDIS_URL: "redis://127.0.0.1:1" });
    expect(redis.code).toBe(1);
    expect(redis.stderr).toMatch(/^roombus: cannot reach Redis at redis:\/\/127\.0\.0\.1:1.*\n$/);
  });

  it("refuses a --since it cannot read (exit 2)", async () => {
    const result = await runCli(["audit", "--room", TEST_ROOM, "--since", "yesterday"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--since must be a duration/);
  });
});

describe("roombus keys rotate", () => {
  it("adds a data key; a server started afterwards still reads secrets written before", async () => {
    {
      await using node = await startTestNode({ ROOMBUS_DATA_DIR: dataDir });
      const alice = await node.connect("alice", { api: ["secrets"] });
      await alice.secrets.setSecret({ secret_id: "before", data: bytes("old value") });
    }
    const result = await runCli(["keys", "rotate", "--data-dir", dataDir]);
    expect(result).toMatchObject({ code: 0, stderr: "" });
    expect(result.stdout).toMatch(/^new data key \d+ encrypts from now on; 2 data keys, 0 re-wrapped under the current master key\nrestart running servers so they use the new key\n$/);

    await using node = await startTestNode({ ROOMBUS_DATA_DIR: dataDir });
    const alice = await node.connect("alice", { api: ["secrets"] });
    expect(Buffer.from((await alice.secrets.getSecret({ secret_id: "before" }))!.data).toString()).toBe("old value");
  });

  it("re-wraps under a new master key, after which the old master key is no longer needed", async () => {
    {
      await using node = await startTestNode({ ROOMBUS_DATA_DIR: dataDir });
      const alice = await node.connect("alice", { api: ["secrets"] });
      await alice.secrets.setSecret({ secret_id: "under-old-master", data: bytes("kept") });
    }
    const oldMaster = (await readFile(join(dataDir, "encryption-key"), "utf8")).trim();
    const newMaster = newMasterKeyBase64();

    const withoutOld = await runCli(["keys", "rotate", "--data-dir", dataDir], { ROOMBUS_ENCRYPTION_KEY: newMaster });
    expect(withoutOld.code).toBe(1);
    expect(withoutOld.stderr).toMatch(/^roombus: nothing was changed: .*ROOMBUS_ENCRYPTION_KEYS_OLD.*\n$/);

    const result = await runCli(["keys", "rotate", "--data-dir", dataDir], {
      ROOMBUS_ENCRYPTION_KEY: newMaster,
      ROOMBUS_ENCRYPTION_KEYS_OLD: oldMaster,
    });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(
      /^new data key \d+ encrypts from now on; 2 data keys, 1 re-wrapped under the current master key\nrestart running servers so they use the new key; old master keys in ROOMBUS_ENCRYPTION_KEYS_OLD can now be removed\n$/,
    );

    await using node = await startTestNode({ ROOMBUS_DATA_DIR: dataDir, ROOMBUS_ENCRYPTION_KEY: newMaster });
    const alice = await node.connect("alice", { api: ["secrets"] });
    expect(Buffer.from((await alice.secrets.getSecret({ secret_id: "under-old-master" }))!.data).toString()).toBe("kept");
  });

  it("needs a store to rotate", async () => {
    const result = await runCli(["keys", "rotate", "--data-dir", dataDir]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^roombus: no store at .*roombus\.db/);
  });
});
