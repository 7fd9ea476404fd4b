/** `roombus room participants`: who else is in a room. */
import { isRoombusError } from "../../protocol/errors.js";
import { CliError, parseFlags, type Command, type Io } from "../args.js";
import { jsonLine } from "../output.js";
import { explainOpError, joinRoom, ROOM_FLAGS_HELP, ROOM_OPTIONS } from "./room-session.js";

const USAGE = `Usage: roombus room participants --room ROOM [flags]

Joins the room briefly and prints everyone else in it (this command's own connection is left out),
one per line: participant id, identity, role, separated by tabs. The ids are what \`roombus room send --to\` takes.

Flags:
${ROOM_FLAGS_HELP}
  --json               print one JSON array of {id, identity, role, attributes} instead
  -h, --help           show this help

Example:
  roombus room participants --room demo`;

const OPTIONS = { ...ROOM_OPTIONS, json: { type: "boolean" } } as const;

export const roomParticipantsCommand: Command = {
  name: "room participants",
  summary: "list who is in a room",
  run: runParticipants,
};

async function runParticipants(argv: string[], io: Io): Promise<number> {
  const values = parseFlags("room participants", USAGE, OPTIONS, argv);
  const client = await joinRoom("room participants", values, io.env);
  try {
    const others = (await client.listParticipants()).filter((participant) => participant.id !== client.participantId);
    if (values.json === true) {
      io.out(jsonLine(others));
    } else if (others.length === 0) {
      io.err(`nobody else is in room ${client.room}`);
    } else {
      for (const participant of others) io.out(`${participant.id}\t${participant.identity}\t${participant.role}`);
    }
    return 0;
  } catch (error) {
    if (isRoombusError(error)) throw new CliError(explainOpError("listing participants", error), { cause: error });
    throw error;
  } finally {
    await client.close();
  }
}
