/** `roombus token`: mints a participant token with the server's shared secret and prints it. */
import { API_NAMES, type ApiName } from "../../auth/grants.js";
import { mintToken } from "../../auth/tokens.js";
import { loadConfig, resolveTokenKey } from "../../config.js";
import type { Role } from "../../protocol/common.js";
import { CliError, checkIdentity, checkRoomName, parseFlags, requireFlag, usageError, type Command, type Io } from "../args.js";

const USAGE = `Usage: roombus token --identity ID --room ROOM [flags]

Mints a token (a JWT signed with the server's shared secret) and prints it on stdout. The secret is
ROOMBUS_JWT_SECRET, or the jwt-secret file that \`roombus serve\` created in the data directory.
Servers set up with ROOMBUS_JWT_PUBLIC_KEY or ROOMBUS_JWKS_URL take tokens from an identity provider instead.

Flags:
  --identity ID        who the participant is (the token's sub)                       required
  --room ROOM          the room the token may join, or '*' for any room               required
  --role ROLE          user, agent or tool                                            default user
  --api LIST           comma-separated grants: messaging, toolkits, secrets, admin    default messaging,toolkits
  --ttl DURATION       lifetime: 3600 (seconds), 45s, 30m, 1h or 7d                   default 1h
  --jti ID             token id, so the token can be revoked later
  --data-dir DIR       the server's data directory (ROOMBUS_DATA_DIR, default ./.roombus)
  -h, --help           show this help

Example:
  export ROOMBUS_TOKEN=$(roombus token --identity alice --room demo --api messaging,secrets --ttl 8h)`;

const OPTIONS = {
  identity: { type: "string" },
  room: { type: "string" },
  role: { type: "string" },
  api: { type: "string" },
  ttl: { type: "string" },
  jti: { type: "string" },
  "data-dir": { type: "string" },
} as const;

const ROLES: readonly Role[] = ["user", "agent", "tool"];
const DEFAULT_API: ApiName[] = ["messaging", "toolkits"];
const DEFAULT_TTL_SECONDS = 3600;
const UNIT_SECONDS: Record<string, number> = { "": 1, s: 1, m: 60, h: 3600, d: 86_400 };
/** A bound that catches a typo (an extra zero or three) rather than a policy. */
const MAX_TTL_SECONDS = 366 * 86_400;

export const tokenCommand: Command = {
  name: "token",
  summary: "mint a token for a participant",
  run: runToken,
};

async function runToken(argv: string[], io: Io): Promise<number> {
  const values = parseFlags("token", USAGE, OPTIONS, argv);
  const identity = checkIdentity("token", requireFlag("token", "identity", values.identity));
  const room = checkRoomName("token", requireFlag("token", "room", values.room), { allowAny: true });
  const role = parseRole(values.role);
  const api = values.api === undefined ? DEFAULT_API : parseApi(values.api);
  const ttlSeconds = values.ttl === undefined ? DEFAULT_TTL_SECONDS : parseTtl(values.ttl);
  if (values.jti !== undefined && (values.jti.length === 0 || values.jti.length > 256)) {
    throw usageError("token", "--jti must be 1 to 256 characters");
  }

  const config = loadConfig(io.env, values["data-dir"] === undefined ? {} : { ROOMBUS_DATA_DIR: values["data-dir"] });
  const { key, secret } = resolveTokenKey(config, { create: false });
  if (secret === undefined) {
    const source = key.kind === "jwks" ? "ROOMBUS_JWKS_URL" : "ROOMBUS_JWT_PUBLIC_KEY";
    throw new CliError(
      `${source} is set, so this server takes tokens from your identity provider: \`roombus token\` can only mint with a shared secret (ROOMBUS_JWT_SECRET)`,
    );
  }
  const token = await mintToken(
    { secret, issuer: config.issuer, audience: config.audience },
    { identity, room, role, api, ttlSeconds, ...(values.jti === undefined ? {} : { jti: values.jti }) },
  );
  io.out(token);
  return 0;
}

function parseRole(value: string | undefined): Role {
  if (value === undefined) return "user";
  const role = ROLES.find((candidate) => candidate === value);
  if (role === undefined) throw usageError("token", `--role must be one of ${ROLES.join(", ")}`);
  return role;
}

function parseApi(value: string): ApiName[] {
  const names = new Set<ApiName>();
  for (const part of value.split(",")) {
    const trimmed = part.trim();
    if (trimmed.length === 0) continue;
    const api = API_NAMES.find((candidate) => candidate === trimmed);
    if (api === undefined) throw usageError("token", `--api takes a comma-separated list of ${API_NAMES.join(", ")}`);
    names.add(api);
  }
  return [...names];
}

function parseTtl(value: string): number {
  const match = /^(\d{1,9})([smhd]?)$/.exec(value.trim());
  const seconds = match === null ? Number.NaN : Number(match[1]) * UNIT_SECONDS[match[2]!]!;
  if (!Number.isFinite(seconds) || seconds < 1 || seconds > MAX_TTL_SECONDS) {
    throw usageError("token", "--ttl must be a duration from 1s to 366d, such as 3600, 45s, 30m, 1h or 7d");
  }
  return seconds;
}
