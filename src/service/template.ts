/**
 * What a ServiceTemplate's variables become at install: those annotated as secrets (seed 001's `meshagent.secret.*`,
 * or the same fields under `roombus.secret.*`) are stored as room secrets for the annotated identity; the others are
 * only reported. All of it is decided before any value is asked for, so a template mistake stores nothing.
 */
import { IDENTITY_PATTERN } from "../protocol/common.js";
import { MAX_NAME_CHARS } from "../protocol/limits.js";
import type { TemplateVariable } from "./spec.js";

export const ANNOTATION_PREFIXES = ["meshagent.secret.", "roombus.secret."] as const;
const FIELDS = ["id", "identity", "name", "type"] as const;
type Field = (typeof FIELDS)[number];

/** What an installer's typed value is, unless the template says otherwise. */
export const DEFAULT_SECRET_TYPE = "text/plain";

export interface SecretTarget {
  /** The room secret's id (`meshagent.secret.id`). */
  id: string;
  /** Whose secret it is (`meshagent.secret.identity`); stored with the admin's `for_identity`. */
  identity: string;
  name: string | undefined;
  type: string;
}

export interface InstallPlan {
  variable: TemplateVariable;
  /** Undefined for a variable without secret annotations: asked for, then reported as not stored. */
  secret: SecretTarget | undefined;
}

export class TemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TemplateError";
  }
}

/** One plan per variable, in the template's order; throws TemplateError naming the first variable that is wrong. */
export function planInstall(variables: readonly TemplateVariable[]): InstallPlan[] {
  return variables.map((variable, index) => ({ variable, secret: readSecretTarget(variable, `variables[${index}] (${variable.name})`) }));
}

function readSecretTarget(variable: TemplateVariable, label: string): SecretTarget | undefined {
  const fields = new Map<Field, string>();
  for (const [key, value] of Object.entries(variable.annotations)) {
    const prefix = ANNOTATION_PREFIXES.find((candidate) => key.startsWith(candidate));
    if (prefix === undefined) continue;
    const field = FIELDS.find((candidate) => candidate === key.slice(prefix.length));
    if (field === undefined) {
      throw new TemplateError(`${label}: unknown annotation "${key}"; the secret annotations are ${FIELDS.map((name) => `${prefix}${name}`).join(", ")}`);
    }
    const earlier = fields.get(field);
    if (earlier !== undefined && earlier !== value) {
      throw new TemplateError(`${label}: meshagent.secret.${field} and roombus.secret.${field} disagree; give one of them`);
    }
    fields.set(field, value);
  }
  if (fields.size === 0) return undefined;

  const identity = fields.get("identity");
  if (identity === undefined) {
    throw new TemplateError(`${label}: it has secret annotations but no meshagent.secret.identity (or roombus.secret.identity): whose room secret should it be?`);
  }
  if (!IDENTITY_PATTERN.test(identity)) throw new TemplateError(`${label}: meshagent.secret.identity must be an identity (letters, digits, '.', '_', ':', '@' or '-')`);
  const id = fields.get("id");
  if (id === undefined) throw new TemplateError(`${label}: it has secret annotations but no meshagent.secret.id (or roombus.secret.id): which room secret should it be?`);
  for (const field of FIELDS) {
    const value = fields.get(field);
    if (value !== undefined && (value.length === 0 || value.length > MAX_NAME_CHARS)) {
      throw new TemplateError(`${label}: meshagent.secret.${field} must be 1 to ${MAX_NAME_CHARS} characters`);
    }
  }
  return { id, identity, name: fields.get("name"), type: fields.get("type") ?? DEFAULT_SECRET_TYPE };
}
