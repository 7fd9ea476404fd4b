/** What the `room` commands share: where the server is, which token to use, joining, and explaining failures. */
import { ConnectError, connect, roomUrl, type RoomClient } from "../../client/index.js";
import type { ErrorName, RoombusError } from "../../protocol/errors.js";
import { CliError, checkRoomName, printable, requireFlag, usageError } from "../args.js";

export const DEFAULT_URL = "ws://127.0.0.1:8765";

/** Flags every `room` command takes. */
export const ROOM_OPTIONS = {
  room: { type: "string" },
  url: { type: "string" },
  token: { type: "string" },
} as const;

export const ROOM_FLAGS_HELP = `  --room ROOM          the room                                                    required
  --url URL            the server, ws://HOST:PORT (ROOMBUS_URL, default ${DEFAULT_URL})
  --token TOKEN        the token (ROOMBUS_TOKEN; prefer the variable: flags show up in ps)`;

export interface RoomFlags {
  room?: string | undefined;
  url?: string | undefined;
  token?: string | undefined;
}

export interface JoinOptions {
  /** The flag that names the server, for error messages: "--url" unless the command uses --url for something else. */
  urlFlag?: string;
}

/** The token the flags or the environment give, if any. */
export function resolveToken(flags: RoomFlags, env: NodeJS.ProcessEnv): string | undefined {
  return flags.token ?? nonEmpty(env.ROOMBUS_TOKEN);
}

/**
 * The API grants a token claims (`api` keys), read without verifying it: only to decide what to offer, never to
 * decide what is allowed (the server does that). Undefined when the token is not a readable JWT.
 */
export function claimedApis(token: string): Set<string> | undefined {
  const payload = token.split(".")[1];
  if (payload === undefined) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as { api?: unknown };
    if (typeof claims.api !== "object" || claims.api === null) return new Set();
    return new Set(Object.entries(claims.api).filter(([, grant]) => grant !== null).map(([name]) => name));
  } catch {
    return undefined;
  }
}

/** Joins the room the flags name, or throws an error that says what to do. */
export async function joinRoom(
  command: string,
  flags: RoomFlags,
  env: NodeJS.ProcessEnv,
  options: JoinOptions = {},
): Promise<RoomClient> {
  const room = checkRoomName(command, requireFlag(command, "room", flags.room));
  const base = flags.url ?? nonEmpty(env.ROOMBUS_URL) ?? DEFAULT_URL;
  const token = resolveToken(flags, env);
  if (token === undefined) {
    throw usageError(
      command,
      `no token: run \`roombus token --identity ID --room ${room}\` and export ROOMBUS_TOKEN=<the token> (or pass --token)`,
    );
  }
  let url: string;
  try {
    url = roomUrl(base, room);
  } catch (error) {
    const source = flags.url === undefined && nonEmpty(env.ROOMBUS_URL) !== undefined ? "ROOMBUS_URL" : (options.urlFlag ?? "--url");
    throw usageError(command, `${source}: ${error instanceof Error ? error.message : String(error)}`);
  }
  try {
    return await connect(url, token);
  } catch (error) {
    if (error instanceof ConnectError) throw new CliError(`cannot join room ${room} at ${base}: ${error.message}`, { cause: error });
    throw error;
  }
}

/** One line for a failed op, with advice for the failures a person can do something about. */
export function explainOpError(action: string, error: RoombusError): string {
  const what = `${action} failed (${error.errorName} ${error.code}): ${error.message}`;
  const advice = ADVICE[error.errorName];
  return advice === undefined ? what : `${what}; ${advice}`;
}

/** explainOpError, without repeating advice the server's message already gives. */
export function explainSecretsError(action: string, error: RoombusError): string {
  if (error.errorName !== "permission_denied") return explainOpError(action, error);
  const what = `${action} failed (${error.errorName} ${error.code}): ${error.message}`;
  if (/\bmint\b/.test(error.message)) return what;
  if (/\badmin\b/.test(error.message)) return `${what}; mint one with \`roombus token --api secrets,admin\``;
  return explainOpError(action, error);
}

const ADVICE: Partial<Record<ErrorName, string>> = {
  permission_denied: "the token may lack the grant: mint one with `roombus token --api ...`",
  rate_limited: "slow down and try again",
  unavailable: "try again shortly",
  timeout: "nobody answered in time",
};

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.length === 0 ? undefined : value;
}

/** The one line every room command gives for a participant id that is not in the room. */
export function noSuchParticipant(participantId: string, room: string): CliError {
  return new CliError(
    `there is no participant ${printable(participantId)} in room ${room}: run \`roombus room participants --room ${room}\` to see who is there`,
  );
}
