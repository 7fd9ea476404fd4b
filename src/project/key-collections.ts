/**
 * Key collections (seed 002 "Secret Keys"): a named set of KEY=value pairs; a service that lists the collection
 * gets each key as an environment variable. The whole map is sealed as one JSON value; the key names are meta.
 */
import type { z } from "zod";
import { ApiError } from "./api-error.js";
import type { ProjectRecord, ProjectRecordKind } from "./project-store.js";
import type { ProjectVault } from "./project-vault.js";
import { COLLECTION_NAME_PATTERN, type createKeyCollectionBody, type KeyCollectionView } from "./schemas.js";

export function collectionView(record: ProjectRecord): KeyCollectionView {
  return {
    id: record.id,
    name: record.name,
    keys: Array.isArray(record.meta.keys) ? record.meta.keys : [],
    version: record.version,
    created_at: record.createdAt,
    updated_at: record.updatedAt,
  };
}

export async function createKeyCollection(vault: ProjectVault, input: z.output<typeof createKeyCollectionBody>): Promise<ProjectRecord> {
  return vault.create("keys", input.name, { keys: Object.keys(input.data).sort() }, collectionBytes(input.data));
}

/** What is sealed for a collection: its map as JSON, keys sorted (the same map always gives the same bytes). */
export function collectionBytes(data: Record<string, string>): Buffer {
  const sorted = Object.fromEntries(Object.keys(data).sort().map((key) => [key, data[key]!]));
  return Buffer.from(JSON.stringify(sorted), "utf8");
}

/** The collection's KEY → value map. */
export async function openCollection(vault: ProjectVault, record: ProjectRecord): Promise<Record<string, string>> {
  return JSON.parse((await vault.open(record)).toString("utf8")) as Record<string, string>;
}

/** Deletes a key collection or pull secret by name; 404 naming it (when it could be a name at all) otherwise. */
export async function deleteByName(vault: ProjectVault, kind: ProjectRecordKind, name: string, noun: string): Promise<ProjectRecord> {
  const record = await findByName(vault, kind, name, noun);
  // A record replaced between the lookup and the delete keeps its new id: it is not deleted, and the caller hears 404.
  if ((await vault.delete(kind, record.id)) !== "deleted") throw notFound(name, noun);
  return record;
}

/** The record of a kind with this name, or 404. */
export async function findByName(vault: ProjectVault, kind: ProjectRecordKind, name: string, noun: string): Promise<ProjectRecord> {
  const record = COLLECTION_NAME_PATTERN.test(name) ? await vault.findByName(kind, name) : undefined;
  if (record === undefined) throw notFound(name, noun);
  return record;
}

/** Names the record only when the name could be one (a path segment the caller typed may be anything). */
function notFound(name: string, noun: string): ApiError {
  const which = COLLECTION_NAME_PATTERN.test(name) ? ` named ${name}` : " with this name";
  return new ApiError("not_found", `no ${noun}${which}`);
}
