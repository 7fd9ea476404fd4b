/**
 * `roombus room secret request`: asks another participant for a secret and writes the answer like `get` does.
 * The asked participant answers in its own UI (`roombus room listen`, the browser page, an agent). Here `--url` is the
 * secret's URL, as in the seed's CLI, so the server comes from `--server` or ROOMBUS_URL.
 */
import { isRoombusError } from "../../protocol/errors.js";
import { MAX_NAME_CHARS, MAX_TEXT_CHARS, MAX_TIMEOUT_MS } from "../../protocol/limits.js";
import {
  CliError,
  optionalIdentity,
  parseFlags,
  parseIntegerFlag,
  printable,
  requireFlag,
  usageError,
  type Command,
  type Io,
} from "../args.js";
import { writeValue } from "../secret-values.js";
import { DEFAULT_URL, explainSecretsError, joinRoom, noSuchParticipant } from "./room-session.js";

const DEFAULT_TIMEOUT_SECONDS = 300;
const MAX_TIMEOUT_SECONDS = MAX_TIMEOUT_MS / 1000;
/** The server's timeout answer (1009) should arrive before this client gives up on its own. */
const CLIENT_GRACE_MS = 5_000;
const MAX_URL_CHARS = 2048;
/** How the server words a rejection; the asked identity's name reads better in its place. */
const DECLINED_PREFIX = "the participant declined the request";

const USAGE = `Usage: roombus room secret request --room ROOM --from-participant-id ID --url URL [flags]

Asks a participant for the secret URL and waits for the answer, then writes the value like \`get\`: raw bytes to
stdout (a newline added on a terminal) or to --out FILE (mode 0600). The answer is also stored as your requested
secret; asking again returns the stored one without asking, unless --refresh.
Exits 1 when the participant declines (with its reason), does not answer in time, or leaves.

Flags:
  --room ROOM                the room                                                required
  --from-participant-id ID   who to ask: an id from \`roombus room participants\`      required
  --url URL                  what to ask for, e.g. secret://db/password              required
  --type TYPE                the MIME type asked for         default application/octet-stream
  --delegate-to ID           store the answer delegated to ID, so ID may read it
  --prompt TEXT              a line shown to the person asked
  --timeout SECONDS          how long to wait, 1 to ${MAX_TIMEOUT_SECONDS}                             default ${DEFAULT_TIMEOUT_SECONDS}
  --refresh                  ask even if an answer is stored
  -o, --out FILE             write the value to FILE (mode 0600) instead of stdout
  --server URL               the server, ws://HOST:PORT (ROOMBUS_URL, default ${DEFAULT_URL});
                             here --url is the secret's URL, as in the other secrets clients
  --token TOKEN              the token (ROOMBUS_TOKEN; prefer the variable: flags show up in ps)
  -h, --help                 show this help

Example:
  roombus room secret request --room demo --from-participant-id p_2Xk9 --url secret://db/password \\
    --prompt "the staging database password" --out ./db-password`;

const OPTIONS = {
  room: { type: "string" },
  server: { type: "string" },
  token: { type: "string" },
  "from-participant-id": { type: "string" },
  url: { type: "string" },
  type: { type: "string" },
  "delegate-to": { type: "string" },
  prompt: { type: "string" },
  timeout: { type: "string" },
  refresh: { type: "boolean" },
  out: { type: "string", short: "o" },
} as const;

export const roomSecretRequestCommand: Command = {
  name: "room secret request",
  summary: "ask another participant for a secret",
  run: runRequest,
};

async function runRequest(argv: string[], io: Io): Promise<number> {
  const command = "room secret request";
  const values = parseFlags(command, USAGE, OPTIONS, argv);
  const participantId = requireFlag(command, "from-participant-id", values["from-participant-id"]);
  const url = requireFlag(command, "url", values.url);
  if (url.length > MAX_URL_CHARS) throw usageError(command, `--url must be at most ${MAX_URL_CHARS} characters`);
  if (values.type !== undefined && (values.type.length === 0 || values.type.length > MAX_NAME_CHARS)) {
    throw usageError(command, `--type must be 1 to ${MAX_NAME_CHARS} characters`);
  }
  if (values.prompt !== undefined && values.prompt.length > MAX_TEXT_CHARS) {
    throw usageError(command, `--prompt must be at most ${MAX_TEXT_CHARS} characters`);
  }
  const delegateTo = optionalIdentity(command, "delegate-to", values["delegate-to"]);
  const timeoutSeconds =
    values.timeout === undefined ? DEFAULT_TIMEOUT_SECONDS : parseIntegerFlag(command, "timeout", values.timeout, 1, MAX_TIMEOUT_SECONDS);

  const client = await joinRoom(command, { room: values.room, url: values.server, token: values.token }, io.env, { urlFlag: "--server" });
  try {
    const asked = client.participants.get(participantId);
    if (asked === undefined) throw noSuchParticipant(participantId, client.room);
    const who = printable(asked.identity);
    io.err(`waiting for ${who} to answer (up to ${timeoutSeconds} s)…`);
    let answer;
    try {
      answer = await client.secrets.requestSecret(
        {
          participant_id: participantId,
          url,
          type: values.type,
          delegate_to: delegateTo,
          prompt: values.prompt,
          timeout_ms: timeoutSeconds * 1000,
          refresh: values.refresh === true ? true : undefined,
        },
        { timeoutMs: timeoutSeconds * 1000 + CLIENT_GRACE_MS },
      );
    } catch (error) {
      if (!isRoombusError(error)) throw error;
      switch (error.errorName) {
        case "permission_denied":
          if (error.message.startsWith(DECLINED_PREFIX)) {
            throw new CliError(`${who} declined the request${error.message.slice(DECLINED_PREFIX.length)}`, { cause: error });
          }
          break;
        case "timeout":
          throw new CliError(`nobody answered in time: ${who} did not answer within ${timeoutSeconds} s`, { cause: error });
        case "participant_gone":
          throw new CliError(`${who} left room ${client.room} before answering`, { cause: error });
        case "not_found":
          throw noSuchParticipant(participantId, client.room);
        default:
          break;
      }
      throw new CliError(explainSecretsError("the request", error), { cause: error });
    }
    await writeValue(answer.data, values.out, io);
    return 0;
  } finally {
    await client.close();
  }
}
