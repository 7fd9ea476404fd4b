/**
 * What a starting process gets (seed 004 "How agents see secrets"): every project secret in scope for its profile,
 * and the key collections its service lists. One call, so a process starts from one consistent read.
 */
import type { z } from "zod";
import { ApiError } from "./api-error.js";
import { openCollection } from "./key-collections.js";
import { isInScope } from "./project-secrets.js";
import type { ProjectVault } from "./project-vault.js";
import type { resolveEnvironmentBody } from "./schemas.js";

export interface ResolvedEnvironment {
  project: Record<string, string>;
  keys: Record<string, Record<string, string>>;
}

export async function resolveEnvironment(
  vault: ProjectVault,
  input: z.output<typeof resolveEnvironmentBody>,
): Promise<ResolvedEnvironment> {
  const names = input.keys ?? [];
  const collections = await Promise.all(names.map((name) => vault.findByName("keys", name)));
  const missing = collections.findIndex((record) => record === undefined);
  if (missing >= 0) {
    throw new ApiError("not_found", `no key collection named ${names[missing]}: create it with POST /v1/keys`, `keys[${missing}]`);
  }
  const project: Record<string, string> = {};
  for (const record of await vault.list("secret")) {
    if (isInScope(record, input.profile_id)) project[record.name] = (await vault.open(record)).toString("utf8");
  }
  const keys: Record<string, Record<string, string>> = {};
  for (const [index, record] of collections.entries()) keys[names[index]!] = await openCollection(vault, record!);
  return { project, keys };
}
