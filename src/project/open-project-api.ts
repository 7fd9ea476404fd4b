/**
 * The project API as the server wires it: its store (SQLite beside the rooms' store on the embedded default, Redis in
 * cluster mode), sealed with the rooms' keyring, audited in the rooms' audit log, behind the rooms' token verifier.
 */
import type { Logger } from "pino";
import type { TokenVerifier } from "../auth/tokens.js";
import type { Keyring } from "../secrets/keyring.js";
import type { SecretStore } from "../secrets/secret-store.js";
import { createProjectHttpApi, type ProjectHttpApi } from "./http-api.js";
import { ProjectAudit } from "./project-audit.js";
import type { ProjectStore } from "./project-store.js";
import type { SigningSettings } from "./project-tokens.js";
import { ProjectVault } from "./project-vault.js";
import { createRedisProjectStore } from "./redis-project-store.js";
import { SqliteProjectStore } from "./sqlite-project-store.js";

export interface ProjectApiOptions {
  /** Redis in cluster mode; otherwise the SQLite file. */
  redisUrl: string | undefined;
  /** `redisUrl` names the seed nodes of a Redis Cluster. */
  redisCluster?: boolean | undefined;
  sqlitePath: string;
  /** Where audit records go: the rooms' store. */
  auditStore: SecretStore;
  keyring: Keyring;
  verifier: TokenVerifier;
  signing: SigningSettings;
  /** Loads data keys made since start (a rotation); called when a value was sealed with one this node lacks. */
  refreshKeys?: () => Promise<void>;
  logger: Logger;
}

export interface ProjectApiServer extends ProjectHttpApi {
  isHealthy(): boolean;
  close(): Promise<void>;
}

export async function openProjectApi(options: ProjectApiOptions): Promise<ProjectApiServer> {
  const store: ProjectStore =
    options.redisUrl === undefined
      ? new SqliteProjectStore(options.sqlitePath)
      : await createRedisProjectStore({ url: options.redisUrl, cluster: options.redisCluster, logger: options.logger });
  const api = createProjectHttpApi({
    vault: new ProjectVault(store, options.keyring, options.logger, options.refreshKeys),
    audit: new ProjectAudit(options.auditStore, options.keyring, options.logger),
    verifier: options.verifier,
    signing: options.signing,
    logger: options.logger,
  });
  return { ...api, isHealthy: () => store.isHealthy(), close: () => store.close() };
}
