/**
 * Image-pull secrets (seeds 000 and 002): a registry credential handed only to whatever pulls images, as Docker's
 * config.json, and never put into a process environment. Server and username are meta; the password is sealed.
 */
import type { z } from "zod";
import type { ProjectRecord } from "./project-store.js";
import type { ProjectVault } from "./project-vault.js";
import type { createPullSecretBody, PullSecretView } from "./schemas.js";

export function pullSecretView(record: ProjectRecord): PullSecretView {
  return {
    id: record.id,
    name: record.name,
    server: String(record.meta.server),
    username: String(record.meta.username),
    created_at: record.createdAt,
    updated_at: record.updatedAt,
  };
}

export async function createPullSecret(vault: ProjectVault, input: z.output<typeof createPullSecretBody>): Promise<ProjectRecord> {
  return vault.create("pull", input.name, { server: input.server, username: input.username }, Buffer.from(input.password, "utf8"));
}

/** Docker's config.json for one registry: `{"auths": {server: {auth: base64("username:password")}}}`. */
export async function dockerConfigOf(vault: ProjectVault, record: ProjectRecord): Promise<{ auths: Record<string, { auth: string }> }> {
  const view = pullSecretView(record);
  const credential = Buffer.concat([Buffer.from(`${view.username}:`, "utf8"), await vault.open(record)]);
  return { auths: { [view.server]: { auth: credential.toString("base64") } } };
}
