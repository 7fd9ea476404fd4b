/**
 * `roombus room secret <command>`: the caller's secrets in one room (PROTOCOL.md §6). Each command joins the room,
 * does one op and leaves. Values go in through a file, stdin or a flag and come out as raw bytes; they never appear
 * in a listing or an error message.
 */
import type { RoomClient } from "../../client/index.js";
import type { SecretInfo } from "../../protocol/ops.js";
import { MAX_NAME_CHARS } from "../../protocol/limits.js";
import { isRoombusError } from "../../protocol/errors.js";
import {
  CliError,
  type Command,
  type Io,
  optionalIdentity,
  parseFlags,
  parseFlagsAndArguments,
  parseIntegerFlag,
  printable,
  runSubcommand,
  usageError,
} from "../args.js";
import { jsonLine } from "../output.js";
import { readValue, writeValue } from "../secret-values.js";
import { roomSecretOAuthCommand } from "./room-secret-oauth.js";
import { roomSecretRequestCommand } from "./room-secret-request.js";
import { explainSecretsError, joinRoom, ROOM_FLAGS_HELP, ROOM_OPTIONS, type RoomFlags } from "./room-session.js";

const IDENTITY_FLAGS_HELP = {
  forIdentity: "  --for-identity ID    act on ID's secrets instead of your own (needs a token with the admin grant)",
  delegatedTo: "  --delegated-to ID    your copy of the secret that identity ID may read",
  delegatedBy: "  --delegated-by ID    the secret that identity ID delegated to you (read only)",
};

// ---------------------------------------------------------------------------------------------------------- list

const LIST_USAGE = `Usage: roombus room secret list --room ROOM [flags]

Lists your records in the room (secrets, requested secrets, OAuth credentials) and those others delegated to you,
one per line under a header: kind, id or url, type, name, delegation (to:ID or by:ID), version, last update.
Values are never shown.

Flags:
${ROOM_FLAGS_HELP}
${IDENTITY_FLAGS_HELP.forIdentity}
  --json               print one JSON array of the records instead (updated_at in ms since the epoch)
  -h, --help           show this help

Example:
  roombus room secret list --room demo`;

const LIST_OPTIONS = { ...ROOM_OPTIONS, "for-identity": { type: "string" }, json: { type: "boolean" } } as const;

async function runList(argv: string[], io: Io): Promise<number> {
  const command = "room secret list";
  const values = parseFlags(command, LIST_USAGE, LIST_OPTIONS, argv);
  const forIdentity = optionalIdentity(command, "for-identity", values["for-identity"]);
  return withRoom(command, values, io, "listing secrets", async (client) => {
    const { secrets } = await client.secrets.listSecrets({ for_identity: forIdentity });
    if (values.json === true) io.out(jsonLine(secrets));
    else if (secrets.length === 0) io.err(`no secrets in room ${client.room}${forIdentity === undefined ? "" : ` for ${forIdentity}`}`);
    else for (const line of formatTable(secrets)) io.out(line);
    return 0;
  });
}

function formatTable(secrets: readonly SecretInfo[]): string[] {
  const rows = secrets.map((secret) => [
    secret.kind,
    printable(secret.id ?? secret.url ?? "-"),
    printable(secret.type),
    secret.name === undefined ? "-" : printable(secret.name),
    secret.delegated_to !== undefined ? `to:${secret.delegated_to}` : secret.delegated_by !== undefined ? `by:${secret.delegated_by}` : "-",
    String(secret.version),
    new Date(secret.updated_at).toISOString(),
  ]);
  const table = [["KIND", "ID/URL", "TYPE", "NAME", "DELEGATION", "VERSION", "UPDATED"], ...rows];
  const widths = table[0]!.map((_, column) => Math.max(...table.map((row) => row[column]!.length)));
  return table.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join("  "));
}

// ----------------------------------------------------------------------------------------------------------- set

const SET_USAGE = `Usage: roombus room secret set --room ROOM [--id ID] (--in FILE | --text STRING | --base64 B64) [flags]

Stores a secret (a new one, or a new version of an existing one) and prints its id and version, e.g. "my-secret 2".
Without --id the server makes an id; the printed one is how to reach the secret later.
The value is taken as bytes, exactly: \`echo\` adds a newline, \`printf %s\` does not.

Flags:
${ROOM_FLAGS_HELP}
  --id ID              the secret's id                                             default: a new one
  -i, --in FILE        read the value from FILE; --in - reads stdin (best: stays out of shell history)
  --text STRING        the value as text (it lands in shell history and ps: prefer --in -)
  --base64 B64         the value as base64
  --type TYPE          its MIME type       default text/plain with --text, else application/octet-stream
  --name NAME          a display name
  --delegated-to ID    store a copy that ID may read (with \`get --delegated-by YOU\`)
${IDENTITY_FLAGS_HELP.forIdentity}
  --if-version N       write only if the stored version is N (0: only if there is none yet)
  -h, --help           show this help

Example:
  printf %s "$GITHUB_TOKEN" | roombus room secret set --room demo --id github-token --in -`;

const SET_OPTIONS = {
  ...ROOM_OPTIONS,
  id: { type: "string" },
  in: { type: "string", short: "i" },
  text: { type: "string" },
  base64: { type: "string" },
  type: { type: "string" },
  name: { type: "string" },
  "delegated-to": { type: "string" },
  "for-identity": { type: "string" },
  "if-version": { type: "string" },
} as const;

async function runSet(argv: string[], io: Io): Promise<number> {
  const command = "room secret set";
  const values = parseFlags(command, SET_USAGE, SET_OPTIONS, argv);
  const id = values.id === undefined ? undefined : checkSecretId(command, values.id);
  const delegatedTo = optionalIdentity(command, "delegated-to", values["delegated-to"]);
  const forIdentity = optionalIdentity(command, "for-identity", values["for-identity"]);
  const ifVersion = values["if-version"] === undefined ? undefined : parseIntegerFlag(command, "if-version", values["if-version"], 0, 2 ** 31 - 1);
  if (values.type !== undefined) checkText(command, "type", values.type);
  if (values.name !== undefined) checkText(command, "name", values.name);
  const value = await readValue(command, values, io);

  return withRoom(command, values, io, "storing the secret", async (client) => {
    try {
      const stored = await client.secrets.setSecret({
        secret_id: id,
        type: values.type ?? value.defaultType,
        name: values.name,
        data: value.data,
        delegated_to: delegatedTo,
        for_identity: forIdentity,
        if_version: ifVersion,
      });
      io.out(`${printable(stored.id)} ${stored.version}`);
      return 0;
    } catch (error) {
      if (isRoombusError(error) && error.errorName === "conflict") {
        throw new CliError(`secret "${printable(id ?? "")}" is not at version ${ifVersion ?? "?"}: nothing was written`, { cause: error });
      }
      if (isRoombusError(error) && error.errorName === "already_exists") {
        throw new CliError(`secret "${printable(id ?? "")}" already exists (--if-version 0 only creates): nothing was written`, { cause: error });
      }
      throw error;
    }
  });
}

// ----------------------------------------------------------------------------------------------------------- get

const GET_USAGE = `Usage: roombus room secret get --room ROOM --id ID [flags]

Writes the secret's value, as raw bytes, to stdout (a newline is added only when stdout is a terminal) or to a
file created with mode 0600. Exits 1 when there is no such secret (or none you may read).

Flags:
${ROOM_FLAGS_HELP}
  --id ID              the secret's id                                             required
${IDENTITY_FLAGS_HELP.delegatedTo}
${IDENTITY_FLAGS_HELP.delegatedBy}
${IDENTITY_FLAGS_HELP.forIdentity}
  -o, --out FILE       write the value to FILE (mode 0600) instead of stdout
  -h, --help           show this help

Example:
  roombus room secret get --room demo --id github-token --out ./github-token`;

const READ_OPTIONS = {
  ...ROOM_OPTIONS,
  id: { type: "string" },
  "delegated-to": { type: "string" },
  "delegated-by": { type: "string" },
  "for-identity": { type: "string" },
} as const;

const GET_OPTIONS = { ...READ_OPTIONS, out: { type: "string", short: "o" } } as const;

async function runGet(argv: string[], io: Io): Promise<number> {
  const command = "room secret get";
  const values = parseFlags(command, GET_USAGE, GET_OPTIONS, argv);
  const address = readAddress(command, values);
  return withRoom(command, values, io, "reading the secret", async (client) => {
    const secret = await client.secrets.getSecret(address);
    if (secret === null) throw new CliError(`no secret "${printable(address.secret_id)}" in room ${client.room}`);
    await writeValue(secret.data, values.out, io);
    return 0;
  });
}

// -------------------------------------------------------------------------------------------------------- exists

const EXISTS_USAGE = `Usage: roombus room secret exists --room ROOM --id ID [flags]

Prints true or false, and exits like \`test\`: 0 when the secret exists, 1 when it does not (or you may not see it).
Other failures also exit 1 and say why on stderr.

Flags:
${ROOM_FLAGS_HELP}
  --id ID              the secret's id                                             required
${IDENTITY_FLAGS_HELP.delegatedTo}
${IDENTITY_FLAGS_HELP.delegatedBy}
${IDENTITY_FLAGS_HELP.forIdentity}
  -h, --help           show this help

Example:
  roombus room secret exists --room demo --id github-token || roombus room secret set --room demo --id github-token --in -`;

async function runExists(argv: string[], io: Io): Promise<number> {
  const command = "room secret exists";
  const values = parseFlags(command, EXISTS_USAGE, READ_OPTIONS, argv);
  const address = readAddress(command, values);
  return withRoom(command, values, io, "checking the secret", async (client) => {
    const { exists } = await client.secrets.exists(address);
    io.out(String(exists));
    return exists ? 0 : 1;
  });
}

// -------------------------------------------------------------------------------------------------------- delete

const DELETE_USAGE = `Usage: roombus room secret delete --room ROOM ID [flags]

Deletes the secret ID (also accepted as --id ID) and prints "deleted"; exits 1 when there was none.

Flags:
${ROOM_FLAGS_HELP}
  --id ID              the secret's id, instead of the argument
${IDENTITY_FLAGS_HELP.delegatedTo}
${IDENTITY_FLAGS_HELP.forIdentity}
  -h, --help           show this help

Example:
  roombus room secret delete --room demo github-token`;

const DELETE_OPTIONS = {
  ...ROOM_OPTIONS,
  id: { type: "string" },
  "delegated-to": { type: "string" },
  "for-identity": { type: "string" },
} as const;

async function runDelete(argv: string[], io: Io): Promise<number> {
  const command = "room secret delete";
  const { values, positionals } = parseFlagsAndArguments(command, DELETE_USAGE, DELETE_OPTIONS, argv, 1);
  const [positional] = positionals;
  if (positional !== undefined && values.id !== undefined && positional !== values.id) {
    throw usageError(command, "give the id once: as the argument or as --id");
  }
  const given = positional ?? values.id;
  if (given === undefined) throw usageError(command, "the secret's id is required, e.g. `roombus room secret delete --room demo my-secret`");
  const id = checkSecretId(command, given);
  const delegatedTo = optionalIdentity(command, "delegated-to", values["delegated-to"]);
  const forIdentity = optionalIdentity(command, "for-identity", values["for-identity"]);
  return withRoom(command, values, io, "deleting the secret", async (client) => {
    const { deleted } = await client.secrets.deleteSecret({ secret_id: id, delegated_to: delegatedTo, for_identity: forIdentity });
    if (!deleted) throw new CliError(`no secret "${printable(id)}" to delete`);
    io.out("deleted");
    return 0;
  });
}

// ------------------------------------------------------------------------------------------------------- shared

interface ReadFlags extends RoomFlags {
  id?: string | undefined;
  "delegated-to"?: string | undefined;
  "delegated-by"?: string | undefined;
  "for-identity"?: string | undefined;
}

/** The args of get/exists: which record to read, from the flags. */
function readAddress(command: string, values: ReadFlags) {
  if (values.id === undefined) throw usageError(command, "--id is required");
  const secretId = checkSecretId(command, values.id);
  const delegatedTo = optionalIdentity(command, "delegated-to", values["delegated-to"]);
  const delegatedBy = optionalIdentity(command, "delegated-by", values["delegated-by"]);
  if (delegatedTo !== undefined && delegatedBy !== undefined) {
    throw usageError(command, "give --delegated-to (your copy for someone) or --delegated-by (someone's copy for you), not both");
  }
  return {
    secret_id: secretId,
    delegated_to: delegatedTo,
    delegated_by: delegatedBy,
    for_identity: optionalIdentity(command, "for-identity", values["for-identity"]),
  };
}

function checkSecretId(command: string, id: string): string {
  if (id.length === 0 || id.length > MAX_NAME_CHARS) throw usageError(command, `the secret's id must be 1 to ${MAX_NAME_CHARS} characters`);
  return id;
}

function checkText(command: string, flag: string, value: string): void {
  if (value.length === 0 || value.length > MAX_NAME_CHARS) throw usageError(command, `--${flag} must be 1 to ${MAX_NAME_CHARS} characters`);
}

/** Joins, runs `body`, leaves; a failed op becomes one line that says what to do about it. */
async function withRoom(
  command: string,
  flags: RoomFlags,
  io: Io,
  action: string,
  body: (client: RoomClient) => Promise<number>,
): Promise<number> {
  const client = await joinRoom(command, flags, io.env);
  try {
    return await body(client);
  } catch (error) {
    if (isRoombusError(error)) throw new CliError(explainSecretsError(action, error), { cause: error });
    throw error;
  } finally {
    await client.close();
  }
}

// ------------------------------------------------------------------------------------------------------ dispatch

const SUBCOMMANDS: readonly Command[] = [
  { name: "room secret list", summary: "list your secrets (never their values)", run: runList },
  { name: "room secret set", summary: "store a secret", run: runSet },
  { name: "room secret get", summary: "print or save a secret's value", run: runGet },
  { name: "room secret exists", summary: "tell whether a secret exists (exit 0 or 1)", run: runExists },
  { name: "room secret delete", summary: "delete a secret", run: runDelete },
  roomSecretRequestCommand,
  roomSecretOAuthCommand,
];

const USAGE = `Usage: roombus room secret <command> --room ROOM [flags]

Your secrets in one room, with the token in ROOMBUS_TOKEN (it needs the secrets grant:
\`roombus token --identity ID --room ROOM --api messaging,secrets\`). Values are encrypted at rest on the server
and never appear in listings, logs or error messages.

Commands:
${SUBCOMMANDS.map((command) => `  ${command.name.slice("room secret ".length).padEnd(20)}${command.summary}`).join("\n")}

To answer other participants' requests at the terminal, run \`roombus room listen\`.
Run \`roombus room secret <command> --help\` for its flags.

Example:
  roombus room secret list --room demo`;

export const roomSecretCommand: Command = {
  name: "room secret",
  summary: "store, read and request secrets",
  run: runSecret,
};

async function runSecret(argv: string[], io: Io): Promise<number> {
  return runSubcommand("room secret", USAGE, SUBCOMMANDS, argv, io);
}
