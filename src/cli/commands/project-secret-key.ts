/**
 * `roombus project secret key <command>`: key collections, named sets of KEY=value pairs that a service lists in
 * `container.secrets` and gets as environment variables (seed 002). Values go in; only key names come out.
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

/** A data file holds a whole collection: the server's limit on one (256 KiB of keys and values) plus its syntax. */
const MAX_DATA_FILE_BYTES = 320 * 1024;

// -------------------------------------------------------------------------------------------------------- create

const CREATE_USAGE = `Usage: roombus project secret key create --name NAME (--data-file FILE | --data KEY=VALUE …) [flags]

Stores a key collection: KEY=value pairs that a service listing NAME in container.secrets gets as environment
variables. Prints its id and key names.

Flags:
${PROJECT_FLAGS_HELP}
  --name NAME          the collection's name: a-z, 0-9, '.', '_' or '-' (at most 63)   required
  --data-file FILE     read KEY=value lines from FILE (- for stdin)                    recommended
                       (blank lines and # comments are skipped; the value is all after the first =)
  --data KEY=VALUE     one pair; repeat for more (values land in shell history and ps: prefer --data-file)
  -h, --help           show this help

Keys are environment variable names: A-Z, 0-9 and _, not starting with a digit.

Example:
  printf 'API_KEY=%s\\nAPI_SECRET=%s\\n' "$KEY" "$SECRET" | roombus project secret key create --name weather --data-file -`;

const CREATE_OPTIONS = {
  ...PROJECT_OPTIONS,
  name: { type: "string" },
  data: { type: "string", multiple: true },
  "data-file": { type: "string" },
} as const;

async function runCreate(argv: string[], io: Io): Promise<number> {
  const command = "project secret key create";
  const values = parseFlags(command, CREATE_USAGE, CREATE_OPTIONS, argv);
  if (values.name === undefined || values.name.length === 0) throw usageError(command, "--name is required");
  const api = projectApi(command, values, io.env);
  const data: Record<string, string> = {};
  const add = (key: string, value: string, where: string) => {
    if (Object.hasOwn(data, key)) throw usageError(command, `${where}: the key ${printable(key)} is given twice`);
    data[key] = value;
  };
  if (values["data-file"] !== undefined) {
    const file = values["data-file"];
    const text = await readTextValue(command, file === "-" ? "stdin" : { file }, io, MAX_DATA_FILE_BYTES);
    for (const [key, value, line] of parseDataLines(command, text, file === "-" ? "stdin" : file)) add(key, value, line);
  }
  if (values.data !== undefined) {
    io.err("roombus: warning: --data leaves the values in shell history and ps; prefer --data-file");
    for (const pair of values.data) {
      const [key, value] = splitPair(command, pair, "--data");
      add(key, value, "--data");
    }
  }
  if (Object.keys(data).length === 0) throw usageError(command, "no keys given: give --data-file FILE or --data KEY=VALUE");
  const created = await withProjectApi("creating the key collection", () => api.createKeyCollection({ name: values.name!, data }));
  io.out(`${created.id} ${created.keys.join(",")}`);
  return 0;
}

/** KEY=value lines; the third element says where each came from, for messages (never the value). */
function parseDataLines(command: string, text: string, source: string): [string, string, string][] {
  const pairs: [string, string, string][] = [];
  text.split("\n").forEach((raw, index) => {
    const line = raw.replace(/\r$/, "");
    if (line.trim() === "" || line.trimStart().startsWith("#")) return;
    const where = `${source} line ${index + 1}`;
    const [key, value] = splitPair(command, line, where);
    pairs.push([key, value, where]);
  });
  return pairs;
}

/** KEY=VALUE split at the first "="; the message names where it came from, never what it held. */
function splitPair(command: string, pair: string, where: string): [string, string] {
  const equals = pair.indexOf("=");
  if (equals <= 0) throw usageError(command, `${where}: expected KEY=VALUE`);
  return [pair.slice(0, equals).trim(), pair.slice(equals + 1)];
}

// ---------------------------------------------------------------------------------------------------------- list

const LIST_USAGE = `Usage: roombus project secret key list [flags]

Lists the key collections, one per line under a header: name, id, keys, version, last update. Values are never
shown.

Flags:
${PROJECT_FLAGS_HELP}
  --json               print one JSON array instead
  -h, --help           show this help

Example:
  roombus project secret key list`;

async function runList(argv: string[], io: Io): Promise<number> {
  const command = "project secret key list";
  const values = parseFlags(command, LIST_USAGE, { ...PROJECT_OPTIONS, json: { type: "boolean" } } as const, argv);
  const api = projectApi(command, values, io.env);
  const collections = await withProjectApi("listing the key collections", () => api.listKeyCollections());
  if (values.json === true) io.out(jsonLine(collections));
  else if (collections.length === 0) io.err("no key collections yet: add one with `roombus project secret key create --name NAME --data-file FILE`");
  else {
    const rows = collections.map((c) => [c.name, c.id, c.keys.join(","), String(c.version), new Date(c.updated_at).toISOString()]);
    for (const line of formatTable(["NAME", "ID", "KEYS", "VERSION", "UPDATED"], rows)) io.out(line);
  }
  return 0;
}

// -------------------------------------------------------------------------------------------------------- delete

const runDelete = deleteByNameCommand({
  group: "key",
  what: "key collection",
  description: "Deletes a key collection. Services that list it can no longer start until it exists again.",
  example: "weather",
  remove: (api, name) => api.deleteKeyCollection(name),
});

// ------------------------------------------------------------------------------------------------------ dispatch

const SUBCOMMANDS: readonly Command[] = [
  { name: "project secret key create", summary: "store a key collection", run: runCreate },
  { name: "project secret key list", summary: "list the key collections (key names only)", run: runList },
  { name: "project secret key delete", summary: "delete a key collection", run: runDelete },
];

const USAGE = `Usage: roombus project secret key <command> [flags]

Key collections: named sets of KEY=value pairs. A service that lists a collection in its spec's container.secrets
gets every key as an environment variable.

Commands:
${SUBCOMMANDS.map((command) => `  ${command.name.slice("project secret key ".length).padEnd(20)}${command.summary}`).join("\n")}

Run \`roombus project secret key <command> --help\` for its flags.`;

export const projectSecretKeyCommand: Command = {
  name: "project secret key",
  summary: "key collections: KEY=value sets a service gets as environment variables",
  run: async (argv, io) => {
    return runSubcommand("project secret key", USAGE, SUBCOMMANDS, argv, io);
  },
};
