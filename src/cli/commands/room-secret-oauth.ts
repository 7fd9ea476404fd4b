/**
 * `roombus room secret oauth`: asks a participant to authorize an OAuth app and prints the access token. The server
 * builds the authorization URL (state + PKCE S256), the person approves in their browser, and the server exchanges
 * the code and stores the credential; asking again returns the stored token (refreshed when needed) unless --refresh.
 */
import { isRoombusError } from "../../protocol/errors.js";
import { MAX_NAME_CHARS } from "../../protocol/limits.js";
import type { OAuthClient } from "../../protocol/ops.js";
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
import { explainSecretsError, joinRoom, noSuchParticipant, ROOM_FLAGS_HELP } from "./room-session.js";

const DEFAULT_TIMEOUT_SECONDS = 600;
/** PROTOCOL.md §6: an authorization's state lives at most 10 minutes. */
const MAX_TIMEOUT_SECONDS = 600;
const CLIENT_GRACE_MS = 5_000;
const DECLINED_PREFIX = "the person declined the authorization";

const USAGE = `Usage: roombus room secret oauth --room ROOM --from-participant-id ID --client-id ID
         --authorization-endpoint URL --token-endpoint URL [flags]

Asks a participant to authorize an OAuth app, and prints the access token (or, with --json, the whole answer:
access_token, token_type, expires_at, scopes). The person sees the request in their page, approves it at the
authorization server, and the server exchanges the code. The credential is stored for you (refreshed when it is
about to expire), so asking again returns it without asking anyone, unless --refresh.

Flags:
  --room ROOM                    the room                                              required
  --from-participant-id ID       who authorizes: an id from \`roombus room participants\` required
  --client-id ID                 the OAuth client id                                   required
  --client-secret SECRET         the client secret, if the app has one (ROOMBUS_OAUTH_CLIENT_SECRET; it never
                                 reaches the person's page)
  --authorization-endpoint URL   the authorization server's authorize URL              required
  --token-endpoint URL           its token URL                                         required
  --scopes A,B                   scopes to ask for, comma-separated
  --redirect-uri URL             where the browser comes back (default: the server's /oauth/callback)
  --pkce / --no-pkce             use PKCE S256 (default on)
  --delegate-to ID               store the credential delegated to ID, so ID may fetch it offline
  --timeout SECONDS              how long to wait, 1 to ${MAX_TIMEOUT_SECONDS}                        default ${DEFAULT_TIMEOUT_SECONDS}
  --refresh                      ask even if a valid token is stored
  --json                         print the whole answer as JSON
${ROOM_FLAGS_HELP}
  -h, --help                     show this help

Example:
  roombus room secret oauth --room demo --from-participant-id p_2Xk9 --client-id my-app \\
    --authorization-endpoint https://accounts.example.com/authorize \\
    --token-endpoint https://accounts.example.com/token --scopes read,write`;

const OPTIONS = {
  room: { type: "string" },
  url: { type: "string" },
  token: { type: "string" },
  "from-participant-id": { type: "string" },
  "client-id": { type: "string" },
  "client-secret": { type: "string" },
  "authorization-endpoint": { type: "string" },
  "token-endpoint": { type: "string" },
  scopes: { type: "string" },
  "redirect-uri": { type: "string" },
  pkce: { type: "boolean" },
  "no-pkce": { type: "boolean" },
  "delegate-to": { type: "string" },
  timeout: { type: "string" },
  refresh: { type: "boolean" },
  json: { type: "boolean" },
} as const;

export const roomSecretOAuthCommand: Command = {
  name: "room secret oauth",
  summary: "ask a participant to authorize an OAuth app, print the token",
  run: runOAuth,
};

async function runOAuth(argv: string[], io: Io): Promise<number> {
  const command = "room secret oauth";
  const values = parseFlags(command, USAGE, OPTIONS, argv);
  const participantId = requireFlag(command, "from-participant-id", values["from-participant-id"]);
  if (values.pkce === true && values["no-pkce"] === true) throw usageError(command, "give --pkce or --no-pkce, not both");
  const clientId = requireFlag(command, "client-id", values["client-id"]);
  if (clientId.length > MAX_NAME_CHARS) throw usageError(command, `--client-id must be at most ${MAX_NAME_CHARS} characters`);
  const scopes = (values.scopes ?? "")
    .split(",")
    .map((scope) => scope.trim())
    .filter((scope) => scope.length > 0);
  const oauth: OAuthClient = {
    client_id: clientId,
    authorization_endpoint: endpoint(command, "authorization-endpoint", values["authorization-endpoint"]),
    token_endpoint: endpoint(command, "token-endpoint", values["token-endpoint"]),
  };
  const clientSecret = values["client-secret"] ?? io.env.ROOMBUS_OAUTH_CLIENT_SECRET;
  if (clientSecret !== undefined && clientSecret.length > 0) oauth.client_secret = clientSecret;
  if (scopes.length > 0) oauth.scopes = scopes;
  if (values["no-pkce"] === true) oauth.no_pkce = true;
  const redirectUri = values["redirect-uri"] === undefined ? undefined : endpoint(command, "redirect-uri", values["redirect-uri"]);
  const delegateTo = optionalIdentity(command, "delegate-to", values["delegate-to"]);
  const timeoutSeconds =
    values.timeout === undefined ? DEFAULT_TIMEOUT_SECONDS : parseIntegerFlag(command, "timeout", values.timeout, 1, MAX_TIMEOUT_SECONDS);

  const client = await joinRoom(command, { room: values.room, url: values.url, token: values.token }, io.env);
  try {
    const asked = client.participants.get(participantId);
    if (asked === undefined) throw noSuchParticipant(participantId, client.room);
    const who = printable(asked.identity);
    if (values.refresh !== true) io.err(`asking ${who} to authorize ${printable(clientId)} (unless a valid token is stored)…`);
    else io.err(`asking ${who} to authorize ${printable(clientId)}…`);
    io.err(`waiting up to ${timeoutSeconds} s for the approval in ${who}'s browser`);
    let answer;
    try {
      answer = await client.secrets.requestOAuthToken(
        {
          participant_id: participantId,
          oauth,
          redirect_uri: redirectUri,
          delegate_to: delegateTo,
          timeout_ms: timeoutSeconds * 1000,
          refresh: values.refresh === true ? true : undefined,
        },
        { timeoutMs: timeoutSeconds * 1000 + CLIENT_GRACE_MS },
      );
    } catch (error) {
      if (!isRoombusError(error)) throw error;
      if (error.errorName === "permission_denied" && error.message.startsWith(DECLINED_PREFIX)) {
        throw new CliError(`${who} declined the authorization${error.message.slice(DECLINED_PREFIX.length)}`, { cause: error });
      }
      if (error.errorName === "timeout") throw new CliError(`${who} did not complete the authorization within ${timeoutSeconds} s`, { cause: error });
      throw new CliError(explainSecretsError("the OAuth request", error), { cause: error });
    }
    io.out(values.json === true ? JSON.stringify(answer) : answer.access_token);
    return 0;
  } finally {
    await client.close();
  }
}

function endpoint(command: string, flag: string, value: string | undefined): string {
  const text = requireFlag(command, flag, value);
  try {
    new URL(text);
  } catch {
    throw usageError(command, `--${flag} must be a URL`);
  }
  return text;
}
