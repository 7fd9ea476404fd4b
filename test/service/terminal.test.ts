/**
 * `roombus service install` and `roombus run` at a real terminal: the CLI runs inside a pseudo-terminal (util-linux
 * `script`), so its stdin is a TTY, and the test types at the prompts it sees.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RoomClient } from "../../src/client/index.js";
import { assertBuilt, CLI } from "../helpers/cli-process.js";
import { startTestNode, type TestNode } from "../helpers/start-test-node.js";

const TEMPLATE = join(import.meta.dirname, "fixtures", "template.yaml");
const HAS_SCRIPT = spawnSync("script", ["--version"]).status === 0;

let node: TestNode;
let operatorEnvironment: Record<string, string>;
let workDir: string;

beforeAll(async () => {
  if (!HAS_SCRIPT) return;
  assertBuilt();
  node = await startTestNode();
  workDir = await mkdtemp(join(tmpdir(), "roombus-terminal-"));
  operatorEnvironment = {
    PATH: process.env.PATH ?? "",
    ROOMBUS_URL: node.server.httpUrl.replace(/^http/, "ws"),
    ROOMBUS_TOKEN: await node.token("operator", { room: "*", api: ["admin", "secrets"] }),
  };
});

afterAll(async () => {
  await node?.[Symbol.asyncDispose]();
  if (workDir !== undefined) await rm(workDir, { recursive: true, force: true });
});

interface TerminalSession {
  /** Resolves once the terminal has shown `text` (after what earlier waits consumed). */
  waitFor(text: string): Promise<void>;
  type(keys: string): void;
  /** Everything the terminal showed. */
  output(): string;
  exited: Promise<number>;
}

const quote = (argument: string) => `'${argument.replace(/'/g, "'\\''")}'`;

function startOnTerminal(args: string[]): TerminalSession {
  // exec: the CLI replaces the shell, so no shell's own reaction to Ctrl-C decides the exit code.
  const command = `exec ${[process.execPath, CLI, ...args].map(quote).join(" ")}`;
  const child = spawn("script", ["-qec", command, "/dev/null"], { env: operatorEnvironment, stdio: ["pipe", "pipe", "pipe"] });
  let text = "";
  let cursor = 0;
  let wake: (() => void) | undefined;
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    text += chunk;
    wake?.();
  });
  const exited = new Promise<number>((resolve) => child.on("exit", (code) => resolve(code ?? -1)));
  let ended = false;
  void exited.then(() => {
    ended = true;
    wake?.();
  });
  return {
    async waitFor(expected) {
      for (;;) {
        const at = text.indexOf(expected, cursor);
        if (at !== -1) {
          cursor = at + expected.length;
          return;
        }
        if (ended) throw new Error(`the terminal never showed ${JSON.stringify(expected)}:\n${text}`);
        await new Promise<void>((resolve) => (wake = resolve));
      }
    },
    type: (keys) => child.stdin.write(keys),
    output: () => text,
    exited,
  };
}

async function adminClient(room: string): Promise<RoomClient> {
  return node.connect("operator", { room, api: ["admin", "secrets"] });
}

describe.skipIf(!HAS_SCRIPT)("service install at a terminal", () => {
  it("asks for each variable with its description; obscure ones are not echoed; the secrets are stored", async () => {
    const session = startOnTerminal(["service", "install", "--template", TEMPLATE, "--room", "tty-room"]);
    await session.waitFor("Sensitive token provided by the installer (service_api_token, hidden):");
    session.type("typed-hidden-token\r");
    await session.waitFor("Signing secret of the webhook (webhook_secret, hidden):");
    session.type("typed-hidden-hook\r");
    await session.waitFor("What the agent says first (greeting):");
    session.type("typed-visible-greeting\r");
    expect(await session.exited).toBe(0);
    const output = session.output();
    expect(output).toContain("typed-visible-greeting");
    expect(output).not.toContain("typed-hidden");
    expect(output).toContain('stored service_api_token as room secret "service-api-token" of support-agent (version 1)');
    expect(output).toContain("not stored (no secret annotations): greeting");

    const admin = await adminClient("tty-room");
    const stored = await admin.secrets.getSecret({ secret_id: "webhook-secret", for_identity: "support-agent" });
    expect(Buffer.from(stored!.data).toString("utf8")).toBe("typed-hidden-hook");
  });

  it("Ctrl-C at a hidden prompt stops the install with nothing stored", async () => {
    const session = startOnTerminal(["service", "install", "--template", TEMPLATE, "--room", "tty-interrupted"]);
    await session.waitFor("(service_api_token, hidden):");
    session.type("\u0003");
    expect(await session.exited).toBe(130);
    expect(session.output()).toContain("roombus service install: interrupted; nothing was stored");
    const admin = await adminClient("tty-interrupted");
    expect(await admin.secrets.exists({ secret_id: "service-api-token", for_identity: "support-agent" })).toEqual({ exists: false });
  });
});

describe.skipIf(!HAS_SCRIPT)("run at a terminal", () => {
  it("Ctrl-C reaches the child once (from the terminal), not a second time from run", async () => {
    const spec = join(workDir, "service.yaml");
    await writeFile(spec, "version: v1\nkind: Service\nmetadata: {name: s}\ncontainer:\n  environment:\n    - name: A\n      value: x\n");
    // The child waits a moment after the first SIGINT, so a second one would be seen and counted.
    const child = "let count = 0; process.on('SIGINT', () => { count++; console.log('SIGINT ' + count); setTimeout(() => process.exit(5), 500); }); console.log('child ready'); setInterval(() => {}, 1000);";
    const session = startOnTerminal(["run", "--spec", spec, "--room", "tty-run", "--", process.execPath, "-e", child]);
    await session.waitFor("child ready");
    session.type("\u0003");
    expect(await session.exited).toBe(5);
    expect(session.output()).toContain("SIGINT 1");
    expect(session.output()).not.toContain("SIGINT 2");
  });
});
