/**
 * The environment a service starts with (seed 001, "How a room service reads a secret"): the operator's environment
 * minus ROOMBUS_*, then the project secrets in scope for the profile and the spec's key collections (one call to the
 * project API), then the spec's own entries: literal values, room secrets owned by the named identity, and
 * participant tokens minted last, once everything else has passed, so a start that fails mints nothing.
 * Any failure is one line naming the entry; a value never appears in it.
 */
import { isRoombusError, type RoomClient } from "../client/index.js";
import { ProjectApiError, type ProjectApi, type ResolvedEnvironment } from "../client/project-api.js";
import { buildEnvironment, EnvironmentError, inheritedEnvironment, type EnvironmentEntry } from "./environment.js";
import type { ServiceSpec, SpecEnvironmentEntry } from "./spec.js";

/** The two calls of the project API a start needs. */
export type ProjectEnvironmentApi = Pick<ProjectApi, "resolveEnvironment" | "mintToken">;

export interface ResolveOptions {
  room: string;
  /** The profile whose "agents"-scoped project secrets apply; without one only "all"-scoped secrets do. */
  profile: string | undefined;
  parentEnvironment: NodeJS.ProcessEnv;
  project: ProjectEnvironmentApi;
  /** Joins `room` as the operator; only called when the spec reads room secrets. The caller's client is closed here. */
  openRoom: () => Promise<RoomClient>;
}

/** The start cannot go ahead; the message is one line that names the entry and says why. */
export class ResolveError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ResolveError";
  }
}

/** Resolves every source of `spec` into the child's environment, or throws ResolveError. */
export async function resolveServiceEnvironment(spec: ServiceSpec, options: ResolveOptions): Promise<Record<string, string>> {
  const inherited = inheritedEnvironment(options.parentEnvironment);
  const projectEntries = await readProjectEntries(spec, options);
  const roomSecrets = await readRoomSecrets(spec, options);

  const specEntries = (minted: ReadonlyMap<SpecEnvironmentEntry, string>): EnvironmentEntry[] =>
    spec.environment.map((entry) => {
      const { source } = entry;
      const value =
        source.kind === "value" ? source.value : source.kind === "secret" ? roomSecrets.get(entry)! : (minted.get(entry) ?? "");
      return { name: entry.name, value, source: entry.label };
    });

  // Every check but the final size runs before a token exists: names, duplicates, NUL bytes.
  check(() => buildEnvironment(inherited, [...projectEntries, ...specEntries(new Map())]));
  const minted = await mintTokens(spec, options);
  return check(() => buildEnvironment(inherited, [...projectEntries, ...specEntries(minted)]));
}

function check(build: () => Record<string, string>): Record<string, string> {
  try {
    return build();
  } catch (error) {
    if (error instanceof EnvironmentError) throw new ResolveError(error.message, { cause: error });
    throw error;
  }
}

async function readProjectEntries(spec: ServiceSpec, options: ResolveOptions): Promise<EnvironmentEntry[]> {
  let resolved: ResolvedEnvironment;
  try {
    resolved = await options.project.resolveEnvironment({
      ...(options.profile === undefined ? {} : { profile_id: options.profile }),
      keys: spec.keyCollections,
    });
  } catch (error) {
    const missing = missingCollection(error, spec);
    if (missing !== undefined) throw new ResolveError(missing, { cause: error });
    throw new ResolveError(`reading the project's secrets failed: ${describeApiError(error)}`, { cause: error });
  }
  const entries: EnvironmentEntry[] = Object.entries(resolved.project).map(([name, value]) => ({ name, value, source: `project secret ${name}` }));
  spec.keyCollections.forEach((collection, index) => {
    const label = `container.secrets[${index}] (${collection})`;
    const keys = resolved.keys[collection];
    if (keys === undefined) throw new ResolveError(`${label}: no key collection "${collection}" in the project`);
    for (const [name, value] of Object.entries(keys)) entries.push({ name, value, source: `${label} key ${name}` });
  });
  return entries;
}

/** The one line for the project API's 404 naming `keys[i]`, or undefined for any other failure. */
function missingCollection(error: unknown, spec: ServiceSpec): string | undefined {
  if (!(error instanceof ProjectApiError) || error.status !== 404) return undefined;
  const index = /^keys\[(\d+)\]$/.exec(error.field ?? "")?.[1];
  if (index === undefined) return undefined;
  const collection = spec.keyCollections[Number(index)];
  if (collection === undefined) return undefined;
  return `container.secrets[${index}] (${collection}): no key collection "${collection}" in the project`;
}

async function readRoomSecrets(spec: ServiceSpec, options: ResolveOptions): Promise<Map<SpecEnvironmentEntry, string>> {
  const values = new Map<SpecEnvironmentEntry, string>();
  const wanted = spec.environment.filter((entry) => entry.source.kind === "secret");
  if (wanted.length === 0) return values;
  const client = await options.openRoom();
  try {
    for (const entry of wanted) {
      if (entry.source.kind !== "secret") continue;
      const { identity, id } = entry.source;
      let secret: Awaited<ReturnType<RoomClient["secrets"]["getSecret"]>>;
      try {
        secret = await client.secrets.getSecret({ secret_id: id, for_identity: identity });
      } catch (error) {
        if (!isRoombusError(error)) throw error;
        const advice = error.errorName === "permission_denied" ? "; the operator's token needs the secrets and admin grants" : "";
        throw new ResolveError(`${entry.label}: reading room secret "${id}" for identity "${identity}" failed (${error.errorName} ${error.code}): ${error.message}${advice}`, {
          cause: error,
        });
      }
      if (secret === null) throw new ResolveError(`${entry.label}: no room secret "${id}" for identity "${identity}" in room "${options.room}"`);
      values.set(entry, decodeText(secret.data, entry.label));
    }
  } finally {
    await client.close();
  }
  return values;
}

/** An environment holds text; bytes that are not UTF-8 would reach the child altered, so they are refused. */
function decodeText(data: Uint8Array, label: string): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(data);
  } catch {
    throw new ResolveError(`${label}: the room secret is not UTF-8 text, and an environment variable can only hold text`);
  }
}

async function mintTokens(spec: ServiceSpec, options: ResolveOptions): Promise<Map<SpecEnvironmentEntry, string>> {
  const tokens = new Map<SpecEnvironmentEntry, string>();
  for (const entry of spec.environment) {
    if (entry.source.kind !== "token") continue;
    const { identity, api, role } = entry.source;
    try {
      const { token } = await options.project.mintToken({
        room: options.room,
        identity,
        ...(api === undefined ? {} : { api }),
        ...(role === undefined ? {} : { role }),
      });
      tokens.set(entry, token);
    } catch (error) {
      throw new ResolveError(`${entry.label}: minting a token for "${identity}" failed: ${describeApiError(error)}`, { cause: error });
    }
  }
  return tokens;
}

/** The project API's error in one line, with advice for the failures the operator can fix. */
export function describeApiError(error: unknown): string {
  if (!(error instanceof ProjectApiError)) return error instanceof Error ? error.message : String(error);
  // Status 0: no answer came (unreachable, timeout), and the message says so.
  if (error.status === 0) return error.message;
  const advice =
    error.status === 401
      ? "; export ROOMBUS_TOKEN=$(roombus token --identity ID --room '*' --api admin,secrets)"
      : error.status === 403
        ? "; the token needs the admin grant for every room: roombus token --identity ID --room '*' --api admin,secrets"
        : "";
  return `${error.message} (HTTP ${error.status} ${error.code})${advice}`;
}
