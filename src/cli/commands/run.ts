/**
 * `roombus run`: starts a command with the environment a service spec describes (seed 001), or prints the registry
 * auth of the spec's pull secret for whatever pulls its image. Values reach the child through its environment only:
 * never its command line, never a log line or an error.
 */
import { spawn } from "node:child_process";
import { constants } from "node:os";
import { ProjectApi, ProjectApiError, type DockerConfig } from "../../client/project-api.js";
import { describeApiError, resolveServiceEnvironment, ResolveError } from "../../service/resolve.js";
import { readSpecFile } from "../../service/spec-file.js";
import { SpecError, type ServiceSpec } from "../../service/spec.js";
import { CliError, checkRoomName, oneLine, onStopSignal, parseFlags, printable, requireFlag, usageError, type Command, type Io } from "../args.js";
import { writeValue } from "../secret-values.js";
import { DEFAULT_URL, joinRoom } from "./room-session.js";

const COMMAND = "run";

const USAGE = `Usage: roombus run --spec FILE --room ROOM [flags] -- COMMAND [ARGS...]
       roombus run --spec FILE --print-pull-config [--out FILE]

Starts COMMAND (no shell) with the environment the spec's container.environment, container.secrets and the
project secrets describe, and exits with its exit code (128+N when a signal N ended it). The child gets:
  - this environment minus every ROOMBUS_* variable (so your admin token stays here),
  - the project secrets in scope for --profile (without it, those scoped to all),
  - every key of the key collections in container.secrets,
  - each container.environment entry: a literal value, a freshly minted token for the room (token:), or the room
    secret of the named identity (secret:).
A missing secret, a name that could take over a process (LD_*, NODE_OPTIONS, PATH, ...) or two sources setting
one name stop the start with one line, before COMMAND runs. SIGTERM is passed on to COMMAND, and so is SIGINT
when no terminal is attached (at a terminal, Ctrl-C reaches COMMAND directly).

ROOMBUS_TOKEN must be a project admin's token: \`roombus token --identity ID --room '*' --api admin,secrets\`.

Flags:
  --spec FILE          the Service or ServiceTemplate YAML                              required
  --room ROOM          the room the service joins (tokens and room secrets)             required to run
  --profile ID         the profile whose project secrets apply (scope "agents")
  --url URL            the server, ws://HOST:PORT (ROOMBUS_URL, default ${DEFAULT_URL})
  --print-pull-config  write Docker's config.json for container.pull_secret instead of running anything
  -o, --out FILE       with --print-pull-config: write it to FILE (mode 0600) instead of stdout
  -h, --help           show this help

Example:
  roombus run --spec service.yaml --room myroom --profile billing -- node server.js
  roombus run --spec service.yaml --print-pull-config --out ~/.docker/config.json`;

const OPTIONS = {
  spec: { type: "string" },
  room: { type: "string" },
  profile: { type: "string" },
  url: { type: "string" },
  "print-pull-config": { type: "boolean" },
  out: { type: "string", short: "o" },
} as const;

export const runCommand: Command = {
  name: COMMAND,
  summary: "start a command with a service spec's secrets in its environment",
  run: runRun,
};

async function runRun(argv: string[], io: Io): Promise<number> {
  // Everything after `--` is the command, untouched: its own flags must not be read as ours.
  const separator = argv.indexOf("--");
  const flagArgs = separator === -1 ? argv : argv.slice(0, separator);
  const commandLine = separator === -1 ? [] : argv.slice(separator + 1);
  const values = parseFlags(COMMAND, USAGE, OPTIONS, flagArgs);
  const specPath = requireFlag(COMMAND, "spec", values.spec);
  const printPullConfig = values["print-pull-config"] === true;
  if (printPullConfig && commandLine.length > 0) throw usageError(COMMAND, "--print-pull-config runs nothing: leave out the command");
  if (!printPullConfig && values.out !== undefined) throw usageError(COMMAND, "--out goes with --print-pull-config");
  const [program, ...programArgs] = commandLine;
  if (!printPullConfig && program === undefined) {
    throw usageError(COMMAND, separator === -1 ? "no command: put it after --, e.g. `-- node server.js`" : "no command after --");
  }
  const room = printPullConfig ? undefined : checkRoomName(COMMAND, requireFlag(COMMAND, "room", values.room));
  if (values.profile !== undefined && (values.profile.length === 0 || values.profile.length > 256)) {
    throw usageError(COMMAND, "--profile must be 1 to 256 characters");
  }
  const url = values.url ?? nonEmpty(io.env.ROOMBUS_URL) ?? DEFAULT_URL;
  const token = nonEmpty(io.env.ROOMBUS_TOKEN);
  if (token === undefined) {
    throw usageError(COMMAND, "no token: export ROOMBUS_TOKEN=$(roombus token --identity ID --room '*' --api admin,secrets)");
  }

  let environment: Record<string, string>;
  try {
    const spec = await readSpecFile(specPath);
    const project = new ProjectApi({ url, token });
    if (printPullConfig) return await printDockerConfig(spec, project, values.out, io);
    environment = await resolveServiceEnvironment(spec, {
      room: room!,
      profile: values.profile,
      parentEnvironment: io.env,
      project,
      openRoom: () => joinRoom(COMMAND, { room, url }, io.env),
    });
  } catch (error) {
    if (error instanceof SpecError || error instanceof ResolveError || error instanceof CliError) {
      io.err(`roombus run: ${oneLine(error.message)}`);
      return 1;
    }
    if (error instanceof ProjectApiError) {
      io.err(`roombus run: ${oneLine(describeApiError(error))}`);
      return 1;
    }
    throw error;
  }
  return startChild(program!, programArgs, environment, io);
}

async function printDockerConfig(spec: ServiceSpec, project: ProjectApi, out: string | undefined, io: Io): Promise<number> {
  const name = spec.pullSecret;
  if (name === undefined) throw new SpecError("the spec has no container.pull_secret");
  let config: DockerConfig;
  try {
    config = await project.dockerConfig(name);
  } catch (error) {
    if (error instanceof ProjectApiError && error.status === 404) {
      throw new ResolveError(`container.pull_secret (${name}): no pull secret "${name}" in the project`, { cause: error });
    }
    throw new ResolveError(`reading pull secret "${name}" failed: ${describeApiError(error)}`, { cause: error });
  }
  // Docker writes its config.json indented with tabs; the same shape lets the file be diffed against one it wrote.
  await writeValue(Buffer.from(`${JSON.stringify(config, null, "\t")}\n`, "utf8"), out, io);
  if (out !== undefined && out !== "-") io.err(`wrote the registry auth of pull secret "${name}" to ${out} (mode 0600)`);
  return 0;
}

/**
 * Runs the command with stdio inherited, passing SIGINT and SIGTERM on, and resolves with its exit code. On a
 * terminal, Ctrl-C already reaches the child (the terminal signals the whole foreground process group), and a second
 * SIGINT from here would read as "press Ctrl-C again to force quit" to many programs; so SIGINT is passed on only
 * when no terminal is attached. SIGTERM always is.
 */
function startChild(program: string, args: string[], environment: Record<string, string>, io: Io): Promise<number> {
  const terminalAttached = io.stdin.isTTY === true || io.stdoutIsTTY;
  return new Promise((resolve) => {
    let settled = false;
    const finish = (code: number) => {
      if (settled) return;
      settled = true;
      stopForwarding();
      resolve(code);
    };
    const child = spawn(program, args, { env: environment, stdio: "inherit", shell: false });
    const stopForwarding = onStopSignal((signal) => {
      if (signal === "SIGINT" && terminalAttached) return;
      child.kill(signal);
    });
    child.once("error", (error: NodeJS.ErrnoException) => {
      // As env(1) does: 127 when the command is not there, 126 when it is there but cannot be run.
      const notFound = error.code === "ENOENT";
      io.err(`roombus run: cannot start ${printable(program)}: ${notFound ? "no such command (looked up in PATH)" : (error.code ?? error.message)}`);
      finish(notFound ? 127 : 126);
    });
    child.once("exit", (code, signal) => {
      finish(code ?? 128 + (signal === null ? 0 : (constants.signals[signal] ?? 0)));
    });
  });
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.length === 0 ? undefined : value;
}
