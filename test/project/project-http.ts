/** Calling the project API of a test node over real HTTP, with the answer typed as the test expects it. */
import type { KeyCollection, ProjectSecret, PullSecret } from "../../src/client/project-api.js";
import type { TestNode } from "../helpers/start-test-node.js";

export type { DockerConfig, KeyCollection, ProjectSecret, PullSecret, ResolvedEnvironment } from "../../src/client/project-api.js";

export interface ErrorBody {
  error: { code: string; message: string; field?: string };
}
export interface SecretList {
  secrets: ProjectSecret[];
}
export interface KeyCollectionList {
  keys: KeyCollection[];
}
export interface PullSecretList {
  pull_secrets: PullSecret[];
}
export interface MintedToken {
  token: string;
  expires_at: number;
  jti: string;
}

export interface HttpAnswer<T = unknown> {
  status: number;
  headers: Headers;
  text: string;
  /** The body parsed as JSON (undefined for an empty body), typed as the caller expects it to be. */
  json: T;
}

export interface CallOptions {
  token?: string | undefined;
  /** An object is sent as JSON; a string is sent as it is. */
  body?: unknown;
  headers?: Record<string, string>;
}

export async function callApi<T = unknown>(node: TestNode, method: string, path: string, options: CallOptions = {}): Promise<HttpAnswer<T>> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.body !== undefined) {
    body = typeof options.body === "string" ? options.body : JSON.stringify(options.body);
    headers["content-type"] ??= "application/json";
  }
  const response = await fetch(`${node.server.httpUrl}${path}`, { method, headers, body });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, json: (text.length === 0 ? undefined : JSON.parse(text)) as T };
}

/** A project admin's token: the admin grant for every room. */
export function adminToken(node: TestNode, identity = "ops"): Promise<string> {
  return node.token(identity, { room: "*", api: ["admin"] });
}

/** The error of an answer that should be one. */
export function errorOf(answer: HttpAnswer): ErrorBody["error"] {
  return (answer.json as ErrorBody).error;
}
