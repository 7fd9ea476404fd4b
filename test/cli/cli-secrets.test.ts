/**
 * `roombus room secret ...` and the secret-request answering of `roombus room listen`, run as the built CLI against
 * a real in-process server. The SDK stands in for the other participants.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RoombusError, type RoomClient } from "../../src/client/index.js";
import { startTestNode, TEST_ROOM, type TestNode } from "../helpers/start-test-node.js";
import { assertBuilt, roomEnv, runCli, startCli, type CliResult } from "../helpers/cli-process.js";

const CANARY = "canary-7f3a9c-DO-NOT-PRINT";
const bytes = (text: string) => Buffer.from(text, "utf8");

let node: TestNode;
let workDir: string;
/** The CLI's environment as alice, who has the messaging and secrets grants. */
let alice: Record<string, string>;
/** The same identity through the SDK, to check what the CLI stored. */
let aliceSdk: RoomClient;

beforeAll(async () => {
  assertBuilt();
  node = await startTestNode();
  workDir = await mkdtemp(join(tmpdir(), "roombus-cli-secrets-"));
  alice = await roomEnv(node, "alice");
  aliceSdk = await node.connect("alice", { api: ["secrets"] });
});

afterAll(async () => {
  await node[Symbol.asyncDispose]();
  await rm(workDir, { recursive: true, force: true });
});

const secret = (command: string, ...args: string[]) => ["room", "secret", command, "--room", TEST_ROOM, ...args];

function oneErrorLine(result: CliResult, code: number): string {
  expect(result.code).toBe(code);
  const lines = result.stderr.split("\n").filter((line) => line.length > 0);
  expect(lines).toHaveLength(1);
  return lines[0]!;
}

describe("room secret set", () => {
  it("--text stores text/plain, prints `id version`, and warns once about shell history", async () => {
    const first = await runCli(secret("set", "--id", "text-one", "--text", "v1"), alice);
    expect(first).toMatchObject({ code: 0, stdout: "text-one 1\n" });
    expect(oneErrorLine(first, 0)).toMatch(/--text .*shell history.*--in -/);
    expect((await runCli(secret("set", "--id", "text-one", "--text", "v2"), alice)).stdout).toBe("text-one 2\n");
    const stored = await aliceSdk.secrets.getSecret({ secret_id: "text-one" });
    expect(stored).toMatchObject({ type: "text/plain", version: 2 });
    expect(Buffer.from(stored!.data).toString()).toBe("v2");
  });

  it("--in FILE, --in - (stdin) and --base64 store the exact bytes as application/octet-stream", async () => {
    const file = join(workDir, "value.bin");
    await writeFile(file, Buffer.from([0, 1, 2, 255]));
    const [fromFile, fromStdin, fromBase64] = await Promise.all([
      runCli(secret("set", "--id", "from-file", "-i", file, "--name", "A file"), alice),
      runCli(secret("set", "--id", "from-stdin", "--in", "-"), alice, { input: "line\n" }),
      runCli(secret("set", "--id", "from-b64", "--base64", Buffer.from("b64 value").toString("base64"), "--type", "x/y"), alice),
    ]);
    for (const result of [fromFile, fromStdin, fromBase64]) expect(result).toMatchObject({ code: 0, stderr: "" });
    const read = async (id: string) => aliceSdk.secrets.getSecret({ secret_id: id });
    expect(await read("from-file")).toMatchObject({ type: "application/octet-stream", name: "A file", data: new Uint8Array([0, 1, 2, 255]) });
    expect(Buffer.from((await read("from-stdin"))!.data).toString()).toBe("line\n");
    expect(await read("from-b64")).toMatchObject({ type: "x/y", data: new Uint8Array(bytes("b64 value")) });
  });

  it("without --id prints the id the server made", async () => {
    const result = await runCli(secret("set", "--text", "made"), alice);
    expect(result.code).toBe(0);
    const [id, version] = result.stdout.trim().split(" ");
    expect(version).toBe("1");
    expect(await aliceSdk.secrets.exists({ secret_id: id! })).toEqual({ exists: true });
  });

  it.each([
    [[], /exactly one of --in/],
    [["--text", "a", "--base64", "YQ=="], /--text and --base64 both given/],
    [["--in", "-", "--text", "a"], /exactly one of --in/],
    [["--base64", "not base64!"], /--base64 is not valid base64/],
    [["--text", "a", "--if-version", "x"], /--if-version must be a whole number/],
  ])("%j is a usage error (exit 2, one line)", async (args, pattern) => {
    const result = await runCli(secret("set", "--id", "never", ...args), alice);
    expect(oneErrorLine(result, 2)).toMatch(pattern);
    expect(result.stdout).toBe("");
  });

  it("--if-version refuses a stale write with one line", async () => {
    await runCli(secret("set", "--id", "versioned", "--text", "v1"), alice);
    const result = await runCli(secret("set", "--id", "versioned", "--in", "-", "--if-version", "7"), alice, { input: "v2" });
    expect(oneErrorLine(result, 1)).toBe('roombus: secret "versioned" is not at version 7: nothing was written');
  });
});

describe("room secret get / exists / delete", () => {
  beforeAll(async () => {
    await aliceSdk.secrets.setSecret({ secret_id: "readable", data: bytes(`value ${CANARY}`) });
  });

  it("get writes the raw bytes to stdout, without a newline when stdout is not a terminal", async () => {
    const result = await runCli(secret("get", "--id", "readable"), alice);
    expect(result).toMatchObject({ code: 0, stderr: "" });
    expect(result.stdout).toBe(`value ${CANARY}`);
  });

  it("get --out writes a file with mode 0600, replacing an existing one", async () => {
    const out = join(workDir, "out.txt");
    await writeFile(out, "old contents that are longer", { mode: 0o644 });
    const result = await runCli(secret("get", "--id", "readable", "--out", out), alice);
    expect(result).toMatchObject({ code: 0, stdout: "", stderr: "" });
    expect(await readFile(out, "utf8")).toBe(`value ${CANARY}`);
    expect((await stat(out)).mode & 0o777).toBe(0o600);
  });

  it("get of a missing secret exits 1 with one line", async () => {
    const result = await runCli(secret("get", "--id", "missing"), alice);
    expect(oneErrorLine(result, 1)).toBe(`roombus: no secret "missing" in room ${TEST_ROOM}`);
    expect(result.stdout).toBe("");
  });

  it("exists prints true (exit 0) or false (exit 1)", async () => {
    const [yes, no] = await Promise.all([
      runCli(secret("exists", "--id", "readable"), alice),
      runCli(secret("exists", "--id", "missing"), alice),
    ]);
    expect(yes).toMatchObject({ code: 0, stdout: "true\n", stderr: "" });
    expect(no).toMatchObject({ code: 1, stdout: "false\n", stderr: "" });
  });

  it("delete takes the id as an argument, then says there is nothing left to delete", async () => {
    await aliceSdk.secrets.setSecret({ secret_id: "doomed", data: bytes("x") });
    expect(await runCli(secret("delete", "doomed"), alice)).toMatchObject({ code: 0, stdout: "deleted\n", stderr: "" });
    expect(await aliceSdk.secrets.exists({ secret_id: "doomed" })).toEqual({ exists: false });
    const again = await runCli(secret("delete", "--id", "doomed"), alice);
    expect(oneErrorLine(again, 1)).toBe('roombus: no secret "doomed" to delete');
  });
});

describe("room secret list", () => {
  it("shows kind, id, type, name, delegation, version and time, never a value", async () => {
    await aliceSdk.secrets.setSecret({ secret_id: "listed", name: "Listed one", type: "text/plain", data: bytes(CANARY) });
    await aliceSdk.secrets.setSecret({ secret_id: "listed", name: "Listed one", type: "text/plain", data: bytes(CANARY) });
    await aliceSdk.secrets.setSecret({ secret_id: "shared", delegated_to: "bob", data: bytes(CANARY) });
    const [table, json] = await Promise.all([runCli(secret("list"), alice), runCli(secret("list", "--json"), alice)]);
    expect(table).toMatchObject({ code: 0, stderr: "" });
    const lines = table.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^KIND\s+ID\/URL\s+TYPE\s+NAME\s+DELEGATION\s+VERSION\s+UPDATED$/);
    expect(lines.find((line) => line.includes("listed"))).toMatch(/^secret\s+listed\s+text\/plain\s+Listed one\s+-\s+2\s+\d{4}-\d\d-\d\dT[\d:.]+Z$/);
    expect(lines.find((line) => line.includes("shared"))).toMatch(/\sto:bob\s/);
    expect(JSON.parse(json.stdout)).toEqual(expect.arrayContaining([expect.objectContaining({ id: "listed", version: 2 })]));
    for (const output of [table.stdout, json.stdout]) expect(output).not.toContain(CANARY);
  });

  it("--for-identity with an admin token acts on another identity's secrets; without admin it is refused", async () => {
    const admin = await roomEnv(node, "admin", ["secrets", "admin"]);
    const set = await runCli(secret("set", "--id", "for-carol", "--for-identity", "carol", "--in", "-"), admin, { input: "carol's" });
    expect(set).toMatchObject({ code: 0, stdout: "for-carol 1\n" });
    const carol = await node.connect("carol", { api: ["secrets"] });
    expect(Buffer.from((await carol.secrets.getSecret({ secret_id: "for-carol" }))!.data).toString()).toBe("carol's");

    const [listed, refused] = await Promise.all([
      runCli(secret("list", "--for-identity", "carol"), admin),
      runCli(secret("list", "--for-identity", "carol"), alice),
    ]);
    expect(listed.stdout).toMatch(/for-carol/);
    expect(oneErrorLine(refused, 1)).toMatch(/permission_denied 1001.*admin/);
  });
});

describe("room secret request", () => {
  let bob: RoomClient;

  beforeAll(async () => {
    bob = await node.connect("bob", { api: ["secrets"] });
  });

  const request = (url: string, ...args: string[]) =>
    secret("request", "--from-participant-id", bob.participantId, "--url", url, ...args);

  it("prints the value the asked participant provides, after a progress line on stderr", async () => {
    const asked = bob.next("secrets.request_secret", { timeoutMs: 15_000 });
    const run = runCli(request("secret://provided", "--prompt", "the db password", "--type", "text/plain"), alice);
    const event = await asked;
    expect(event).toMatchObject({ from_identity: "alice", url: "secret://provided", type: "text/plain", prompt: "the db password" });
    await bob.secrets.provideSecret({ request_id: event.request_id, data: bytes("hunter2") });
    const result = await run;
    expect(result).toMatchObject({ code: 0, stdout: "hunter2" });
    expect(result.stderr).toBe("waiting for bob to answer (up to 300 s)…\n");
  });

  it("exits 1 with the reason when the participant declines", async () => {
    const asked = bob.next("secrets.request_secret", { timeoutMs: 15_000 });
    const run = runCli(request("secret://rejected"), alice);
    await bob.secrets.rejectSecret({ request_id: (await asked).request_id, reason: "not for you" });
    const result = await run;
    expect(result.code).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr.trim().split("\n").at(-1)).toBe("roombus: bob declined the request: not for you");
  });

  it("--timeout 1 exits 1 saying nobody answered in time", async () => {
    const result = await runCli(request("secret://unanswered", "--timeout", "1"), alice);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/waiting for bob to answer \(up to 1 s\)/);
    expect(result.stderr.trim().split("\n").at(-1)).toMatch(/^roombus: nobody answered in time/);
  });

  it("--out writes the answer to a 0600 file", async () => {
    const out = join(workDir, "requested.txt");
    const asked = bob.next("secrets.request_secret", { timeoutMs: 15_000 });
    const run = runCli(request("secret://to-file", "-o", out), alice);
    // If the CLI ends before bob is asked, fail with what it said rather than with a bare timeout.
    const event = await Promise.race([
      asked,
      run.then((result) => {
        throw new Error(`the CLI ended before bob was asked (exit ${result.code}): ${result.stderr}`);
      }),
    ]);
    await bob.secrets.provideSecret({ request_id: event.request_id, data: bytes("filed") });
    expect((await run).code).toBe(0);
    expect(await readFile(out, "utf8")).toBe("filed");
    expect((await stat(out)).mode & 0o777).toBe(0o600);
  });

  it("names an unknown participant in one line", async () => {
    const result = await runCli(secret("request", "--from-participant-id", "p_nobody", "--url", "secret://x"), alice);
    expect(oneErrorLine(result, 1)).toMatch(/no participant p_nobody in room/);
  });
});

describe("room listen answers secret requests", () => {
  it("from piped stdin: a line provides the value, an empty line declines, a withdrawn request is dropped", async () => {
    const listen = startCli(["room", "listen", "--room", TEST_ROOM], await roomEnv(node, "dana"));
    try {
      const ready = await listen.stdout.next(/^listening in room/);
      const danaId = /participant id (\S+)/.exec(ready)![1]!;
      const agent = await node.connect("agent", { api: ["secrets"] });

      const provided = agent.secrets.requestSecret({ participant_id: danaId, url: "secret://listen/one", prompt: "paste it" });
      await listen.stdout.next(/^secret request from agent \(p_\S+\) for secret:\/\/listen\/one, type application\/octet-stream, expires /);
      await listen.stdout.next(/^ {2}prompt: paste it$/);
      await listen.stderr.next(/^Provide a value \(empty line rejects\):$/);
      listen.child.stdin.write("typed value\n");
      expect(Buffer.from((await provided).data).toString()).toBe("typed value");
      await listen.stdout.next(/^provided the value for secret:\/\/listen\/one to agent$/);

      const declined = agent.secrets.requestSecret({ participant_id: danaId, url: "secret://listen/two" });
      await listen.stderr.next(/^Provide a value/);
      listen.child.stdin.write("\n");
      await expect(declined).rejects.toMatchObject({ errorName: "permission_denied" });
      await expect(declined).rejects.toThrow(/declined at the terminal/);

      // Nobody answers this one; when it expires, the prompt gives way to a line saying so.
      const expired = agent.secrets.requestSecret({ participant_id: danaId, url: "secret://listen/three", timeout_ms: 300 });
      await listen.stderr.next(/^Provide a value/);
      await expect(expired).rejects.toBeInstanceOf(RoombusError);
      await listen.stdout.next(/^the secret request from agent for secret:\/\/listen\/three was withdrawn: it expired$/);

      listen.child.kill("SIGTERM");
      expect(await listen.exited).toBe(0);
    } finally {
      listen.child.kill("SIGKILL");
    }
  });

  it("--json prints the request as JSON and still answers from stdin; --no-answer only prints", async () => {
    const json = startCli(["room", "listen", "--room", TEST_ROOM, "--json"], await roomEnv(node, "erin"));
    const quiet = startCli(["room", "listen", "--room", TEST_ROOM, "--no-answer"], await roomEnv(node, "fay"));
    try {
      const erinId = (JSON.parse(await json.stdout.next(/"event":"room.ready"/)) as { participant_id: string }).participant_id;
      const fayId = /participant id (\S+)/.exec(await quiet.stdout.next(/^listening in room/))![1]!;
      const agent = await node.connect("agent2", { api: ["secrets"] });

      const answered = agent.secrets.requestSecret({ participant_id: erinId, url: "secret://json" });
      const event = JSON.parse(await json.stdout.next(/"event":"secrets.request_secret"/)) as Record<string, unknown>;
      expect(event).toMatchObject({ from_identity: "agent2", url: "secret://json" });
      await json.stderr.next(/^Provide a value/);
      json.child.stdin.write("json answer\n");
      expect(Buffer.from((await answered).data).toString()).toBe("json answer");

      const unanswered = agent.secrets.requestSecret({ participant_id: fayId, url: "secret://quiet", timeout_ms: 300 });
      await quiet.stdout.next(/^secret request from agent2 .* for secret:\/\/quiet,/);
      await expect(unanswered).rejects.toMatchObject({ errorName: "timeout" });
      await quiet.stdout.next(/withdrawn: it expired/);
      expect(quiet.stderr.lines.filter((line) => /Provide a value/.test(line))).toEqual([]);

      json.child.kill("SIGTERM");
      quiet.child.kill("SIGTERM");
      expect(await Promise.all([json.exited, quiet.exited])).toEqual([0, 0]);
    } finally {
      json.child.kill("SIGKILL");
      quiet.child.kill("SIGKILL");
    }
  });

  it("without the secrets grant, shows and asks nothing about secret requests", async () => {
    const listen = startCli(["room", "listen", "--room", TEST_ROOM], await roomEnv(node, "gus", ["messaging"]));
    try {
      const gusId = /participant id (\S+)/.exec(await listen.stdout.next(/^listening in room/))![1]!;
      const agent = await node.connect("agent3", { api: ["secrets", "messaging"] });
      await expect(agent.secrets.requestSecret({ participant_id: gusId, url: "secret://nogrant", timeout_ms: 300 })).rejects.toMatchObject({
        errorName: "timeout",
      });
      // Events from one sender arrive in order: once this message is printed, anything about the request would be too.
      await agent.send(gusId, "chat", { text: "after" });
      await listen.stdout.next(/^message from agent3: \{"text":"after"\}/);
      expect(listen.stdout.lines.filter((line) => /secret/.test(line))).toEqual([]);
      expect(listen.stderr.lines).toEqual([]);
      listen.child.kill("SIGTERM");
      expect(await listen.exited).toBe(0);
    } finally {
      listen.child.kill("SIGKILL");
    }
  });
});
