/** `roombus room <subcommand>`: the commands that join a room as a participant. */
import { type Command, type Io, runSubcommand } from "../args.js";
import { roomListenCommand } from "./room-listen.js";
import { roomParticipantsCommand } from "./room-participants.js";
import { roomSecretCommand } from "./room-secret.js";
import { roomSendCommand } from "./room-send.js";

const SUBCOMMANDS: readonly Command[] = [roomParticipantsCommand, roomSendCommand, roomListenCommand, roomSecretCommand];

const USAGE = `Usage: roombus room <command> --room ROOM [flags]

Joins a room as a participant, with the token in ROOMBUS_TOKEN (mint one with \`roombus token\`).

Commands:
${SUBCOMMANDS.map((command) => `  ${command.name.padEnd(20)}${command.summary}`).join("\n")}

Run \`roombus room <command> --help\` for its flags.

Example:
  roombus room listen --room demo`;

export const roomCommand: Command = {
  name: "room",
  summary: "join a room: participants, send, listen, secret",
  run: runRoom,
};

async function runRoom(argv: string[], io: Io): Promise<number> {
  return runSubcommand("room", USAGE, SUBCOMMANDS, argv, io);
}
