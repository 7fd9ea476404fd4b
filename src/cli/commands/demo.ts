/**
 * `roombus demo <subcommand>`: local stand-ins for outside services, for trying roombus on one machine without the
 * internet. `demo oauth-provider` runs an OAuth authorization server (src/demo/oauth-provider.ts) to try
 * `roombus room secret oauth` against; it is a demo, not for production.
 */
import { OIDC_SCOPES, OidcProviderMissingError, startOAuthProvider } from "../../demo/oauth-provider.js";
import { MAX_NAME_CHARS } from "../../protocol/limits.js";
import {
  CliError,
  type Command,
  type Io,
  onStopSignal,
  parseFlags,
  parseIntegerFlag,
  printable,
  runSubcommand,
  usageError,
} from "../args.js";

const DEFAULT_PORT = 8780;
const DEFAULT_HOST = "127.0.0.1";
const DEFAULT_CLIENT_ID = "demo-app";
const DEFAULT_CLIENT_SECRET = "demo-secret";
/** Where `roombus serve` with its defaults takes the browser back after an authorization. */
const DEFAULT_REDIRECT_URI = "http://127.0.0.1:8765/oauth/callback";
const DEFAULT_ACCESS_TOKEN_TTL = 3600;
const MAX_ACCESS_TOKEN_TTL = 7 * 24 * 3600;
const DEFAULT_SCOPES = ["read", "write"];
/** The fixed account every approval logs in as. */
const DEMO_ACCOUNT = "demo-user";
const MISSING_PACKAGE = "roombus demo oauth-provider needs the oidc-provider package: npm install oidc-provider";

const NOT_FOR_PRODUCTION =
  "A local demo authorization server for trying roombus, not for production: it keeps everything in memory and " +
  `issues tokens for the fixed demo account "${DEMO_ACCOUNT}" to whoever clicks Approve.`;

const OAUTH_PROVIDER_USAGE = `Usage: roombus demo oauth-provider [flags]

Runs a local demo OAuth 2.0 authorization server (oidc-provider) to try \`roombus room secret oauth\` with, on this
machine, without the internet. NOT FOR PRODUCTION: there is no login and no password; whoever clicks Approve gets
tokens for the fixed demo account "${DEMO_ACCOUNT}", and everything is kept in memory until it stops.

It registers one client, requires PKCE S256, accepts only the listed redirect URIs (exactly), and issues refresh
tokens. On start it prints the issuer, the endpoints, the client and a \`roombus room secret oauth\` line to paste.
The authorization page shows which client asks for which scopes, with Approve and Deny buttons.
Ctrl-C or SIGTERM stops it (exit 0).

Flags:
  --port PORT                  port to listen on, 0 for any free one (default ${DEFAULT_PORT})
  --host HOST                  address to listen on (default ${DEFAULT_HOST}); roombus takes plain http endpoints
                               only on loopback (127.0.0.1, localhost, ::1)
  --client-id ID               the client to register (default ${DEFAULT_CLIENT_ID})
  --client-secret SECRET       its secret (default ${DEFAULT_CLIENT_SECRET}); "" registers a public client (PKCE only)
  --redirect-uri URL           an allowed redirect URI, matched exactly; repeat for more
                               (default ${DEFAULT_REDIRECT_URI}, \`roombus serve\`'s callback)
  --access-token-ttl SECONDS   access token lifetime, 1 to ${MAX_ACCESS_TOKEN_TTL} (default ${DEFAULT_ACCESS_TOKEN_TTL})
  --scopes A,B                 the resource scopes offered, comma-separated (default ${DEFAULT_SCOPES.join(",")})
  -h, --help                   show this help

Example:
  roombus demo oauth-provider --port 8780 --scopes read,write`;

const OAUTH_PROVIDER_OPTIONS = {
  port: { type: "string" },
  host: { type: "string" },
  "client-id": { type: "string" },
  "client-secret": { type: "string" },
  "redirect-uri": { type: "string", multiple: true },
  "access-token-ttl": { type: "string" },
  scopes: { type: "string" },
} as const;

export const demoOAuthProviderCommand: Command = {
  name: "demo oauth-provider",
  summary: "run a local demo OAuth authorization server (not for production)",
  run: runOAuthProvider,
};

const SUBCOMMANDS: readonly Command[] = [demoOAuthProviderCommand];

const USAGE = `Usage: roombus demo <command> [flags]

Local stand-ins for outside services, to try roombus on one machine without the internet. Demos only: not for
production.

Commands:
${SUBCOMMANDS.map((command) => `  ${command.name.padEnd(24)}${command.summary}`).join("\n")}

Run \`roombus demo <command> --help\` for its flags.

Example:
  roombus demo oauth-provider`;

export const demoCommand: Command = {
  name: "demo",
  summary: "local demo services for trying roombus (not for production)",
  run: runDemo,
};

async function runDemo(argv: string[], io: Io): Promise<number> {
  return runSubcommand("demo", USAGE, SUBCOMMANDS, argv, io);
}

/** RFC 6749 §A.4: a scope token is printable ASCII other than space, '"' and '\'. */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;
/** RFC 6749 §A.1/A.2: client ids and secrets are printable ASCII. */
const VSCHAR = /^[\x20-\x7e]*$/;

async function runOAuthProvider(argv: string[], io: Io): Promise<number> {
  const command = "demo oauth-provider";
  const values = parseFlags(command, OAUTH_PROVIDER_USAGE, OAUTH_PROVIDER_OPTIONS, argv);
  const port = values.port === undefined ? DEFAULT_PORT : parseIntegerFlag(command, "port", values.port, 0, 65535);
  const host = values.host ?? DEFAULT_HOST;
  if (host.trim().length === 0 || /\s/.test(host)) throw usageError(command, "--host must be an address or host name");
  const clientId = values["client-id"] ?? DEFAULT_CLIENT_ID;
  if (clientId.length === 0 || clientId.length > MAX_NAME_CHARS || !VSCHAR.test(clientId) || clientId.trim() !== clientId) {
    throw usageError(command, `--client-id must be 1 to ${MAX_NAME_CHARS} printable ASCII characters, not starting or ending with a space`);
  }
  const clientSecret = values["client-secret"] ?? DEFAULT_CLIENT_SECRET;
  if (!VSCHAR.test(clientSecret)) throw usageError(command, "--client-secret must be printable ASCII characters");
  const redirectUris = [...new Set((values["redirect-uri"] ?? [DEFAULT_REDIRECT_URI]).map((uri) => redirectUri(command, uri)))];
  const accessTokenTtl =
    values["access-token-ttl"] === undefined
      ? DEFAULT_ACCESS_TOKEN_TTL
      : parseIntegerFlag(command, "access-token-ttl", values["access-token-ttl"], 1, MAX_ACCESS_TOKEN_TTL);
  const scopes = values.scopes === undefined ? DEFAULT_SCOPES : parseScopes(command, values.scopes);

  const openIdScope = scopes.find((scope) => OIDC_SCOPES.includes(scope));
  if (openIdScope !== undefined) {
    throw usageError(command, `--scopes: "${printable(openIdScope)}" is an OpenID Connect scope; name the resource scopes to offer`);
  }

  // A signal from here on ends the command cleanly, also one that arrives while the server is starting.
  let stopRequested = false;
  let wake = () => {};
  const stopped = new Promise<void>((resolve) => {
    wake = resolve;
  });
  onStopSignal(() => {
    stopRequested = true;
    wake();
  });

  // oidc-provider (a development dependency of roombus) is only loaded here, on first use.
  let provider;
  try {
    provider = await startOAuthProvider({
      host,
      port,
      clients: [
        clientSecret.length === 0
          ? { client_id: clientId, redirect_uris: redirectUris, token_endpoint_auth_method: "none" }
          : {
              client_id: clientId,
              client_secret: clientSecret,
              redirect_uris: redirectUris,
              token_endpoint_auth_method: "client_secret_post",
            },
      ],
      accessTokenTtlSeconds: accessTokenTtl,
      resourceScopes: scopes,
      accountId: DEMO_ACCOUNT,
      notice: NOT_FOR_PRODUCTION,
    });
  } catch (error) {
    if (error instanceof OidcProviderMissingError) {
      io.err(MISSING_PACKAGE);
      return 1;
    }
    throw new CliError(describeStartFailure(error, host, port), { cause: error });
  }

  if (!stopRequested) {
    io.out(
      readyBlock({
        issuer: provider.issuer,
        authorizationEndpoint: provider.authorizationEndpoint,
        tokenEndpoint: provider.tokenEndpoint,
        clientId,
        clientSecret,
        redirectUris,
        scopes,
      }),
    );
    await stopped;
  }
  await provider.close();
  return 0;
}

function redirectUri(command: string, text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw usageError(command, `--redirect-uri must be a URL: ${printable(text)}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw usageError(command, "--redirect-uri must be an http or https URL");
  if (url.hash !== "" || text.includes("#")) throw usageError(command, "--redirect-uri must not have a #fragment");
  // oidc-provider compares the registered string with the one a client sends: register exactly what was typed.
  return text;
}

function parseScopes(command: string, text: string): string[] {
  const scopes = text
    .split(",")
    .map((scope) => scope.trim())
    .filter((scope) => scope.length > 0);
  if (scopes.length === 0) throw usageError(command, "--scopes needs at least one scope");
  const bad = scopes.find((scope) => !SCOPE_TOKEN.test(scope));
  if (bad !== undefined) {
    throw usageError(command, `--scopes: "${printable(bad)}" is not a scope (printable ASCII, no spaces, quotes or backslashes)`);
  }
  return [...new Set(scopes)];
}

interface BlockValues {
  issuer: string;
  authorizationEndpoint: string;
  tokenEndpoint: string;
  clientId: string;
  clientSecret: string;
  redirectUris: string[];
  scopes: string[];
}

/** What a person copies from: the server's coordinates and a `room secret oauth` line that uses them. */
function readyBlock(v: BlockValues): string {
  const row = (label: string, value: string) => `  ${label.padEnd(24)}${printable(value)}`;
  const example = [
    "roombus room secret oauth --room demo --from-participant-id p_...",
    `--client-id ${shellWord(v.clientId)}`,
    ...(v.clientSecret.length > 0 ? [`--client-secret ${shellWord(v.clientSecret)}`] : []),
    `--authorization-endpoint ${shellWord(v.authorizationEndpoint)}`,
    `--token-endpoint ${shellWord(v.tokenEndpoint)}`,
    `--scopes ${shellWord(v.scopes.join(","))}`,
    ...(v.redirectUris[0] === DEFAULT_REDIRECT_URI ? [] : [`--redirect-uri ${shellWord(v.redirectUris[0]!)}`]),
  ].join(" ");
  return [
    "roombus demo OAuth authorization server: a local demo for trying roombus, NOT FOR PRODUCTION.",
    `It has no login: every approval issues tokens for the fixed demo account "${DEMO_ACCOUNT}".`,
    "",
    row("issuer", v.issuer),
    row("authorization endpoint", v.authorizationEndpoint),
    row("token endpoint", v.tokenEndpoint),
    row("client id", v.clientId),
    row("client secret", v.clientSecret.length > 0 ? v.clientSecret : "(none: a public client, PKCE only)"),
    ...v.redirectUris.map((uri, i) => row(i === 0 ? "redirect URI" : "", uri)),
    row("scopes", v.scopes.join(" ")),
    "",
    "Try it, with `roombus serve` running, ROOMBUS_TOKEN set and p_... a participant id from `roombus room participants`:",
    `  ${printable(example)}`,
    "",
    "Ctrl-C stops it.",
  ].join("\n");
}

/** A value as one shell word: bare when it is safe, single-quoted otherwise. */
function shellWord(text: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

function describeStartFailure(error: unknown, host: string, port: number): string {
  const code = (error as { code?: unknown }).code;
  if (code === "EADDRINUSE") return `port ${port} on ${host} is already in use: stop the other process or choose another with --port`;
  if (code === "EACCES") return `no permission to listen on ${host}:${port}: choose a port above 1023 with --port`;
  if (code === "EADDRNOTAVAIL" || code === "ENOTFOUND" || code === "EAI_AGAIN") {
    return `${printable(host)} is not an address of this machine: choose another with --host`;
  }
  return `could not start the demo authorization server: ${error instanceof Error ? error.message : String(error)}`;
}
