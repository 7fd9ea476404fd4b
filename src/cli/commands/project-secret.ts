/**
 * `roombus project secret <command>`: the project's secrets through the project REST API (docs/project-api.md),
 * with a project admin token. Values go in through stdin, a file or a flag and never come out: not in a listing,
 * not in a message.
 */
import type { ProjectSecret } from "../../client/project-api.js";
import {
  type Command,
  type Io,
  parseFlags,
  parseFlagsAndArguments,
  parseIntegerFlag,
  printable,
  runSubcommand,
  usageError,
} from "../args.js";
import { jsonLine } from "../output.js";
import { projectSecretDockerCommand } from "./project-secret-docker.js";
import { projectSecretKeyCommand } from "./project-secret-key.js";
import {
  ADMIN_TOKEN_HINT,
  formatTable,
  PROJECT_FLAGS_HELP,
  PROJECT_OPTIONS,
  projectApi,
  readTextValue,
  withProjectApi,
} from "./project-session.js";

const SCOPES = ["all", "agents"] as const;
type Scope = (typeof SCOPES)[number];

const VALUE_FLAGS_HELP = `  --value-stdin        read the value from stdin (one trailing newline is dropped)     recommended
  -i, --in FILE        read the value from FILE, exactly as it is
  --text VALUE         the value itself (lands in shell history and ps: prefer --value-stdin)`;

const SCOPE_FLAGS_HELP = `  --scope SCOPE        all: every profile gets it; agents: only the --profile ones
  --profile ID         a profile that gets it with --scope agents; repeat for more`;

// ---------------------------------------------------------------------------------------------------------- list

const LIST_USAGE = `Usage: roombus project secret list [flags]

Lists the project secrets, one per line under a header: id, name, scope, profiles, version, last update.
Values are never shown.

Flags:
${PROJECT_FLAGS_HELP}
  --json               print one JSON array of the records instead (times in ms since the epoch)
  -h, --help           show this help

Example:
  roombus project secret list`;

const LIST_OPTIONS = { ...PROJECT_OPTIONS, json: { type: "boolean" } } as const;

async function runList(argv: string[], io: Io): Promise<number> {
  const command = "project secret list";
  const values = parseFlags(command, LIST_USAGE, LIST_OPTIONS, argv);
  const api = projectApi(command, values, io.env);
  const secrets = await withProjectApi("listing the project secrets", () => api.listSecrets());
  if (values.json === true) io.out(jsonLine(secrets));
  else if (secrets.length === 0) io.err("no project secrets yet: add one with `roombus project secret create --name NAME --value-stdin`");
  else for (const line of formatTable(["ID", "NAME", "SCOPE", "PROFILES", "VERSION", "UPDATED"], secrets.map(secretRow))) io.out(line);
  return 0;
}

function secretRow(secret: ProjectSecret): string[] {
  return [
    secret.id,
    printable(secret.name),
    secret.scope,
    secret.profile_ids.length === 0 ? "-" : printable(secret.profile_ids.join(",")),
    String(secret.version),
    new Date(secret.updated_at).toISOString(),
  ];
}

// -------------------------------------------------------------------------------------------------------- create

const CREATE_USAGE = `Usage: roombus project secret create --name NAME (--value-stdin | --in FILE | --text VALUE) [flags]

Stores a project secret: a NAME=value pair that services started with \`roombus run\` get as an environment
variable, if the secret's scope covers their profile. Prints its id and version, e.g. "sec_Xa3… 1".

Flags:
${PROJECT_FLAGS_HELP}
  --name NAME          the variable's name: A-Z, 0-9 and _, not starting with a digit  required
${VALUE_FLAGS_HELP}
${SCOPE_FLAGS_HELP}
                       (default: --scope all)
  -h, --help           show this help

Example:
  printf %s "$STRIPE_KEY" | roombus project secret create --name STRIPE_KEY --value-stdin --scope agents --profile billing`;

const VALUE_OPTIONS = {
  "value-stdin": { type: "boolean" },
  in: { type: "string", short: "i" },
  text: { type: "string" },
} as const;

const SCOPE_OPTIONS = {
  scope: { type: "string" },
  profile: { type: "string", multiple: true },
} as const;

const CREATE_OPTIONS = { ...PROJECT_OPTIONS, ...VALUE_OPTIONS, ...SCOPE_OPTIONS, name: { type: "string" } } as const;

async function runCreate(argv: string[], io: Io): Promise<number> {
  const command = "project secret create";
  const values = parseFlags(command, CREATE_USAGE, CREATE_OPTIONS, argv);
  if (values.name === undefined || values.name.length === 0) throw usageError(command, "--name is required");
  const scope = parseScope(command, values.scope);
  const api = projectApi(command, values, io.env);
  const value = await readValueFlags(command, values, io);
  if (value === undefined) throw usageError(command, "no value given: give one of --value-stdin, --in FILE and --text VALUE");
  const created = await withProjectApi("creating the project secret", () =>
    api.createSecret({
      name: values.name!,
      value,
      ...(scope === undefined ? {} : { scope }),
      ...(values.profile === undefined ? {} : { profile_ids: values.profile }),
    }),
  );
  io.out(`${created.id} ${created.version}`);
  return 0;
}

// -------------------------------------------------------------------------------------------------------- update

const UPDATE_USAGE = `Usage: roombus project secret update ID [--value-stdin | --in FILE | --text VALUE] [flags]

Changes a project secret's value, scope or profiles, and prints its id and new version. The next process started
with the secret gets the new value; running ones keep theirs until they restart.

Flags:
${PROJECT_FLAGS_HELP}
${VALUE_FLAGS_HELP}
${SCOPE_FLAGS_HELP}
                       (--profile replaces the list; --scope all empties it)
  --if-version N       change it only if it is at version N (as \`list\` shows)
  -h, --help           show this help

Example:
  printf %s "$NEW_KEY" | roombus project secret update sec_Xa3… --value-stdin --if-version 1`;

const UPDATE_OPTIONS = { ...PROJECT_OPTIONS, ...VALUE_OPTIONS, ...SCOPE_OPTIONS, "if-version": { type: "string" } } as const;

async function runUpdate(argv: string[], io: Io): Promise<number> {
  const command = "project secret update";
  const { values, positionals } = parseFlagsAndArguments(command, UPDATE_USAGE, UPDATE_OPTIONS, argv, 1);
  const id = requireId(command, positionals, "update");
  const scope = parseScope(command, values.scope);
  const ifVersion = parseIfVersion(command, values["if-version"]);
  const api = projectApi(command, values, io.env);
  const value = await readValueFlags(command, values, io);
  if (value === undefined && scope === undefined && values.profile === undefined) {
    throw usageError(command, "nothing to change: give a new value (--value-stdin, --in FILE or --text), --scope or --profile");
  }
  const updated = await withProjectApi("updating the project secret", () =>
    api.updateSecret(
      id,
      {
        ...(value === undefined ? {} : { value }),
        ...(scope === undefined ? {} : { scope }),
        ...(values.profile === undefined ? {} : { profile_ids: values.profile }),
      },
      ifVersion === undefined ? {} : { ifVersion },
    ),
  );
  io.out(`${updated.id} ${updated.version}`);
  return 0;
}

// -------------------------------------------------------------------------------------------------------- delete

const DELETE_USAGE = `Usage: roombus project secret delete ID [flags]

Deletes a project secret. Processes already running keep the value they were started with.

Flags:
${PROJECT_FLAGS_HELP}
  --if-version N       delete it only if it is at version N
  -h, --help           show this help

Example:
  roombus project secret delete sec_Xa3…`;

const DELETE_OPTIONS = { ...PROJECT_OPTIONS, "if-version": { type: "string" } } as const;

async function runDelete(argv: string[], io: Io): Promise<number> {
  const command = "project secret delete";
  const { values, positionals } = parseFlagsAndArguments(command, DELETE_USAGE, DELETE_OPTIONS, argv, 1);
  const id = requireId(command, positionals, "delete");
  const ifVersion = parseIfVersion(command, values["if-version"]);
  const api = projectApi(command, values, io.env);
  await withProjectApi("deleting the project secret", () => api.deleteSecret(id, ifVersion === undefined ? {} : { ifVersion }));
  io.out("deleted");
  return 0;
}

// ------------------------------------------------------------------------------------------------------- shared

interface ValueFlags {
  "value-stdin"?: boolean | undefined;
  in?: string | undefined;
  text?: string | undefined;
}

/** The value from at most one of --value-stdin, --in and --text; undefined when none is given. */
async function readValueFlags(command: string, flags: ValueFlags, io: Io): Promise<string | undefined> {
  const given = [flags["value-stdin"] === true ? "--value-stdin" : undefined, flags.in === undefined ? undefined : "--in", flags.text === undefined ? undefined : "--text"].filter(
    (flag): flag is string => flag !== undefined,
  );
  if (given.length > 1) throw usageError(command, `${given.join(" and ")} given: give the value one way`);
  if (flags.text !== undefined) {
    io.err("roombus: warning: --text leaves the value in shell history and ps; prefer --value-stdin");
    return flags.text;
  }
  if (flags["value-stdin"] === true) return readTextValue(command, "stdin", io);
  if (flags.in !== undefined) return readTextValue(command, flags.in === "-" ? "stdin" : { file: flags.in }, io);
  return undefined;
}

function parseScope(command: string, value: string | undefined): Scope | undefined {
  if (value === undefined) return undefined;
  const scope = SCOPES.find((candidate) => candidate === value);
  if (scope === undefined) throw usageError(command, "--scope must be all or agents");
  return scope;
}

function parseIfVersion(command: string, value: string | undefined): number | undefined {
  return value === undefined ? undefined : parseIntegerFlag(command, "if-version", value, 1, 2 ** 31 - 1);
}

function requireId(command: string, positionals: string[], verb: string): string {
  const [id] = positionals;
  if (id === undefined || id.length === 0) {
    throw usageError(command, `the secret's id is required, e.g. \`roombus project secret ${verb} sec_…\` (see \`roombus project secret list\`)`);
  }
  return id;
}

// ------------------------------------------------------------------------------------------------------ dispatch

const SUBCOMMANDS: readonly Command[] = [
  { name: "project secret list", summary: "list the project secrets (never their values)", run: runList },
  { name: "project secret create", summary: "store a project secret", run: runCreate },
  { name: "project secret update", summary: "change a secret's value, scope or profiles", run: runUpdate },
  { name: "project secret delete", summary: "delete a project secret", run: runDelete },
  projectSecretKeyCommand,
  projectSecretDockerCommand,
];

const USAGE = `Usage: roombus project secret <command> [flags]

The project's secrets, for the services it runs: NAME=value secrets for every profile or listed ones, key
collections (KEY=value sets a service lists), and image-pull credentials (docker). They are encrypted at rest on
the server and never appear in listings, logs or error messages. The token in ROOMBUS_TOKEN must be a project
admin's: \`${ADMIN_TOKEN_HINT}\`.

Commands:
${SUBCOMMANDS.map((command) => `  ${command.name.slice("project secret ".length).padEnd(20)}${command.summary}`).join("\n")}

Run \`roombus project secret <command> --help\` for its flags.

Example:
  export ROOMBUS_TOKEN=$(${ADMIN_TOKEN_HINT})
  printf %s "$DATABASE_URL" | roombus project secret create --name DATABASE_URL --value-stdin`;

export const projectSecretCommand: Command = {
  name: "project secret",
  summary: "the project's secrets, key collections and image-pull secrets",
  run: runSecret,
};

async function runSecret(argv: string[], io: Io): Promise<number> {
  return runSubcommand("project secret", USAGE, SUBCOMMANDS, argv, io);
}
