/**
 * The `roombus` command as a person meets it: help, usage mistakes, and minting tokens. Runs the built CLI
 * (`dist/src/cli/main.js`), so `npm test` must build first (a `pretest` script does).
 */
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, writeFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createTokenVerifier } from "../../src/auth/tokens.js";

const ROOT = resolve(fileURLToPath(import.meta.url), "../../..");
const CLI = join(ROOT, "dist/src/cli/main.js");
const SECRET = "test-secret-0123456789abcdef-0123456789";

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

let workDir: string;

/** Runs the CLI with only PATH from this environment, in a fresh directory, so no ROOMBUS_* setting leaks in. */
function runCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolvePromise) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { cwd: workDir, env: { PATH: process.env.PATH ?? "", ...env }, timeout: 15_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1;
        resolvePromise({ code, stdout, stderr });
      },
    );
  });
}

/** `exp - iat` of a printed token: its lifetime, whatever the wall clock did meanwhile. */
function lifetimeSeconds(token: string): number {
  const payload = JSON.parse(Buffer.from(token.trim().split(".")[1]!, "base64url").toString("utf8")) as {
    iat: number;
    exp: number;
  };
  return payload.exp - payload.iat;
}

function lines(text: string): string[] {
  return text.split("\n").filter((line) => line.length > 0);
}

function expectOneLineError(result: CliResult, code: number): string {
  expect(result.code).toBe(code);
  expect(result.stdout).toBe("");
  const errorLines = lines(result.stderr);
  expect(errorLines).toHaveLength(1);
  expect(result.stderr).not.toMatch(/^\s+at /m);
  return errorLines[0]!;
}

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first with \`npx tsc -p tsconfig.json\``);
});

beforeEach(async () => {
  workDir = await mkdtemp(join(tmpdir(), "roombus-cli-"));
});

afterEach(async () => {
  await rm(workDir, { recursive: true, force: true });
});

describe("help", () => {
  const commands = [
    [],
    ["serve"],
    ["token"],
    ["room"],
    ["room", "participants"],
    ["room", "send"],
    ["room", "listen"],
    ["room", "secret"],
    ...["list", "set", "get", "exists", "delete", "request"].map((name) => ["room", "secret", name]),
    ["audit"],
    ["keys"],
    ["keys", "rotate"],
  ];

  it.each(commands.map((command) => [command.join(" ") || "(top level)", command]))(
    "%s --help exits 0 with usage text on stdout",
    async (_label, command) => {
      const result = await runCli([...command, "--help"]);
      expect(result.code).toBe(0);
      expect(result.stderr).toBe("");
      expect(result.stdout).toMatch(/^Usage: roombus/);
      expect(result.stdout).toMatch(/Example/);
    },
  );

  it("-h works like --help", async () => {
    const result = await runCli(["token", "-h"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: roombus token/);
  });

  it("--version prints the package version", async () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string };
    const result = await runCli(["--version"]);
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe(version);
  });
});

describe("usage mistakes", () => {
  it.each([
    [["token", "--bogus"], /unknown option --bogus/],
    [["serve", "--nope", "1"], /unknown option --nope/],
    [["room", "send", "--room", "demo", "--frob"], /unknown option --frob/],
    [["frobnicate"], /unknown command "frobnicate"/],
    [["--frob"], /unknown option --frob/],
    [["room", "dance"], /unknown command "dance"/],
    [[], /missing command/],
    [["serve", "--port"], /--port needs a value/],
    [["token", "--identity", "alice"], /--room is required/],
    [["token", "--identity", "alice", "--room", "demo", "--ttl", "soon"], /--ttl/],
    [["token", "--identity", "alice", "--room", "demo", "--api", "messaging,everything"], /--api/],
    [["room", "send", "--room", "demo", "--type", "chat"], /exactly one of --to/],
    [["room", "send", "--room", "demo", "--broadcast", "--type", "chat", "--message", "[1]"], /JSON object/],
    [["room", "secret"], /missing command/],
    [["room", "secret", "peek"], /unknown command "peek"/],
    [["room", "secret", "get", "--room", "demo"], /--id is required/],
    [["room", "secret", "get", "--room", "demo", "--id", "x", "--delegated-to", "a", "--delegated-by", "b"], /not both/],
    [["room", "secret", "delete", "--room", "demo"], /id is required/],
    [["room", "secret", "delete", "--room", "demo", "a", "b"], /unexpected argument b/],
    [["room", "secret", "set", "--room", "demo", "--id", "x", "--for-identity", "bad id"], /--for-identity must be/],
    [["room", "secret", "request", "--room", "demo", "--url", "secret://x"], /--from-participant-id is required/],
    [["room", "secret", "request", "--room", "demo", "--from-participant-id", "p", "--url", "u", "--timeout", "0"], /--timeout must be/],
    [["audit"], /--room is required/],
    [["audit", "--room", "demo", "--limit", "0"], /--limit must be/],
    [["keys"], /missing command/],
    [["keys", "spin"], /unknown command "spin"/],
    [["keys", "rotate", "--now"], /unknown option --now/],
  ])("%j exits 2 with one line", async (args, pattern) => {
    const line = expectOneLineError(await runCli(args), 2);
    expect(line).toMatch(pattern);
  });

  it("a room command without a token says how to get one", async () => {
    const line = expectOneLineError(await runCli(["room", "participants", "--room", "demo"]), 2);
    expect(line).toMatch(/roombus token/);
    expect(line).toMatch(/ROOMBUS_TOKEN/);
  });
});

describe("roombus token", () => {
  const verifier = createTokenVerifier({
    key: { kind: "shared-secret", secret: new TextEncoder().encode(SECRET) },
    issuer: "roombus",
    audience: "roombus",
  });

  it("without a secret, says in one line where a secret comes from", async () => {
    const line = expectOneLineError(
      await runCli(["token", "--identity", "alice", "--room", "demo", "--data-dir", join(workDir, "data")]),
      1,
    );
    expect(line).toMatch(/^roombus: /);
    expect(line).toMatch(/ROOMBUS_JWT_SECRET/);
  });

  it("with a public key configured, explains that tokens come from the identity provider", async () => {
    const result = await runCli(["token", "--identity", "alice", "--room", "demo"], {
      ROOMBUS_JWT_PUBLIC_KEY: "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----",
    });
    expect(expectOneLineError(result, 1)).toMatch(/identity provider/);
  });

  it("with ROOMBUS_JWT_SECRET, prints a token the server's verifier accepts, with the defaults", async () => {
    const result = await runCli(["token", "--identity", "alice", "--room", "demo"], { ROOMBUS_JWT_SECRET: SECRET });
    expect(result.code).toBe(0);
    expect(result.stderr).toBe("");
    expect(result.stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const grants = await verifier.verify(result.stdout.trim());
    expect(grants.identity).toBe("alice");
    expect(grants.room).toBe("demo");
    expect(grants.role).toBe("user");
    expect(Object.keys(grants.api).sort()).toEqual(["messaging", "toolkits"]);
    expect(lifetimeSeconds(result.stdout)).toBe(3600);
  });

  it("carries role, api, ttl and jti from the flags", async () => {
    const result = await runCli(
      ["token", "--identity", "bot@example", "--room", "*", "--role", "agent", "--api", "secrets, admin", "--ttl", "30m", "--jti", "t-1"],
      { ROOMBUS_JWT_SECRET: SECRET },
    );
    expect(result.code).toBe(0);
    const grants = await verifier.verify(result.stdout.trim());
    expect(grants).toMatchObject({ identity: "bot@example", room: "*", role: "agent", jti: "t-1" });
    expect(Object.keys(grants.api).sort()).toEqual(["admin", "secrets"]);
    expect(lifetimeSeconds(result.stdout)).toBe(30 * 60);
  });

  it("uses the secret file `roombus serve` keeps in the data directory", async () => {
    const dataDir = join(workDir, "data");
    const fileSecret = "file-secret-0123456789abcdef-0123456789";
    await mkdir(dataDir, { recursive: true });
    await writeFile(join(dataDir, "jwt-secret"), `${fileSecret}\n`, { mode: 0o600 });
    const result = await runCli(["token", "--identity", "alice", "--room", "demo", "--data-dir", dataDir]);
    expect(result.code).toBe(0);
    const fileVerifier = createTokenVerifier({
      key: { kind: "shared-secret", secret: new TextEncoder().encode(fileSecret) },
      issuer: "roombus",
      audience: "roombus",
    });
    expect((await fileVerifier.verify(result.stdout.trim())).identity).toBe("alice");
  });
});
