/**
 * Service and ServiceTemplate specs (the YAML of seed 001): what `roombus run` and `roombus service install` read.
 * Only the parts that carry secrets and settings are interpreted; `agents`, `image`, `command` and `storage` are
 * accepted and left alone. Every error names the YAML path and line of the problem, never a value.
 */
import { isNode, LineCounter, parseDocument, type Document } from "yaml";
import { z } from "zod";
import { API_NAMES } from "../auth/grants.js";
import { IDENTITY_PATTERN, role, type Role } from "../protocol/common.js";
import { MAX_NAME_CHARS } from "../protocol/limits.js";
import { describeNameProblem } from "./environment.js";

/** A spec is a page of settings; anything this large is a mistake (or an attack on the parser). */
export const MAX_SPEC_BYTES = 1024 * 1024;
/** Aliases expand when the document is read; a bound keeps a few lines from becoming gigabytes. */
const MAX_ALIASES = 100;
const MAX_ENTRIES = 1024;

/** The key-collection names of the project API. */
export const COLLECTION_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,62}$/;
/** Template variables are typed as `--var name=value` and `name=value` lines, so no `=` and no spaces. */
export const VARIABLE_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_-]{0,127}$/;

const identity = z.string().regex(IDENTITY_PATTERN, {
  error: "must be an identity: letters, digits, '.', '_', ':', '@' or '-' (at most 128, starting with a letter or digit)",
});
const shortText = z.string().min(1).max(MAX_NAME_CHARS);
const annotations = z.record(z.string().max(MAX_NAME_CHARS), z.string().max(4096));

/** `api` as a list of grant names (`[messaging, secrets]`) or in the token claim's own shape (`{secrets: {}}`). */
const tokenApi = z.union(
  [
    z.array(z.enum(API_NAMES)).max(API_NAMES.length),
    z.strictObject({
      messaging: z.strictObject({}).optional(),
      toolkits: z.strictObject({}).optional(),
      admin: z.strictObject({}).optional(),
      secrets: z.record(z.string(), z.unknown()).optional(),
    }),
  ],
  { error: `must be a list of grants (${API_NAMES.join(", ")}) or a mapping in the token's api claim shape` },
);

const environmentEntry = z
  .strictObject({
    name: z.string(),
    // Not coerced from numbers: YAML would turn `1.10` into "1.1" and `0x1F` into "31" without a word.
    value: z.string({ error: (issue) => (issue.input === undefined ? "required" : "must be a string (quote numbers and booleans)") }).optional(),
    token: z.strictObject({ identity, api: tokenApi.optional(), role: role.optional() }).optional(),
    secret: z.strictObject({ identity, id: shortText }).optional(),
  })
  .superRefine((entry, context) => {
    const nameProblem = describeNameProblem(entry.name);
    if (nameProblem !== undefined) context.addIssue({ code: "custom", path: ["name"], message: nameProblem });
    const sources = (["value", "token", "secret"] as const).filter((source) => entry[source] !== undefined);
    if (sources.length !== 1) {
      const given = sources.length === 0 ? "none given" : `${sources.join(" and ")} given`;
      context.addIssue({ code: "custom", path: [], message: `give exactly one of value, token and secret (${given})` });
    }
  });

const variable = z.strictObject({
  name: z.string().regex(VARIABLE_NAME_PATTERN, { error: "must be letters, digits, '_' or '-', starting with a letter or '_'" }),
  description: z.string().max(4096).optional(),
  obscure: z.boolean().optional(),
  /** An optional variable may be left empty; it is then neither asked again nor stored. */
  optional: z.boolean().optional(),
  annotations: annotations.optional(),
});

const specSchema = z
  .strictObject({
    version: z.literal("v1"),
    kind: z.enum(["Service", "ServiceTemplate"]),
    metadata: z.strictObject({
      name: shortText,
      description: z.string().max(4096).optional(),
      annotations: annotations.optional(),
    }),
    agents: z.unknown().optional(),
    variables: z.array(variable).max(MAX_ENTRIES).optional(),
    container: z
      .strictObject({
        image: z.string().optional(),
        command: z.unknown().optional(),
        environment: z.array(environmentEntry).max(MAX_ENTRIES).optional(),
        secrets: z
          .array(z.string().regex(COLLECTION_NAME_PATTERN, { error: "must be a key collection name: a-z, 0-9, '.', '_' or '-' (at most 63)" }))
          .max(MAX_ENTRIES)
          .optional(),
        pull_secret: shortText.optional(),
        storage: z.unknown().optional(),
      })
      .optional(),
  })
  .superRefine((spec, context) => {
    if (spec.kind === "Service" && spec.variables !== undefined) {
      context.addIssue({ code: "custom", path: ["variables"], message: "only a ServiceTemplate has variables" });
    }
    const variableIndex = new Map<string, number>();
    spec.variables?.forEach((entry, index) => {
      const first = variableIndex.get(entry.name);
      if (first !== undefined) context.addIssue({ code: "custom", path: ["variables", index, "name"], message: `already used by variables[${first}]` });
      else variableIndex.set(entry.name, index);
    });
    const collectionIndex = new Map<string, number>();
    spec.container?.secrets?.forEach((name, index) => {
      const first = collectionIndex.get(name);
      if (first !== undefined) context.addIssue({ code: "custom", path: ["container", "secrets", index], message: `already listed as container.secrets[${first}]` });
      else collectionIndex.set(name, index);
    });
  });

type RawSpec = z.infer<typeof specSchema>;

/** Where one environment variable's value comes from. */
export type EnvironmentSource =
  | { kind: "value"; value: string }
  | { kind: "token"; identity: string; api: Record<string, unknown> | undefined; role: Role | undefined }
  | { kind: "secret"; identity: string; id: string };

export interface SpecEnvironmentEntry {
  name: string;
  source: EnvironmentSource;
  /** `container.environment[1] (SERVICE_API_TOKEN)`: how errors name it. */
  label: string;
}

export interface TemplateVariable {
  name: string;
  description: string | undefined;
  obscure: boolean;
  optional: boolean;
  annotations: Record<string, string>;
}

export interface ServiceSpec {
  kind: "Service" | "ServiceTemplate";
  name: string;
  environment: SpecEnvironmentEntry[];
  /** Key collections, in the order listed. */
  keyCollections: string[];
  pullSecret: string | undefined;
  variables: TemplateVariable[];
}

export class SpecError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "SpecError";
  }
}

/**
 * Reads a spec from YAML text; `file` is how errors name the source. Throws SpecError with one line:
 * `service.yaml:14: container.environment[2].secret.id: required`.
 */
export function parseSpec(text: string, file: string): ServiceSpec {
  if (Buffer.byteLength(text, "utf8") > MAX_SPEC_BYTES) throw new SpecError(`${file}: larger than ${MAX_SPEC_BYTES} bytes; a spec is a page of settings`);
  const lineCounter = new LineCounter();
  // prettyErrors would quote the offending source line, which may hold a literal value.
  const document = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const yamlError = document.errors[0];
  if (yamlError !== undefined) {
    const { line } = lineCounter.linePos(yamlError.pos[0]);
    throw new SpecError(`${file}:${line}: not valid YAML: ${yamlError.message}`);
  }
  let data: unknown;
  try {
    data = document.toJS({ maxAliasCount: MAX_ALIASES });
  } catch (error) {
    throw new SpecError(`${file}: not usable YAML: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (data === null || typeof data !== "object" || Array.isArray(data)) throw new SpecError(`${file}:1: the document must be a mapping (version, kind, metadata, container)`);

  const parsed = specSchema.safeParse(data, { error: describeIssue });
  if (!parsed.success) {
    const [first, ...rest] = parsed.error.issues;
    const issue = first!;
    const path = issue.code === "unrecognized_keys" ? [...issue.path, ...issue.keys.slice(0, 1)] : issue.path;
    const line = lineOf(document, lineCounter, path);
    const more = rest.length === 0 ? "" : ` (and ${rest.length} more ${rest.length === 1 ? "problem" : "problems"})`;
    throw new SpecError(`${file}:${line}: ${formatPath(issue.path) || "the document"}: ${issue.message}${more}`);
  }
  return fromRaw(parsed.data);
}

function fromRaw(raw: RawSpec): ServiceSpec {
  const environment = (raw.container?.environment ?? []).map((entry, index): SpecEnvironmentEntry => {
    const label = `container.environment[${index}] (${entry.name})`;
    if (entry.value !== undefined) return { name: entry.name, label, source: { kind: "value", value: entry.value } };
    if (entry.token !== undefined) {
      const { api } = entry.token;
      return {
        name: entry.name,
        label,
        source: {
          kind: "token",
          identity: entry.token.identity,
          api: Array.isArray(api) ? Object.fromEntries(api.map((grant) => [grant, {}])) : api,
          role: entry.token.role,
        },
      };
    }
    // The schema allows exactly one source, so this is the secret.
    const secret = entry.secret!;
    return { name: entry.name, label, source: { kind: "secret", identity: secret.identity, id: secret.id } };
  });
  return {
    kind: raw.kind,
    name: raw.metadata.name,
    environment,
    keyCollections: raw.container?.secrets ?? [],
    pullSecret: raw.container?.pull_secret,
    variables: (raw.variables ?? []).map((entry) => ({
      name: entry.name,
      description: entry.description,
      obscure: entry.obscure ?? false,
      optional: entry.optional ?? false,
      annotations: entry.annotations ?? {},
    })),
  };
}

/** `container.environment[2].secret.id`; keys that are not plain words are quoted: `annotations["meshagent.secret.id"]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let text = "";
  for (const segment of path) {
    if (typeof segment === "number") text += `[${segment}]`;
    else if (typeof segment === "string" && /^[A-Za-z_][A-Za-z0-9_-]*$/.test(segment)) text += text.length === 0 ? segment : `.${segment}`;
    else text += `[${JSON.stringify(String(segment))}]`;
  }
  return text;
}

/** The line of the deepest node on `path` that exists (a missing key is reported at its parent mapping). */
function lineOf(document: Document, lineCounter: LineCounter, path: readonly PropertyKey[]): number {
  for (let length = path.length; length >= 0; length--) {
    const node: unknown = length === 0 ? document.contents : document.getIn(path.slice(0, length), true);
    if (isNode(node) && node.range !== undefined && node.range !== null) return lineCounter.linePos(node.range[0]).line;
  }
  return 1;
}

const KIND_WORDS: Record<string, string> = {
  string: "a string",
  object: "a mapping",
  array: "a list",
  boolean: "true or false",
  number: "a number",
  record: "a mapping",
};

/** Messages in the words of a YAML file (mapping, list), never quoting what was found. */
function describeIssue(issue: z.core.$ZodRawIssue): string | undefined {
  switch (issue.code) {
    case "invalid_type":
      return issue.input === undefined ? "required" : `must be ${KIND_WORDS[issue.expected] ?? issue.expected}`;
    case "unrecognized_keys":
      return `unknown field${issue.keys.length === 1 ? "" : "s"} ${issue.keys.map((key) => JSON.stringify(key)).join(", ")}`;
    case "invalid_value":
      if (issue.input === undefined) return "required";
      return `must be ${issue.values.map((value) => JSON.stringify(value)).join(" or ")}`;
    case "too_small":
      if (issue.origin === "string") return Number(issue.minimum) <= 1 ? "must not be empty" : `must be at least ${String(issue.minimum)} characters`;
      return `must have at least ${String(issue.minimum)} entries`;
    case "too_big":
      if (issue.origin === "string") return `must be at most ${String(issue.maximum)} characters`;
      return `must have at most ${String(issue.maximum)} entries`;
    default:
      return undefined;
  }
}
