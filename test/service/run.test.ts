/**
 * `roombus run` and `roombus service install` as the built CLI against a real in-process server: the child is a
 * real Node process that prints the environment it got, so what is asserted is what a service would see.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect } from "../../src/client/index.js";
import { ProjectApi, type ProjectSecret } from "../../src/client/project-api.js";
import { assertBuilt, runCli, startCli, type CliResult } from "../helpers/cli-process.js";
import { startTestNode, TEST_ROOM, type TestNode } from "../helpers/start-test-node.js";

const FIXTURES = join(import.meta.dirname, "fixtures");
const PRINT_ENVIRONMENT = [process.execPath, "-e", "process.stdout.write(JSON.stringify(process.env))"];
const TEMPLATE_ROOM = "template-room";

/** Every value stored anywhere in this file: none may appear on the CLI's stderr or in the server's log. */
const VALUES = {
  shared: "shared-value-1-c4n4ry",
  sharedRotated: "shared-value-2-c4n4ry",
  billing: "billing-value-c4n4ry",
  otherProfile: "other-profile-value-c4n4ry",
  weatherKey: "weather-key-c4n4ry",
  weatherSecret: "weather-secret-c4n4ry",
  roomSecret: "room-secret-value-c4n4ry",
  registryPassword: "registry-password-c4n4ry",
  hijack: "/tmp/hijack-c4n4ry.so",
  installedToken: "installed-token-c4n4ry",
  installedHook: "installed-hook-c4n4ry",
  flagToken: "flag-token-c4n4ry",
  flagHook: "flag-hook-c4n4ry",
};

let node: TestNode;
let workDir: string;
let api: ProjectApi;
let adminToken: string;
/** The operator's environment: the server, its project-admin token, and one variable of its own. */
let operator: Record<string, string>;
let sharedSecret: ProjectSecret;
const stderrs: string[] = [];

beforeAll(async () => {
  assertBuilt();
  node = await startTestNode();
  workDir = await mkdtemp(join(tmpdir(), "roombus-run-"));
  adminToken = await node.token("operator", { room: "*", api: ["admin", "secrets"] });
  operator = { ROOMBUS_URL: node.server.httpUrl.replace(/^http/, "ws"), ROOMBUS_TOKEN: adminToken, OPERATOR_SETTING: "kept" };
  api = new ProjectApi({ url: node.server.httpUrl, token: adminToken });

  sharedSecret = await api.createSecret({ name: "SHARED_API_KEY", value: VALUES.shared });
  await api.createSecret({ name: "BILLING_KEY", value: VALUES.billing, scope: "agents", profile_ids: ["billing"] });
  await api.createSecret({ name: "OTHER_PROFILE_KEY", value: VALUES.otherProfile, scope: "agents", profile_ids: ["other"] });
  await api.createKeyCollection({ name: "weather-api", data: { WEATHER_KEY: VALUES.weatherKey, WEATHER_SECRET: VALUES.weatherSecret } });
  await api.createKeyCollection({ name: "hijack", data: { LD_PRELOAD: VALUES.hijack } });
  await api.createPullSecret({ name: "acme-registry", server: "registry.example.com", username: "deployer", password: VALUES.registryPassword });

  const admin = await node.connect("operator", { room: TEST_ROOM, api: ["admin", "secrets"] });
  await admin.secrets.setSecret({ secret_id: "service-api-token", data: Buffer.from(VALUES.roomSecret), for_identity: "support-agent" });
});

afterAll(async () => {
  for (const value of Object.values(VALUES)) {
    for (const stderr of stderrs) expect(stderr).not.toContain(value);
    expect(node.logText()).not.toContain(value);
  }
  await node[Symbol.asyncDispose]();
  await rm(workDir, { recursive: true, force: true });
});

/** Runs the CLI as the operator and keeps its stderr for the final canary check. */
async function roombus(args: string[], options: { input?: string; env?: Record<string, string> } = {}): Promise<CliResult> {
  const result = await runCli(args, { ...operator, ...options.env }, { input: options.input });
  stderrs.push(result.stderr);
  return result;
}

function run(spec: string, ...flags: string[]): Promise<CliResult> {
  return roombus(["run", "--spec", spec, "--room", TEST_ROOM, ...flags, "--", ...PRINT_ENVIRONMENT]);
}

/** The environment the child printed, after checking that the run succeeded quietly. */
function childEnvironment(result: CliResult): Record<string, string> {
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as Record<string, string>;
}

/** A failed start: exit 1, exactly one line on stderr, and nothing from the child (it never ran). */
function refusal(result: CliResult): string {
  expect(result.code).toBe(1);
  expect(result.stdout).toBe("");
  const lines = result.stderr.split("\n").filter((line) => line.length > 0);
  expect(lines).toHaveLength(1);
  return lines[0]!;
}

async function writeSpec(name: string, environment: string, extra = ""): Promise<string> {
  const path = join(workDir, name);
  await writeFile(path, `version: v1\nkind: Service\nmetadata:\n  name: ${name}\ncontainer:\n${extra}  environment:\n${environment}`);
  return path;
}

function claims(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString("utf8")) as Record<string, unknown>;
}

describe("roombus run: the child's environment", () => {
  it("holds the project secrets in scope, the key collection, the literal, a token and the room secret, and nothing else", async () => {
    const environment = childEnvironment(await run(join(FIXTURES, "service.yaml"), "--profile", "billing"));
    expect(Object.keys(environment).sort()).toEqual(
      [
        "PATH",
        "OPERATOR_SETTING",
        "SHARED_API_KEY",
        "BILLING_KEY",
        "WEATHER_KEY",
        "WEATHER_SECRET",
        "MESHAGENT_TOKEN",
        "SERVICE_API_TOKEN",
        "LOG_LEVEL",
      ].sort(),
    );
    expect(environment).toMatchObject({
      PATH: process.env.PATH,
      OPERATOR_SETTING: "kept",
      SHARED_API_KEY: VALUES.shared,
      BILLING_KEY: VALUES.billing,
      WEATHER_KEY: VALUES.weatherKey,
      WEATHER_SECRET: VALUES.weatherSecret,
      SERVICE_API_TOKEN: VALUES.roomSecret,
      LOG_LEVEL: "debug",
    });
    // The pull secret is for whatever pulls images, never for the process.
    const everything = JSON.stringify(environment);
    expect(everything).not.toContain(VALUES.registryPassword);
    expect(everything).not.toContain(Buffer.from(`deployer:${VALUES.registryPassword}`).toString("base64"));
    expect(everything).not.toContain(adminToken);
  });

  it("the minted token is a fresh one for the spec's identity in the room, and it joins the room", async () => {
    const { MESHAGENT_TOKEN: token } = childEnvironment(await run(join(FIXTURES, "service.yaml")));
    expect(claims(token!)).toMatchObject({ sub: "support-agent", room: TEST_ROOM });
    const client = await connect(node.server.roomUrl(TEST_ROOM), token!);
    expect(client.identity).toBe("support-agent");
    await client.close();
  });

  it("without --profile, only the secrets scoped to all are there", async () => {
    const environment = childEnvironment(await run(join(FIXTURES, "service.yaml")));
    expect(environment.SHARED_API_KEY).toBe(VALUES.shared);
    expect(environment).not.toHaveProperty("BILLING_KEY");
    expect(environment).not.toHaveProperty("OTHER_PROFILE_KEY");
  });

  it("a rotated project secret is what the next run sees", async () => {
    const spec = await writeSpec("rotation.yaml", "    - name: UNRELATED\n      value: x\n");
    expect(childEnvironment(await run(spec)).SHARED_API_KEY).toBe(VALUES.shared);
    await api.updateSecret(sharedSecret.id, { value: VALUES.sharedRotated }, { ifVersion: sharedSecret.version });
    try {
      expect(childEnvironment(await run(spec)).SHARED_API_KEY).toBe(VALUES.sharedRotated);
    } finally {
      sharedSecret = await api.updateSecret(sharedSecret.id, { value: VALUES.shared });
    }
  });

  it("a token entry takes the spec's grants and role", async () => {
    const spec = await writeSpec("grants.yaml", "    - name: BOT_TOKEN\n      token: {identity: bot, api: [messaging, secrets], role: agent}\n");
    const token = childEnvironment(await run(spec)).BOT_TOKEN!;
    expect(claims(token)).toMatchObject({ sub: "bot", room: TEST_ROOM, role: "agent", api: { messaging: {}, secrets: {} } });
  });
});

describe("roombus run: a start that cannot go ahead stops before the child, with one line", () => {
  it("a missing room secret", async () => {
    const spec = await writeSpec("missing-secret.yaml", "    - name: LOG_LEVEL\n      value: x\n    - name: SERVICE_API_TOKEN\n      secret: {identity: support-agent, id: not-there}\n");
    expect(refusal(await run(spec))).toBe(
      `roombus run: container.environment[1] (SERVICE_API_TOKEN): no room secret "not-there" for identity "support-agent" in room "${TEST_ROOM}"`,
    );
  });

  it("a room secret of another identity is not found either", async () => {
    const spec = await writeSpec("other-identity.yaml", "    - name: SERVICE_API_TOKEN\n      secret: {identity: someone-else, id: service-api-token}\n");
    expect(refusal(await run(spec))).toMatch(/no room secret "service-api-token" for identity "someone-else"/);
  });

  it("a missing key collection", async () => {
    const spec = await writeSpec("missing-collection.yaml", "    - name: A\n      value: x\n", "  secrets: [weather-api, no-such-keys]\n");
    expect(refusal(await run(spec))).toBe(`roombus run: container.secrets[1] (no-such-keys): no key collection "no-such-keys" in the project`);
  });

  it("a key collection that sets a refused name", async () => {
    const spec = await writeSpec("hijack.yaml", "    - name: A\n      value: x\n", "  secrets: [hijack]\n");
    expect(refusal(await run(spec))).toMatch(/^roombus run: container\.secrets\[0\] \(hijack\) key LD_PRELOAD: refused name: the dynamic loader/);
  });

  it("a spec entry that sets the name of a project secret: both are named", async () => {
    const spec = await writeSpec("duplicate.yaml", "    - name: SHARED_API_KEY\n      value: literal\n");
    expect(refusal(await run(spec))).toBe(
      "roombus run: project secret SHARED_API_KEY and container.environment[0] (SHARED_API_KEY) both set SHARED_API_KEY: remove one of them",
    );
  });

  it("a refused name in the spec, with its path and line", async () => {
    const spec = await writeSpec("refused.yaml", "    - name: NODE_OPTIONS\n      value: --require ./evil.js\n");
    expect(refusal(await run(spec))).toMatch(/^roombus run: .*refused\.yaml:7: container\.environment\[0\]\.name: refused name: Node takes --require/);
  });

  it("a token that is not a project admin's", async () => {
    const roomAdmin = await node.token("operator", { room: TEST_ROOM, api: ["admin", "secrets"] });
    const result = await roombus(["run", "--spec", join(FIXTURES, "service.yaml"), "--room", TEST_ROOM, "--", ...PRINT_ENVIRONMENT], {
      env: { ROOMBUS_TOKEN: roomAdmin },
    });
    expect(refusal(result)).toMatch(/^roombus run: reading the project's secrets failed: .*\(HTTP 403 forbidden\)/);
  });
});

describe("roombus run: the child process", () => {
  it("its exit code is run's; a signal that ends it gives 128+N", async () => {
    const spec = await writeSpec("exit.yaml", "    - name: A\n      value: x\n");
    const exit = await roombus(["run", "--spec", spec, "--room", TEST_ROOM, "--", process.execPath, "-e", "process.exit(7)"]);
    expect(exit.code).toBe(7);
    const killed = await roombus(["run", "--spec", spec, "--room", TEST_ROOM, "--", process.execPath, "-e", "process.kill(process.pid, 'SIGKILL')"]);
    expect(killed.code).toBe(128 + 9);
  });

  it("SIGTERM sent to run reaches the child, and run exits as the child did", async () => {
    const spec = await writeSpec("signal.yaml", "    - name: A\n      value: x\n");
    const script = "process.on('SIGTERM', () => { console.log('child got SIGTERM'); process.exit(3); }); console.log('child ready'); setInterval(() => {}, 1000);";
    const live = startCli(["run", "--spec", spec, "--room", TEST_ROOM, "--", process.execPath, "-e", script], operator);
    await live.stdout.next(/^child ready$/);
    live.child.kill("SIGTERM");
    await live.stdout.next(/^child got SIGTERM$/);
    expect(await live.exited).toBe(3);
  });

  it("a command that does not exist exits 127 with one line", async () => {
    const spec = await writeSpec("no-command.yaml", "    - name: A\n      value: x\n");
    const result = await roombus(["run", "--spec", spec, "--room", TEST_ROOM, "--", "no-such-command-4f2a"]);
    expect(result.code).toBe(127);
    expect(result.stderr).toBe("roombus run: cannot start no-such-command-4f2a: no such command (looked up in PATH)\n");
  });

  it.each([
    [["--room", TEST_ROOM], /no command: put it after --/],
    [["--room", TEST_ROOM, "--"], /no command after --/],
    [["--", "true"], /--room is required/],
    [["--print-pull-config", "--", "true"], /--print-pull-config runs nothing/],
    [["--room", TEST_ROOM, "--out", "x", "--", "true"], /--out goes with --print-pull-config/],
  ])("usage mistake %j exits 2", async (flags, message) => {
    const result = await roombus(["run", "--spec", join(FIXTURES, "service.yaml"), ...flags]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
  });
});

describe("roombus run --print-pull-config", () => {
  const expected = { auths: { "registry.example.com": { auth: Buffer.from(`deployer:${VALUES.registryPassword}`).toString("base64") } } };

  it("prints Docker's config.json for container.pull_secret", async () => {
    const result = await roombus(["run", "--spec", join(FIXTURES, "service.yaml"), "--print-pull-config"]);
    expect(result).toMatchObject({ code: 0, stderr: "" });
    expect(JSON.parse(result.stdout)).toEqual(expected);
  });

  it("--out writes it to a file of mode 0600, also over an existing file", async () => {
    const out = join(workDir, "config.json");
    await writeFile(out, "old", { mode: 0o644 });
    const result = await roombus(["run", "--spec", join(FIXTURES, "service.yaml"), "--print-pull-config", "--out", out]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe("");
    expect(result.stderr).toBe(`wrote the registry auth of pull secret "acme-registry" to ${out} (mode 0600)\n`);
    expect(JSON.parse(await readFile(out, "utf8"))).toEqual(expected);
    expect((await stat(out)).mode & 0o777).toBe(0o600);
  });

  it("a missing pull secret, or a spec without one, is one line", async () => {
    const missing = await writeSpec("missing-pull.yaml", "    - name: A\n      value: x\n", "  pull_secret: nobody-registry\n");
    expect(refusal(await roombus(["run", "--spec", missing, "--print-pull-config"]))).toBe(
      'roombus run: container.pull_secret (nobody-registry): no pull secret "nobody-registry" in the project',
    );
    const none = await writeSpec("no-pull.yaml", "    - name: A\n      value: x\n");
    expect(refusal(await roombus(["run", "--spec", none, "--print-pull-config"]))).toBe("roombus run: the spec has no container.pull_secret");
  });
});

describe("roombus service install, read back by roombus run", () => {
  const template = join(FIXTURES, "template.yaml");
  const runTemplate = async () =>
    childEnvironment(await roombus(["run", "--spec", template, "--room", TEMPLATE_ROOM, "--", ...PRINT_ENVIRONMENT]));

  it("takes NAME=VALUE lines from stdin, stores the annotated variables as room secrets, and names the others", async () => {
    const result = await roombus(["service", "install", "--template", template, "--room", TEMPLATE_ROOM], {
      input: `# answers\nservice_api_token=${VALUES.installedToken}\n\nwebhook_secret=${VALUES.installedHook}\ngreeting=hello\n`,
    });
    expect(result.code).toBe(0);
    expect(result.stdout.split("\n")).toEqual([
      'stored service_api_token as room secret "service-api-token" of support-agent (version 1)',
      'stored webhook_secret as room secret "webhook-secret" of support-agent (version 1)',
      "not stored (no secret annotations): greeting",
      "",
    ]);
    const environment = await runTemplate();
    expect(environment).toMatchObject({ SERVICE_API_TOKEN: VALUES.installedToken, WEBHOOK_SECRET: VALUES.installedHook });

    const admin = await node.connect("operator", { room: TEMPLATE_ROOM, api: ["admin", "secrets"] });
    const stored = await admin.secrets.getSecret({ secret_id: "service-api-token", for_identity: "support-agent" });
    expect(stored).toMatchObject({ name: "service-api-token", type: "text/plain" });
  });

  it("--var gives values too (with a warning for obscure ones); the next run sees them", async () => {
    const result = await roombus([
      "service", "install", "--template", template, "--room", TEMPLATE_ROOM,
      "--var", `service_api_token=${VALUES.flagToken}`, "--var", `webhook_secret=${VALUES.flagHook}`, "--var", "greeting=hi",
    ]);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe("roombus: warning: --var leaves the value of service_api_token, webhook_secret in shell history and ps; prefer NAME=VALUE lines on stdin\n");
    expect(result.stdout).toContain("(version 2)");
    expect(await runTemplate()).toMatchObject({ SERVICE_API_TOKEN: VALUES.flagToken, WEBHOOK_SECRET: VALUES.flagHook });
  });

  it("a missing value stores nothing", async () => {
    const result = await roombus(["service", "install", "--template", template, "--room", TEMPLATE_ROOM], {
      input: `service_api_token=${VALUES.installedToken}\n`,
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      "roombus service install: no value for webhook_secret, greeting: give --var NAME=VALUE or a NAME=VALUE line on stdin; nothing was stored\n",
    );
    expect((await runTemplate()).SERVICE_API_TOKEN).toBe(VALUES.flagToken);
  });

  it("a variable with secret annotations but no identity is an error naming it, before anything is stored", async () => {
    const broken = join(workDir, "no-identity.yaml");
    await writeFile(
      broken,
      (await readFile(template, "utf8")).replace("      roombus.secret.identity: support-agent\n", ""),
    );
    const result = await roombus(["service", "install", "--template", broken, "--room", TEMPLATE_ROOM], {
      input: `service_api_token=${VALUES.installedToken}\nwebhook_secret=${VALUES.installedHook}\ngreeting=x\n`,
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^roombus service install: variables\[1\] \(webhook_secret\): it has secret annotations but no meshagent\.secret\.identity/);
    expect((await runTemplate()).SERVICE_API_TOKEN).toBe(VALUES.flagToken);
  });

  it.each([
    ["a line that is not NAME=VALUE", "just-a-value\n", "roombus service install: stdin line 1: not NAME=VALUE"],
    ["an unknown variable", "nope=1\n", 'roombus service install: stdin line 1: the template has no variable "nope"'],
    ["a variable twice", "greeting=a\ngreeting=b\n", "roombus service install: stdin line 2: greeting was already given on an earlier line"],
  ])("%s on stdin is refused, naming the line and not its text", async (_label, input, expected) => {
    const result = await roombus(["service", "install", "--template", template, "--room", TEMPLATE_ROOM], { input });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`${expected}\n`);
  });

  it("a Service is not a template", async () => {
    const result = await roombus(["service", "install", "--template", join(FIXTURES, "service.yaml"), "--room", TEMPLATE_ROOM]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/kind is Service; install takes a ServiceTemplate/);
  });
});

describe("help", () => {
  it.each([["run"], ["service"], ["service", "install"]])("roombus %s --help exits 0 with usage and an example", async (...command) => {
    const result = await runCli([...command, "--help"]);
    expect(result).toMatchObject({ code: 0, stderr: "" });
    expect(result.stdout).toMatch(/^Usage: roombus /);
    expect(result.stdout).toMatch(/Example/);
  });
});
