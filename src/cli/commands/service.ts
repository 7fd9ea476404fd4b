/**
 * `roombus service install`: installs a ServiceTemplate into a room (seed 001). Each template variable is asked for
 * (hidden where `obscure: true`), taken from `--var`, or read as `name=value` lines from stdin; the variables with
 * secret annotations are stored as room secrets of the annotated identity, which the service then reads at
 * `roombus run` through `secret: {identity, id}`. Nothing is stored unless every value is there.
 */
import { createInterface } from "node:readline";
import type { RoomClient } from "../../client/index.js";
import { isRoombusError } from "../../protocol/errors.js";
import { readSpecFile } from "../../service/spec-file.js";
import { SpecError, type TemplateVariable } from "../../service/spec.js";
import { planInstall, TemplateError, type InstallPlan } from "../../service/template.js";
import { openAnswerReader } from "../answer-reader.js";
import {
  checkRoomName,
  CliError,
  type Command,
  type Io,
  oneLine,
  parseFlags,
  printable,
  requireFlag,
  runSubcommand,
  usageError,
} from "../args.js";
import { DEFAULT_URL, explainSecretsError, joinRoom, resolveToken } from "./room-session.js";

const INSTALL = "service install";
/** More than any template's answers; stops a stray pipe from filling memory. */
const MAX_STDIN_BYTES = 1024 * 1024;

const INSTALL_USAGE = `Usage: roombus service install --template FILE --room ROOM [--var NAME=VALUE ...] [flags]

Asks for each variable of a ServiceTemplate and stores the ones with secret annotations as room secrets of the
annotated identity, so the service reads them with \`secret: {identity, id}\` when it starts (\`roombus run\`).
Annotations (meshagent.secret.* as in the template format, or roombus.secret.*):
  meshagent.secret.identity   whose secret it is                                      required
  meshagent.secret.id         the room secret's id                                    required
  meshagent.secret.name       its display name
  meshagent.secret.type       its MIME type                                           default text/plain
Values come from --var, else from the terminal (hidden where the variable says obscure: true), or, when stdin is
not a terminal, from its lines, one NAME=VALUE each. Variables without annotations are asked for but not stored;
their names are listed at the end. Nothing is stored unless every value is there.

ROOMBUS_TOKEN must carry the secrets and admin grants for the room:
\`roombus token --identity ID --room ROOM --api secrets,admin\`.

Flags:
  --template FILE      the ServiceTemplate YAML                                       required
  --room ROOM          the room to install into                                       required
  --var NAME=VALUE     a variable's value (repeatable; lands in shell history and ps: prefer stdin for secrets)
  --url URL            the server, ws://HOST:PORT (ROOMBUS_URL, default ${DEFAULT_URL})
  -h, --help           show this help

Example:
  printf 'service_api_token=%s\\n' "$TOKEN" | roombus service install --template template.yaml --room myroom`;

const INSTALL_OPTIONS = {
  template: { type: "string" },
  room: { type: "string" },
  var: { type: "string", multiple: true },
  url: { type: "string" },
} as const;

async function runInstall(argv: string[], io: Io): Promise<number> {
  const values = parseFlags(INSTALL, INSTALL_USAGE, INSTALL_OPTIONS, argv);
  const templatePath = requireFlag(INSTALL, "template", values.template);
  const room = checkRoomName(INSTALL, requireFlag(INSTALL, "room", values.room));
  try {
    const spec = await readSpecFile(templatePath);
    if (spec.kind !== "ServiceTemplate") throw new SpecError(`${templatePath}: kind is ${spec.kind}; install takes a ServiceTemplate`);
    const plans = planInstall(spec.variables);
    // Before anything is asked: a missing token found after the typing would waste it.
    if (plans.some((plan) => plan.secret !== undefined) && resolveToken({}, io.env) === undefined) {
      throw usageError(INSTALL, `no token: export ROOMBUS_TOKEN=$(roombus token --identity ID --room ${room} --api secrets,admin)`);
    }
    const given = readVarFlags(values.var ?? [], spec.variables, io);
    const answers = await collectAnswers(spec.variables, given, io);
    if (answers === undefined) {
      io.err("roombus service install: interrupted; nothing was stored");
      return 130;
    }
    const secrets = plans.filter((plan) => plan.secret !== undefined && answers.has(plan.variable.name));
    if (secrets.length > 0) {
      const client = await joinRoom(INSTALL, { room, url: values.url }, io.env);
      try {
        await storeSecrets(client, secrets, answers, io);
      } finally {
        await client.close();
      }
    }
    const unstored = plans.filter((plan) => plan.secret === undefined).map((plan) => plan.variable.name);
    if (unstored.length > 0) io.out(`not stored (no secret annotations): ${unstored.join(", ")}`);
    return 0;
  } catch (error) {
    if (error instanceof SpecError || error instanceof TemplateError || error instanceof CliError) {
      io.err(`roombus service install: ${oneLine(error.message)}`);
      return 1;
    }
    throw error;
  }
}

/** The `--var` values by variable name; a name the template does not have, or one given twice, is a usage mistake. */
function readVarFlags(flags: readonly string[], variables: readonly TemplateVariable[], io: Io): Map<string, string> {
  const given = new Map<string, string>();
  for (const flag of flags) {
    const equals = flag.indexOf("=");
    if (equals <= 0) throw usageError(INSTALL, "--var takes NAME=VALUE");
    const name = flag.slice(0, equals);
    const variable = variables.find((candidate) => candidate.name === name);
    if (variable === undefined) throw usageError(INSTALL, `the template has no variable "${printable(name)}"`);
    if (given.has(name)) throw usageError(INSTALL, `--var ${printable(name)} given twice`);
    given.set(name, flag.slice(equals + 1));
  }
  const exposed = variables.filter((variable) => variable.obscure && given.has(variable.name)).map((variable) => variable.name);
  if (exposed.length > 0) {
    io.err(`roombus: warning: --var leaves the value of ${exposed.join(", ")} in shell history and ps; prefer NAME=VALUE lines on stdin`);
  }
  return given;
}

/**
 * Every variable's value: from `given`, then from the terminal or stdin lines. Resolves with undefined when the
 * person interrupted a prompt. An optional variable left empty is left out; a required one is an error.
 */
async function collectAnswers(variables: readonly TemplateVariable[], given: Map<string, string>, io: Io): Promise<Map<string, string> | undefined> {
  const answers = new Map(given);
  const remaining = variables.filter((variable) => !answers.has(variable.name));
  if (remaining.length > 0) {
    if (io.stdin.isTTY === true) {
      for (const variable of remaining) {
        const answer = await askAtTerminal(variable, io);
        if (answer.kind === "interrupt") return undefined;
        if (answer.kind === "value") answers.set(variable.name, answer.text);
      }
    } else {
      for (const [name, value] of await readStdinAssignments(variables, answers, io)) answers.set(name, value);
    }
  }
  for (const [name, value] of answers) if (value.length === 0) answers.delete(name);
  const missing = variables.filter((variable) => !variable.optional && !answers.has(variable.name)).map((variable) => variable.name);
  if (missing.length > 0) {
    throw new CliError(`no value for ${missing.join(", ")}: give --var NAME=VALUE or a NAME=VALUE line on stdin; nothing was stored`);
  }
  return answers;
}

type TerminalAnswer = { kind: "value"; text: string } | { kind: "interrupt" } | { kind: "end" };

/** One answer typed at the terminal: hidden for an obscure variable, echoed otherwise. */
async function askAtTerminal(variable: TemplateVariable, io: Io): Promise<TerminalAnswer> {
  const about = variable.description === undefined ? "" : `${oneLine(variable.description)} `;
  const prompt = `${about}(${variable.name}${variable.optional ? ", optional" : ""}${variable.obscure ? ", hidden" : ""}):`;
  if (variable.obscure) {
    const reader = openAnswerReader(io);
    try {
      const outcome = await reader.read(prompt, new AbortController().signal);
      if (outcome.kind === "interrupt") return { kind: "interrupt" };
      return outcome.kind === "value" ? { kind: "value", text: outcome.data.toString("utf8") } : { kind: "end" };
    } finally {
      reader.close();
    }
  }
  // Without raw mode the terminal echoes what is typed and hands over whole lines.
  io.prompt(`${prompt} `);
  const lines = createInterface({ input: io.stdin, crlfDelay: Infinity, terminal: false });
  try {
    for await (const line of lines) return { kind: "value", text: line };
    return { kind: "end" };
  } finally {
    lines.close();
    io.stdin.pause();
  }
}

/** `NAME=VALUE` lines of stdin (blank lines and `#` comments skipped); errors name the line number, never its text. */
async function readStdinAssignments(variables: readonly TemplateVariable[], given: ReadonlyMap<string, string>, io: Io): Promise<Map<string, string>> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of io.stdin) {
    const bytes = typeof chunk === "string" ? Buffer.from(chunk, "utf8") : (chunk as Buffer);
    total += bytes.byteLength;
    if (total > MAX_STDIN_BYTES) throw new CliError(`stdin holds more than ${MAX_STDIN_BYTES} bytes; give one NAME=VALUE line per variable`);
    chunks.push(bytes);
  }
  const assignments = new Map<string, string>();
  Buffer.concat(chunks)
    .toString("utf8")
    .split("\n")
    .forEach((raw, index) => {
      const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
      if (line.trim().length === 0 || line.startsWith("#")) return;
      const where = `stdin line ${index + 1}`;
      const equals = line.indexOf("=");
      if (equals <= 0) throw new CliError(`${where}: not NAME=VALUE`);
      const name = line.slice(0, equals);
      if (!variables.some((variable) => variable.name === name)) throw new CliError(`${where}: the template has no variable "${printable(name)}"`);
      if (given.has(name)) throw new CliError(`${where}: ${name} was already given with --var`);
      if (assignments.has(name)) throw new CliError(`${where}: ${name} was already given on an earlier line`);
      assignments.set(name, line.slice(equals + 1));
    });
  return assignments;
}

async function storeSecrets(client: RoomClient, plans: readonly InstallPlan[], answers: ReadonlyMap<string, string>, io: Io): Promise<void> {
  for (const { variable, secret } of plans) {
    if (secret === undefined) continue;
    try {
      const stored = await client.secrets.setSecret({
        secret_id: secret.id,
        name: secret.name,
        type: secret.type,
        data: Buffer.from(answers.get(variable.name)!, "utf8"),
        for_identity: secret.identity,
      });
      io.out(`stored ${variable.name} as room secret "${printable(stored.id)}" of ${secret.identity} (version ${stored.version})`);
    } catch (error) {
      if (isRoombusError(error)) throw new CliError(explainSecretsError(`storing ${variable.name} as room secret "${secret.id}"`, error), { cause: error });
      throw error;
    }
  }
}

// ------------------------------------------------------------------------------------------------------ dispatch

const SUBCOMMANDS: readonly Command[] = [{ name: INSTALL, summary: "install a ServiceTemplate: store its secret variables", run: runInstall }];

const USAGE = `Usage: roombus service <command> [flags]

Services described by Service and ServiceTemplate YAML (start one with \`roombus run\`).

Commands:
${SUBCOMMANDS.map((command) => `  ${command.name.slice("service ".length).padEnd(20)}${command.summary}`).join("\n")}

Run \`roombus service <command> --help\` for its flags.

Example:
  roombus service install --template template.yaml --room myroom`;

export const serviceCommand: Command = {
  name: "service",
  summary: "install a ServiceTemplate into a room",
  run: runService,
};

async function runService(argv: string[], io: Io): Promise<number> {
  return runSubcommand("service", USAGE, SUBCOMMANDS, argv, io);
}
