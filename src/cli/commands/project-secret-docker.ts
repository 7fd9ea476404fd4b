/**
 * `roombus project secret docker <command>`: image-pull secrets, registry credentials that only whatever pulls a
 * service's image gets (`roombus run --print-pull-config`), never a process environment (seeds 000, 002).
 */
import {
  type Command,
  type Io,
  parseFlags,
  printable,
  runSubcommand,
  usageError,
} from "../args.js";
import { jsonLine } from "../output.js";
import {
  deleteByNameCommand,
  formatTable,
  PROJECT_FLAGS_HELP,
  PROJECT_OPTIONS,
  projectApi,
  readTextValue,
  withProjectApi,
} from "./project-session.js";

// -------------------------------------------------------------------------------------------------------- create

const CREATE_USAGE = `Usage: roombus project secret docker create --name NAME --server SERVER --username USER --password-stdin [flags]

Stores an image-pull secret: the credential for a private container registry. A service spec names it in
container.pull_secret; only what pulls the image gets it. Prints its id.

Flags:
${PROJECT_FLAGS_HELP}
  --name NAME          the pull secret's name: a-z, 0-9, '.', '_' or '-' (at most 63)  required
  --server SERVER      the registry, e.g. registry.example.com or ghcr.io              required
  --username USER      the registry user                                               required
  --password-stdin     read the password (or access token) from stdin; one trailing    required
                       newline is dropped
  -h, --help           show this help

Example:
  printf %s "$REGISTRY_TOKEN" | roombus project secret docker create --name acme --server registry.example.com \\
    --username deploy --password-stdin`;

const CREATE_OPTIONS = {
  ...PROJECT_OPTIONS,
  name: { type: "string" },
  server: { type: "string" },
  username: { type: "string" },
  "password-stdin": { type: "boolean" },
} as const;

async function runCreate(argv: string[], io: Io): Promise<number> {
  const command = "project secret docker create";
  const values = parseFlags(command, CREATE_USAGE, CREATE_OPTIONS, argv);
  for (const flag of ["name", "server", "username"] as const) {
    if (values[flag] === undefined || values[flag].length === 0) throw usageError(command, `--${flag} is required`);
  }
  if (values["password-stdin"] !== true) {
    throw usageError(command, "--password-stdin is required: the password is read from stdin, never taken as a flag");
  }
  const api = projectApi(command, values, io.env);
  const password = await readTextValue(command, "stdin", io);
  if (password.length === 0) throw usageError(command, "the password read from stdin is empty");
  const created = await withProjectApi("creating the pull secret", () =>
    api.createPullSecret({ name: values.name!, server: values.server!, username: values.username!, password }),
  );
  io.out(created.id);
  return 0;
}

// ---------------------------------------------------------------------------------------------------------- list

const LIST_USAGE = `Usage: roombus project secret docker list [flags]

Lists the image-pull secrets, one per line under a header: name, id, server, username, last update. Passwords
are never shown.

Flags:
${PROJECT_FLAGS_HELP}
  --json               print one JSON array instead
  -h, --help           show this help

Example:
  roombus project secret docker list`;

async function runList(argv: string[], io: Io): Promise<number> {
  const command = "project secret docker list";
  const values = parseFlags(command, LIST_USAGE, { ...PROJECT_OPTIONS, json: { type: "boolean" } } as const, argv);
  const api = projectApi(command, values, io.env);
  const secrets = await withProjectApi("listing the pull secrets", () => api.listPullSecrets());
  if (values.json === true) io.out(jsonLine(secrets));
  else if (secrets.length === 0) io.err("no pull secrets yet: add one with `roombus project secret docker create`");
  else {
    const rows = secrets.map((s) => [s.name, s.id, printable(s.server), printable(s.username), new Date(s.updated_at).toISOString()]);
    for (const line of formatTable(["NAME", "ID", "SERVER", "USERNAME", "UPDATED"], rows)) io.out(line);
  }
  return 0;
}

// -------------------------------------------------------------------------------------------------------- delete

const runDelete = deleteByNameCommand({
  group: "docker",
  what: "pull secret",
  description: "Deletes an image-pull secret.",
  example: "acme",
  remove: (api, name) => api.deletePullSecret(name),
});

// ------------------------------------------------------------------------------------------------------ dispatch

const SUBCOMMANDS: readonly Command[] = [
  { name: "project secret docker create", summary: "store a registry credential", run: runCreate },
  { name: "project secret docker list", summary: "list the pull secrets (never their passwords)", run: runList },
  { name: "project secret docker delete", summary: "delete a pull secret", run: runDelete },
];

const USAGE = `Usage: roombus project secret docker <command> [flags]

Image-pull secrets: credentials for private container registries. Only what pulls a service's image gets one
(\`roombus run --print-pull-config\`); it is never put into a process environment.

Commands:
${SUBCOMMANDS.map((command) => `  ${command.name.slice("project secret docker ".length).padEnd(20)}${command.summary}`).join("\n")}

Run \`roombus project secret docker <command> --help\` for its flags.`;

export const projectSecretDockerCommand: Command = {
  name: "project secret docker",
  summary: "image-pull secrets: registry credentials for pulling images",
  run: async (argv, io) => {
    return runSubcommand("project secret docker", USAGE, SUBCOMMANDS, argv, io);
  },
};
