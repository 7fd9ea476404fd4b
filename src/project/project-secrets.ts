/** Project secrets (seed 004): NAME=value pairs scoped to every profile or to listed ones. */
import type { z } from "zod";
import { ApiError } from "./api-error.js";
import type { ProjectMeta, ProjectRecord } from "./project-store.js";
import type { ProjectVault } from "./project-vault.js";
import type { createSecretBody, ProjectSecretView, updateSecretBody } from "./schemas.js";

export type Scope = "all" | "agents";

/** How many times an update without If-Match retries when another write lands between its read and its write. */
const UPDATE_ATTEMPTS = 5;

interface SecretMeta {
  scope: Scope;
  profile_ids: string[];
}

function secretMeta(record: ProjectRecord): SecretMeta {
  const scope = record.meta.scope === "agents" ? "agents" : "all";
  const profileIds = Array.isArray(record.meta.profile_ids) ? record.meta.profile_ids : [];
  return { scope, profile_ids: profileIds };
}

function toMeta(meta: SecretMeta): ProjectMeta {
  return { scope: meta.scope, profile_ids: meta.profile_ids };
}

/** What the API shows of a project secret: everything but the value. */
export function secretView(record: ProjectRecord): ProjectSecretView {
  const meta = secretMeta(record);
  return {
    id: record.id,
    name: record.name,
    scope: meta.scope,
    profile_ids: meta.profile_ids,
    version: record.version,
    created_at: record.createdAt,
    updated_at: record.updatedAt,
  };
}

/** Seed 004: "all" secrets reach every profile; "agents" secrets only the profiles they list. */
export function isInScope(record: ProjectRecord, profileId: string | undefined): boolean {
  const meta = secretMeta(record);
  return meta.scope === "all" || (profileId !== undefined && meta.profile_ids.includes(profileId));
}

export async function createSecret(vault: ProjectVault, input: z.output<typeof createSecretBody>): Promise<ProjectRecord> {
  const meta = toMeta({ scope: input.scope, profile_ids: input.profile_ids });
  return vault.create("secret", input.name, meta, Buffer.from(input.value, "utf8"));
}

export async function getSecret(vault: ProjectVault, id: string): Promise<ProjectRecord> {
  const record = await vault.get("secret", id);
  if (record === undefined) throw noSuchSecret();
  return record;
}

/**
 * Applies a patch. With `ifMatch`, only to that version (409 otherwise); without, a write that lands between this
 * read and this write makes it read again, so the patch always applies to the latest version.
 */
export async function updateSecret(
  vault: ProjectVault,
  id: string,
  patch: z.output<typeof updateSecretBody>,
  ifMatch: number | undefined,
): Promise<ProjectRecord> {
  for (let attempt = 0; attempt < UPDATE_ATTEMPTS; attempt++) {
    const record = await getSecret(vault, id);
    if (ifMatch !== undefined && record.version !== ifMatch) throw versionMismatch(record.version, ifMatch);
    const meta = patchedMeta(secretMeta(record), patch);
    const value = patch.value === undefined ? await vault.open(record) : Buffer.from(patch.value, "utf8");
    const result = await vault.replace(record, toMeta(meta), value, record.version);
    if (result === "not_found") throw noSuchSecret();
    if (result !== "conflict") return result;
    if (ifMatch !== undefined) {
      throw new ApiError("conflict", "the secret changed while this update was applied; read it and try again", "If-Match");
    }
  }
  throw new ApiError("conflict", "the secret keeps changing under this update; try again");
}

/** The scope after a patch: a new scope "all" drops the profile list; the result must still make sense. */
function patchedMeta(current: SecretMeta, patch: z.output<typeof updateSecretBody>): SecretMeta {
  const scope = patch.scope ?? current.scope;
  const profileIds = patch.profile_ids ?? (patch.scope === "all" ? [] : current.profile_ids);
  if (scope === "agents" && profileIds.length === 0) {
    throw new ApiError("invalid_request", "profile_ids: scope \"agents\" needs at least one profile id", "profile_ids");
  }
  if (scope === "all" && profileIds.length > 0) {
    throw new ApiError("invalid_request", "profile_ids: profile ids apply only with scope \"agents\"; send scope \"agents\" too", "profile_ids");
  }
  return { scope, profile_ids: profileIds };
}

export async function deleteSecret(vault: ProjectVault, id: string, ifMatch: number | undefined): Promise<void> {
  const result = await vault.delete("secret", id, { ifVersion: ifMatch });
  if (result === "not_found") throw noSuchSecret();
  if (result === "conflict") throw new ApiError("conflict", `the secret is not at version ${ifMatch}: nothing was deleted`, "If-Match");
}

/** The id is not repeated: it came from the caller, who may have pasted something else into the path. */
function noSuchSecret(): ApiError {
  return new ApiError("not_found", "no project secret with this id: list them with GET /v1/secrets");
}

function versionMismatch(stored: number, expected: number): ApiError {
  return new ApiError("conflict", `the secret is at version ${stored}, not ${expected}: read it again before changing it`, "If-Match");
}
