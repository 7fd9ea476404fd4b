/**
 * `roombus room listen`: stays in a room and prints presence and messages as they arrive, until SIGINT/SIGTERM.
 * Each kind of output is one watcher (subscribe, print, return the unsubscribe), so answering secret requests
 * can be added as one more watcher.
 */
import type { RoomClient } from "../../client/index.js";
import type { EventData } from "../../protocol/events.js";
import { CLOSE_CODES } from "../../protocol/errors.js";
import { CliError, onStopSignal, parseFlags, printable, type Command, type Io } from "../args.js";
import { jsonLine } from "../output.js";
import { joinRoom, ROOM_FLAGS_HELP, ROOM_OPTIONS } from "./room-session.js";

const USAGE = `Usage: roombus room listen --room ROOM [flags]

Joins the room and prints, one line each, who is here, who joins and leaves, attribute changes, and the
messages sent to this participant or broadcast, until Ctrl-C or SIGTERM (then it leaves and exits 0).
The first line gives this participant's id, so others can \`roombus room send --to\` it.

Flags:
${ROOM_FLAGS_HELP}
  --json               print one JSON object per line: {"event": NAME, ...the event's data}
  -h, --help           show this help

Example:
  roombus room listen --room demo`;

const OPTIONS = { ...ROOM_OPTIONS, json: { type: "boolean" } } as const;

export const roomListenCommand: Command = {
  name: "room listen",
  summary: "stay in a room, printing presence and messages as they arrive",
  run: runListen,
};

/** Who is who: kept here because a `participant.left` event carries only the id. */
type Names = Map<string, string>;

interface Printer {
  json: boolean;
  io: Io;
  names: Names;
}

/** Subscribes to something and prints it; returns the unsubscribe function. */
type Watcher = (client: RoomClient, printer: Printer) => () => void;

const CLOSE_NAMES = new Map<number, string>(Object.entries(CLOSE_CODES).map(([name, code]) => [code, name]));

async function runListen(argv: string[], io: Io): Promise<number> {
  const values = parseFlags("room listen", USAGE, OPTIONS, argv);
  const client = await joinRoom("room listen", values, io.env);
  const printer: Printer = { json: values.json === true, io, names: new Map() };
  for (const participant of client.participants.values()) printer.names.set(participant.id, participant.identity);

  printReady(client, printer);
  const watchers: Watcher[] = [watchPresence, watchMessages];
  const unsubscribers = watchers.map((watch) => watch(client, printer));

  let removeSignalHandler: () => void = () => undefined;
  const stopped = new Promise<"signal">((resolve) => {
    removeSignalHandler = onStopSignal(() => resolve("signal"));
  });
  const outcome = await Promise.race([stopped, client.closed]);
  removeSignalHandler();
  for (const unsubscribe of unsubscribers) unsubscribe();

  if (outcome === "signal") {
    await client.close();
    return 0;
  }
  const name = CLOSE_NAMES.get(outcome.code);
  const reason = outcome.reason.length > 0 ? `: ${printable(outcome.reason)}` : "";
  throw new CliError(`the server closed the connection (code ${outcome.code}${name === undefined ? "" : ` ${name}`}${reason})`);
}

function printReady(client: RoomClient, { json, io }: Printer): void {
  const others = [...client.participants.values()].filter((participant) => participant.id !== client.participantId);
  if (json) {
    io.out(
      jsonLine({
        event: "room.ready",
        participant_id: client.participantId,
        identity: client.identity,
        room: client.room,
        session_id: client.sessionId,
        participants: [...client.participants.values()],
      }),
    );
    return;
  }
  io.out(
    `listening in room ${client.room} as ${client.identity}, participant id ${client.participantId} ` +
      `(reach it with: roombus room send --room ${client.room} --to ${client.participantId} --type chat --text hi)`,
  );
  for (const participant of others) io.out(`here ${participant.identity} (${participant.id}, ${participant.role})`);
}

const watchPresence: Watcher = (client, { json, io, names }) => {
  const offJoined = client.on("participant.joined", (data) => {
    names.set(data.participant.id, data.participant.identity);
    if (json) io.out(jsonLine({ event: "participant.joined", ...data }));
    else io.out(`joined ${data.participant.identity} (${data.participant.id}, ${data.participant.role})`);
  });
  const offLeft = client.on("participant.left", (data) => {
    const identity = names.get(data.participant_id);
    names.delete(data.participant_id);
    if (json) io.out(jsonLine({ event: "participant.left", ...data }));
    else io.out(`left ${identity ?? "?"} (${data.participant_id}): ${data.reason}`);
  });
  const offAttributes = client.on("participant.attributes", (data) => {
    if (json) io.out(jsonLine({ event: "participant.attributes", ...data }));
    else io.out(`attributes of ${names.get(data.participant_id) ?? "?"} (${data.participant_id}): ${jsonLine(data.attributes)}`);
  });
  return () => {
    offJoined();
    offLeft();
    offAttributes();
  };
};

const watchMessages: Watcher = (client, { json, io }) =>
  client.on("messaging.message", (data: EventData<"messaging.message">) => {
    if (json) {
      io.out(jsonLine({ event: "messaging.message", ...data }));
      return;
    }
    const attachment = data.attachment === undefined ? "" : `, attachment of ${data.attachment.byteLength} bytes`;
    io.out(
      `message from ${data.from_identity}: ${jsonLine(data.message)} ` +
        `(type ${printable(data.type)}, from ${data.from_participant_id}${attachment})`,
    );
  });
