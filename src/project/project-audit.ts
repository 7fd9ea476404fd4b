/**
 * Audit records of the project API, in the rooms' audit log (SecretStore.appendAudit), under the room marker "*":
 * `roombus audit --room '*'` prints them. Like room secrets ops, a record names who did what to which record and how
 * it ended, never a value; a write carries an HMAC of the value under the audit key.
 */
import type { Logger } from "pino";
import type { Keyring } from "../secrets/keyring.js";
import type { AuditEntry, SecretStore } from "../secrets/secret-store.js";

/** The `room` of every project audit record: no room name can be "*" (ROOM_NAME_PATTERN), and tokens use it for "every room". */
export const PROJECT_AUDIT_ROOM = "*";
/** The `participant_id` of a record written for an HTTP call (there is no room session). */
export const HTTP_PARTICIPANT = "http";

export interface ProjectAuditEntry {
  op: string;
  actor: string;
  target: Record<string, string>;
  valueDigest?: string | undefined;
}

export class ProjectAudit {
  constructor(
    private readonly store: Pick<SecretStore, "appendAudit">,
    private readonly keyring: Keyring,
    private readonly logger: Logger,
  ) {}

  /** An HMAC of a value, for the record of a write. */
  digest(value: Uint8Array | string): string {
    return this.keyring.auditDigest(typeof value === "string" ? Buffer.from(value, "utf8") : value);
  }

  async append(entry: ProjectAuditEntry, at: number, outcome: string, errorStatus?: number): Promise<void> {
    const record: AuditEntry = {
      at,
      room: PROJECT_AUDIT_ROOM,
      actor: entry.actor,
      participantId: HTTP_PARTICIPANT,
      op: entry.op,
      target: entry.target,
      outcome,
      errorCode: errorStatus,
      valueDigest: entry.valueDigest,
    };
    try {
      await this.store.appendAudit(record);
    } catch (error) {
      // The call itself already happened; refusing to answer would not undo it. Make the gap loud instead.
      this.logger.error({ err: error, op: record.op, actor: record.actor }, "could not write an audit record");
    }
  }
}
