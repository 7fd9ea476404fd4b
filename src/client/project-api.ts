/**
 * A client for the project REST API (docs/project-api.md): project secrets, key collections, image-pull secrets,
 * environment resolution and token minting, over `fetch` (Node 20 and browsers).
 *
 * @example
 * const api = new ProjectApi({ url: "ws://127.0.0.1:8765", token: process.env.ROOMBUS_TOKEN! });
 * const secret = await api.createSecret({ name: "STRIPE_KEY", value: "sk_live_…" });
 */

export interface ProjectSecret {
  id: string;
  name: string;
  scope: "all" | "agents";
  profile_ids: string[];
  version: number;
  created_at: number;
  updated_at: number;
}

export interface KeyCollection {
  id: string;
  name: string;
  keys: string[];
  version: number;
  created_at: number;
  updated_at: number;
}

export interface PullSecret {
  id: string;
  name: string;
  server: string;
  username: string;
  created_at: number;
  updated_at: number;
}

export interface ResolvedEnvironment {
  project: Record<string, string>;
  keys: Record<string, Record<string, string>>;
}

export interface DockerConfig {
  auths: Record<string, { auth: string }>;
}

/**
 * A failed call. `status` is the HTTP status, or 0 when no answer arrived (`code` "unreachable" or "timeout") or the
 * answer was not the API's (`code` "bad_response"). `field` names the bad field of a 400 or 404, as a JSON path.
 * The message is the server's (it never holds a value) or says what went wrong on the way.
 */
export class ProjectApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly field: string | undefined;

  constructor(status: number, code: string, message: string, field?: string) {
    super(message);
    this.name = "ProjectApiError";
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

export interface ProjectApiOptions {
  /** The server's base, http(s):// or ws(s):// (ws is mapped to http), e.g. ROOMBUS_URL. */
  url: string;
  /** A roombus token with `api.admin` for room "*". */
  token: string;
  /** How long one call may take, in ms (default 30 000). */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;

type Method = "GET" | "POST" | "PATCH" | "DELETE";

export class ProjectApi {
  private readonly base: string;
  private readonly token: string;
  private readonly timeoutMs: number;

  /**
   * Throws a ProjectApiError (status 0, code "invalid_url") for a URL that is not http(s) or ws(s).
   * @example new ProjectApi({ url: process.env.ROOMBUS_URL ?? "ws://127.0.0.1:8765", token })
   */
  constructor(options: ProjectApiOptions) {
    this.base = apiBase(options.url);
    this.token = options.token.trim();
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /** Stores a project secret; the answer never holds the value. @example await api.createSecret({ name: "DB_URL", value }) */
  createSecret(input: { name: string; value: string; scope?: "all" | "agents"; profile_ids?: string[] }): Promise<ProjectSecret> {
    return this.call<ProjectSecret>("POST", "/v1/secrets", input);
  }

  /** Every project secret, without values. @example const secrets = await api.listSecrets() */
  async listSecrets(): Promise<ProjectSecret[]> {
    return (await this.call<{ secrets: ProjectSecret[] }>("GET", "/v1/secrets")).secrets;
  }

  /** One project secret, without its value. @example await api.getSecret("sec_abc") */
  getSecret(id: string): Promise<ProjectSecret> {
    return this.call<ProjectSecret>("GET", `/v1/secrets/${encodeURIComponent(id)}`);
  }

  /**
   * Changes a secret's value, scope or profiles; with `ifVersion`, only when the stored version is that one (409).
   * @example await api.updateSecret(secret.id, { value: rotated }, { ifVersion: secret.version })
   */
  updateSecret(
    id: string,
    patch: { value?: string; scope?: "all" | "agents"; profile_ids?: string[] },
    options: { ifVersion?: number } = {},
  ): Promise<ProjectSecret> {
    return this.call<ProjectSecret>("PATCH", `/v1/secrets/${encodeURIComponent(id)}`, patch, ifMatch(options.ifVersion));
  }

  /**
   * Deletes a project secret (404 when there is none); with `ifVersion`, only at that version (409 otherwise).
   * @example await api.deleteSecret("sec_abc")
   */
  async deleteSecret(id: string, options: { ifVersion?: number } = {}): Promise<void> {
    await this.call("DELETE", `/v1/secrets/${encodeURIComponent(id)}`, undefined, ifMatch(options.ifVersion));
  }

  /** Stores a key collection (its keys become a service's environment variables). @example await api.createKeyCollection({ name: "weather", data: { API_KEY: key } }) */
  createKeyCollection(input: { name: string; data: Record<string, string> }): Promise<KeyCollection> {
    return this.call<KeyCollection>("POST", "/v1/keys", input);
  }

  /** Every key collection, with key names and never values. @example const collections = await api.listKeyCollections() */
  async listKeyCollections(): Promise<KeyCollection[]> {
    return (await this.call<{ keys: KeyCollection[] }>("GET", "/v1/keys")).keys;
  }

  /** Deletes a key collection by name. @example await api.deleteKeyCollection("weather") */
  async deleteKeyCollection(name: string): Promise<void> {
    await this.call("DELETE", `/v1/keys/${encodeURIComponent(name)}`);
  }

  /** Stores a registry credential for pulling images. @example await api.createPullSecret({ name: "acme", server: "registry.example.com", username, password }) */
  createPullSecret(input: { name: string; server: string; username: string; password: string }): Promise<PullSecret> {
    return this.call<PullSecret>("POST", "/v1/pull-secrets", input);
  }

  /** Every pull secret, without passwords. @example const pullSecrets = await api.listPullSecrets() */
  async listPullSecrets(): Promise<PullSecret[]> {
    return (await this.call<{ pull_secrets: PullSecret[] }>("GET", "/v1/pull-secrets")).pull_secrets;
  }

  /** Deletes a pull secret by name. @example await api.deletePullSecret("acme") */
  async deletePullSecret(name: string): Promise<void> {
    await this.call("DELETE", `/v1/pull-secrets/${encodeURIComponent(name)}`);
  }

  /**
   * The values a starting process gets: project secrets in scope for the profile, and the named key collections.
   * @example const env = await api.resolveEnvironment({ profile_id: "billing", keys: ["weather"] })
   */
  resolveEnvironment(input: { profile_id?: string; keys?: string[] }): Promise<ResolvedEnvironment> {
    return this.call<ResolvedEnvironment>("POST", "/v1/environment", input);
  }

  /** A pull secret as Docker's config.json (`{auths: {server: {auth}}}`), for whatever pulls images. @example await api.dockerConfig("acme") */
  dockerConfig(pullSecretName: string): Promise<DockerConfig> {
    return this.call<DockerConfig>("POST", `/v1/pull-secrets/${encodeURIComponent(pullSecretName)}/docker-config`, {});
  }

  /**
   * Mints a participant token with the server's signing key (409 when the server only verifies external tokens).
   * @example const { token } = await api.mintToken({ room: "demo", identity: "worker", api: { messaging: {} } })
   */
  mintToken(input: {
    room: string;
    identity: string;
    role?: string;
    api?: Record<string, unknown>;
    ttl_s?: number;
  }): Promise<{ token: string; expires_at: number }> {
    return this.call<{ token: string; expires_at: number }>("POST", "/v1/tokens", input);
  }

  private async call<T>(method: Method, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
    let response: Response;
    try {
      response = await fetch(`${this.base}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          accept: "application/json",
          ...(body === undefined ? {} : { "content-type": "application/json" }),
          ...headers,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      throw unreachable(this.base, error, this.timeoutMs);
    }
    if (response.status === 204) return undefined as T;
    const text = await response.text();
    const parsed = parseJson(text);
    if (response.ok) {
      if (parsed === undefined) throw new ProjectApiError(0, "bad_response", `${method} ${path}: the answer is not JSON`);
      return parsed as T;
    }
    throw errorFrom(response.status, parsed, method, path);
  }
}

function ifMatch(version: number | undefined): Record<string, string> {
  return version === undefined ? {} : { "if-match": `"${version}"` };
}

/** `ws://host:port[/prefix]` → `http://host:port[/prefix]`, without a trailing slash. */
function apiBase(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ProjectApiError(0, "invalid_url", "the server URL is not a URL: use http://HOST:PORT or ws://HOST:PORT");
  }
  const protocols: Record<string, string> = { "ws:": "http:", "wss:": "https:", "http:": "http:", "https:": "https:" };
  const protocol = protocols[parsed.protocol];
  if (protocol === undefined) {
    throw new ProjectApiError(0, "invalid_url", `the server URL must be http(s):// or ws(s)://, not ${parsed.protocol}//`);
  }
  return `${protocol}//${parsed.host}${parsed.pathname.replace(/\/+$/, "")}`;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function errorFrom(status: number, body: unknown, method: Method, path: string): ProjectApiError {
  const error = (body as { error?: unknown } | undefined)?.error;
  if (typeof error === "object" && error !== null) {
    const { code, message, field } = error as { code?: unknown; message?: unknown; field?: unknown };
    if (typeof code === "string" && typeof message === "string") {
      return new ProjectApiError(status, code, message, typeof field === "string" ? field : undefined);
    }
  }
  // Not the API's error shape: a proxy, or a server without the project API.
  const code = status === 404 ? "not_found" : status === 401 ? "unauthorized" : status === 403 ? "forbidden" : "bad_response";
  return new ProjectApiError(status, code, `${method} ${path} answered HTTP ${status}: is this a roombus server with the project API?`);
}

function unreachable(base: string, error: unknown, timeoutMs: number): ProjectApiError {
  if (error instanceof DOMException && error.name === "TimeoutError") {
    return new ProjectApiError(0, "timeout", `no answer from ${base} within ${timeoutMs} ms`);
  }
  const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
  const detail = typeof cause?.code === "string" ? cause.code : error instanceof Error ? error.message : String(error);
  return new ProjectApiError(0, "unreachable", `cannot reach ${base} (${detail}): check that a roombus server runs there`);
}
