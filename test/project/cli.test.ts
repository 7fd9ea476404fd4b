/**
 * `roombus project secret …` run as a real process against a real server: what a person sees on stdout, stderr
 * and in the exit code, and that a value goes in but never comes out.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ProjectApi } from "../../src/client/project-api.js";
import { assertBuilt, runCli, type CliResult } from "../helpers/cli-process.js";
import { startTestNode, type TestNode } from "../helpers/start-test-node.js";
import { adminToken } from "./project-http.js";

const CANARY = "CANARY-cli-91d4-do-not-leak";

let node: TestNode;
let env: Record<string, string>;
let api: ProjectApi;
let scratch: string;
/** Every CLI result, so the canary can be searched for in all of them. */
const results: CliResult[] = [];

beforeAll(async () => {
  assertBuilt();
  node = await startTestNode();
  const token = await adminToken(node);
  env = { ROOMBUS_URL: node.server.httpUrl.replace(/^http/, "ws"), ROOMBUS_TOKEN: token };
  api = new ProjectApi({ url: node.server.httpUrl, token });
  scratch = await mkdtemp(join(tmpdir(), "roombus-project-cli-"));
});

afterAll(async () => {
  await node?.[Symbol.asyncDispose]();
  if (scratch !== undefined) await rm(scratch, { recursive: true, force: true });
});

async function roombus(args: string[], input?: string, extraEnv: Record<string, string> = {}): Promise<CliResult> {
  const result = await runCli(args, { ...env, ...extraEnv }, input === undefined ? {} : { input });
  results.push(result);
  return result;
}

/** A failure is one line on stderr (after any warning about a value given on the command line). */
function expectOneLine(result: CliResult, code: number, pattern: RegExp): void {
  expect(result.code, result.stderr).toBe(code);
  const lines = result.stderr.trimEnd().split("\n").filter((line) => !line.startsWith("roombus: warning:"));
  expect(lines, result.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
}

describe("roombus project secret --help", () => {
  it.each([
    ["project"],
    ["project", "secret"],
    ["project", "secret", "list"],
    ["project", "secret", "create"],
    ["project", "secret", "update"],
    ["project", "secret", "delete"],
    ["project", "secret", "key"],
    ["project", "secret", "key", "create"],
    ["project", "secret", "key", "list"],
    ["project", "secret", "key", "delete"],
    ["project", "secret", "docker"],
    ["project", "secret", "docker", "create"],
    ["project", "secret", "docker", "list"],
    ["project", "secret", "docker", "delete"],
  ])("%s … --help answers with its usage", async (...words) => {
    const result = await runCli([...words, "--help"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^Usage: roombus ${words.join(" ")}`));
    expect(result.stderr).toBe("");
  });

  it("recommends stdin or a file over a value on the command line", async () => {
    expect((await runCli(["project", "secret", "create", "--help"])).stdout).toMatch(/--value-stdin .*recommended/);
    expect((await runCli(["project", "secret", "key", "create", "--help"])).stdout).toMatch(/--data-file .*recommended/);
  });
});

// Each CLI run is a new Node process; on a busy machine a dozen of them take longer than the default test timeout.
const CLI_FLOW = { timeout: 90_000 };

describe("roombus project secret", CLI_FLOW, () => {
  it("creates from stdin, a file or a flag, lists without values, updates and deletes", async () => {
    const fromStdin = await roombus(["project", "secret", "create", "--name", "FROM_STDIN", "--value-stdin", "--scope", "agents", "--profile", "billing", "--profile", "ops"], `${CANARY}-stdin\n`);
    expect(fromStdin.code, fromStdin.stderr).toBe(0);
    expect(fromStdin.stdout).toMatch(/^sec_[A-Za-z0-9_-]+ 1\n$/);
    const id = fromStdin.stdout.split(" ")[0]!;

    const file = join(scratch, "value.txt");
    await writeFile(file, `${CANARY}-file\n`);
    expect((await roombus(["project", "secret", "create", "--name", "FROM_FILE", "--in", file])).code).toBe(0);
    const fromText = await roombus(["project", "secret", "create", "--name", "FROM_TEXT", "--text", `${CANARY}-text`]);
    expect(fromText.code).toBe(0);
    expect(fromText.stderr).toMatch(/warning: --text leaves the value in shell history/);

    // Stdin loses the newline echo adds; a file is taken exactly.
    const resolved = await api.resolveEnvironment({ profile_id: "billing" });
    expect(resolved.project).toMatchObject({ FROM_STDIN: `${CANARY}-stdin`, FROM_FILE: `${CANARY}-file\n`, FROM_TEXT: `${CANARY}-text` });

    const listed = await roombus(["project", "secret", "list"]);
    expect(listed.code).toBe(0);
    const lines = listed.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^ID\s+NAME\s+SCOPE\s+PROFILES\s+VERSION\s+UPDATED$/);
    expect(lines.find((line) => line.startsWith(id))).toMatch(/FROM_STDIN\s+agents\s+billing,ops\s+1\s+\d{4}-/);
    const json = await roombus(["project", "secret", "list", "--json"]);
    expect((JSON.parse(json.stdout) as { name: string }[]).map((s) => s.name).sort()).toEqual(["FROM_FILE", "FROM_STDIN", "FROM_TEXT"]);

    const updated = await roombus(["project", "secret", "update", id, "--value-stdin", "--if-version", "1"], `${CANARY}-rotated\n`);
    expect(updated.code, updated.stderr).toBe(0);
    expect(updated.stdout).toBe(`${id} 2\n`);
    expect((await api.resolveEnvironment({ profile_id: "ops" })).project.FROM_STDIN).toBe(`${CANARY}-rotated`);
    expectOneLine(await roombus(["project", "secret", "update", id, "--text", "x", "--if-version", "1"]), 1, /updating the project secret failed \(conflict 409\): .*version 2, not 1/);
    expectOneLine(await roombus(["project", "secret", "update", id, "--scope", "all", "--profile", "x"]), 1, /\(invalid_request 400\): profile_ids: /);
    expect((await roombus(["project", "secret", "update", id, "--scope", "all"])).stdout).toBe(`${id} 3\n`);
    expect((await api.resolveEnvironment({})).project.FROM_STDIN).toBe(`${CANARY}-rotated`);

    expectOneLine(await roombus(["project", "secret", "delete", id, "--if-version", "2"]), 1, /conflict 409/);
    const deleted = await roombus(["project", "secret", "delete", id]);
    expect(deleted.stdout).toBe("deleted\n");
    expectOneLine(await roombus(["project", "secret", "delete", id]), 1, /not_found 404/);
  });

  it("refuses usage mistakes with exit 2 before calling the server", async () => {
    expectOneLine(await roombus(["project", "secret", "create", "--value-stdin"], "v"), 2, /--name is required/);
    expectOneLine(await roombus(["project", "secret", "create", "--name", "X"]), 2, /no value given/);
    expectOneLine(await roombus(["project", "secret", "create", "--name", "X", "--text", "a", "--value-stdin"], "b"), 2, /--value-stdin and --text given|--text and --value-stdin/);
    expectOneLine(await roombus(["project", "secret", "create", "--name", "X", "--text", "a", "--scope", "some"]), 2, /--scope must be all or agents/);
    expectOneLine(await roombus(["project", "secret", "update", "sec_x"]), 2, /nothing to change/);
    expectOneLine(await roombus(["project", "secret", "update"]), 2, /the secret's id is required/);
    expectOneLine(await roombus(["project", "secret", "frobnicate"]), 2, /unknown command "frobnicate"/);
    expectOneLine(await roombus(["project", "secret", "list"], undefined, { ROOMBUS_TOKEN: "" }), 2, /no token: export ROOMBUS_TOKEN=\$\(roombus token --identity ID --room '\*' --api admin\)/);
    const invalidName = await roombus(["project", "secret", "create", "--name", "lower", "--value-stdin"], CANARY);
    expectOneLine(invalidName, 1, /\(invalid_request 400\): name: must be an environment variable name/);
  });

  it("says what to do when the token is not a project admin's or the server is unreachable", async () => {
    const roomAdmin = await node.token("ops", { room: "demo", api: ["admin"] });
    expectOneLine(await roombus(["project", "secret", "list"], undefined, { ROOMBUS_TOKEN: roomAdmin }), 1, /\(forbidden 403\): .*roombus token --identity ID --room '\*' --api admin/);
    expectOneLine(await roombus(["project", "secret", "list"], undefined, { ROOMBUS_TOKEN: "x.y.z" }), 1, /\(unauthorized 401\)/);
    expectOneLine(await roombus(["project", "secret", "list", "--url", "ws://127.0.0.1:1"]), 1, /\(unreachable\): cannot reach http:\/\/127\.0\.0\.1:1/);
    expectOneLine(await roombus(["project", "secret", "list", "--url", "ftp://x"]), 2, /--url: the server URL must be http\(s\):\/\/ or ws\(s\):\/\//);
  });
});

describe("roombus project secret key", CLI_FLOW, () => {
  it("creates a collection from a data file and flags, lists key names only, and deletes it", async () => {
    const lines = `# weather service\nAPI_KEY=${CANARY}-a\n\nAPI_URL=https://api.example.com/v1?x=1\r\n`;
    const created = await roombus(["project", "secret", "key", "create", "--name", "weather", "--data-file", "-", "--data", `EXTRA=${CANARY}-b`], lines);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toMatch(/^key_[A-Za-z0-9_-]+ API_KEY,API_URL,EXTRA\n$/);
    expect(created.stderr).toMatch(/warning: --data leaves the values in shell history/);
    expect((await api.resolveEnvironment({ keys: ["weather"] })).keys.weather).toEqual({
      API_KEY: `${CANARY}-a`,
      API_URL: "https://api.example.com/v1?x=1",
      EXTRA: `${CANARY}-b`,
    });

    const listed = await roombus(["project", "secret", "key", "list"]);
    expect(listed.stdout).toMatch(/^NAME\s+ID\s+KEYS\s+VERSION\s+UPDATED\nweather\s+key_\S+\s+API_KEY,API_URL,EXTRA\s+1\s+/);

    expectOneLine(await roombus(["project", "secret", "key", "create", "--name", "dup", "--data", "A=1", "--data", "A=2"]), 2, /the key A is given twice/);
    expectOneLine(await roombus(["project", "secret", "key", "create", "--name", "bad", "--data-file", "-"], `GOOD=1\n${CANARY}\n`), 2, /stdin line 2: expected KEY=VALUE/);
    expectOneLine(await roombus(["project", "secret", "key", "create", "--name", "weather", "--data", "A=1"]), 1, /conflict 409/);

    expect((await roombus(["project", "secret", "key", "delete", "weather"])).stdout).toBe("deleted\n");
    expectOneLine(await roombus(["project", "secret", "key", "delete", "weather"]), 1, /no key collection named weather/);
  });
});

describe("roombus project secret docker", CLI_FLOW, () => {
  it("stores a registry credential from stdin, lists it without the password, and deletes it", async () => {
    const created = await roombus(
      ["project", "secret", "docker", "create", "--name", "acme", "--server", "registry.example.com", "--username", "deploy", "--password-stdin"],
      `${CANARY}-pw\n`,
    );
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toMatch(/^pull_[A-Za-z0-9_-]+\n$/);
    const config = await api.dockerConfig("acme");
    expect(Buffer.from(config.auths["registry.example.com"]!.auth, "base64").toString()).toBe(`deploy:${CANARY}-pw`);

    const listed = await roombus(["project", "secret", "docker", "list"]);
    expect(listed.stdout).toMatch(/^NAME\s+ID\s+SERVER\s+USERNAME\s+UPDATED\nacme\s+pull_\S+\s+registry\.example\.com\s+deploy\s+/);

    expectOneLine(
      await roombus(["project", "secret", "docker", "create", "--name", "acme2", "--server", "s", "--username", "u"]),
      2,
      /--password-stdin is required/,
    );
    expectOneLine(
      await roombus(["project", "secret", "docker", "create", "--name", "acme2", "--server", "s", "--username", "u", "--password", "x"]),
      2,
      /unknown option --password/,
    );
    expect((await roombus(["project", "secret", "docker", "delete", "acme"])).stdout).toBe("deleted\n");
    expect((await roombus(["project", "secret", "docker", "list"])).stderr).toMatch(/no pull secrets yet/);
  });
});

describe("the CLI and the audit", CLI_FLOW, () => {
  it("shows the project API's records with `roombus audit --room '*'`, and no CLI run printed a value", async () => {
    expect((await roombus(["project", "secret", "create", "--name", "AUDITED", "--value-stdin"], CANARY)).code).toBe(0);
    expect((await roombus(["project", "secret", "create", "--name", "AUDITED", "--value-stdin"], CANARY)).code).toBe(1);
    const audit = await runCli(["audit", "--room", "*", "--limit", "1000", "--data-dir", node.config.dataDir]);
    expect(audit.code, audit.stderr).toBe(0);
    expect(audit.stdout).toMatch(/ ops {2}http {2}project\.secrets\.create {2}.*name=AUDITED.* {2}ok\n/);
    expect(audit.stdout).toMatch(/ ops {2}http {2}project\.secrets\.create {2}name=AUDITED {2}conflict \(409\)\n/);
    results.push(audit);

    // Every CLI run of this file so far (all of them when the whole file runs).
    for (const result of results) {
      expect(result.stdout).not.toContain(CANARY);
      expect(result.stderr).not.toContain(CANARY);
    }
    expect(node.logText()).not.toContain(CANARY);
  });
});
