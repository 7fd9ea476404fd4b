/** `roombus room send`: one message to one participant, or to everyone else in the room. */
import { readFile } from "node:fs/promises";
import { isRoombusError } from "../../protocol/errors.js";
import { CliError, parseFlags, usageError, type Command, type Io } from "../args.js";
import { explainOpError, joinRoom, noSuchParticipant, ROOM_FLAGS_HELP, ROOM_OPTIONS } from "./room-session.js";

const USAGE = `Usage: roombus room send --room ROOM (--to PARTICIPANT_ID | --broadcast) --type TYPE [flags]

Joins the room, sends one message and leaves. Prints nothing on success. Participant ids come from
\`roombus room participants\` or the first line of \`roombus room listen\`.

Flags:
${ROOM_FLAGS_HELP}
  --to PARTICIPANT_ID  the participant to send to
  --broadcast          send to everyone else in the room instead
  --type TYPE          the message type, e.g. chat                                 required
  --message JSON       the message, a JSON object                                  default {}
  --text STRING        shorthand for --message '{"text": STRING}'
  --attachment FILE    a file to send along as binary data
  -h, --help           show this help

Example:
  roombus room send --room demo --to p_2Xk9 --type chat --text "hi"`;

const OPTIONS = {
  ...ROOM_OPTIONS,
  to: { type: "string" },
  broadcast: { type: "boolean" },
  type: { type: "string" },
  message: { type: "string" },
  text: { type: "string" },
  attachment: { type: "string" },
} as const;

export const roomSendCommand: Command = {
  name: "room send",
  summary: "send a message to one participant or to everyone",
  run: runSend,
};

async function runSend(argv: string[], io: Io): Promise<number> {
  const values = parseFlags("room send", USAGE, OPTIONS, argv);
  const broadcast = values.broadcast === true;
  if (broadcast === (values.to !== undefined)) throw usageError("room send", "give exactly one of --to PARTICIPANT_ID and --broadcast");
  if (values.to !== undefined && values.to.length === 0) throw usageError("room send", "--to needs a participant id");
  if (values.type === undefined || values.type.length === 0) throw usageError("room send", "--type is required");
  const message = messageFrom(values.message, values.text);
  const attachment = values.attachment === undefined ? undefined : await readAttachment(values.attachment);

  const client = await joinRoom("room send", values, io.env);
  try {
    if (values.to === undefined) await client.broadcast(values.type, message, attachment);
    else await client.send(values.to, values.type, message, attachment);
    return 0;
  } catch (error) {
    if (!isRoombusError(error)) throw error;
    if (error.errorName === "participant_gone") {
      throw new CliError(
        `participant ${values.to ?? ""} has left room ${client.room}: run \`roombus room participants --room ${client.room}\` to see who is there`,
        { cause: error },
      );
    }
    if (error.errorName === "not_found") {
      throw noSuchParticipant(values.to ?? "", client.room);
    }
    throw new CliError(explainOpError(values.to === undefined ? "broadcast" : "send", error), { cause: error });
  } finally {
    await client.close();
  }
}

function messageFrom(json: string | undefined, text: string | undefined): Record<string, unknown> {
  if (json !== undefined && text !== undefined) throw usageError("room send", "give --message or --text, not both");
  if (text !== undefined) return { text };
  if (json === undefined) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    throw usageError("room send", "--message is not valid JSON");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw usageError("room send", "--message must be a JSON object, such as '{\"text\": \"hi\"}'");
  }
  return parsed as Record<string, unknown>;
}

async function readAttachment(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const why = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : code === "EISDIR" ? "it is a directory" : String(code ?? error);
    throw new CliError(`cannot read the attachment ${path}: ${why}`, { cause: error });
  }
}
