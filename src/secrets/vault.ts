/**
 * The vault: records sealed and opened with the keyring, bound to their keys. Handlers go through it so no handler
 * ever touches a store blob or a key directly.
 */
import type { Logger } from "pino";
import { RoombusError } from "../protocol/errors.js";
import { KeyringError, UnknownDataKeyError, type Keyring } from "./keyring.js";
import { canonicalKey, type RecordKey } from "./record-key.js";
import type { PutOptions, SecretStore, StoredRecord } from "./secret-store.js";

export const DEFAULT_SECRET_TYPE = "application/octet-stream";

export interface OpenedRecord {
  record: StoredRecord;
  data: Buffer;
}

export class Vault {
  /** A reload of the data keys in progress, shared by every read that met an unknown key meanwhile. */
  private refreshing: Promise<void> | undefined;

  /**
   * `refreshKeys` loads data keys made since start (a rotation, possibly by another node); a read that meets a blob
   * sealed with an unknown data key calls it once and tries again.
   */
  constructor(
    readonly store: SecretStore,
    readonly keyring: Keyring,
    private readonly logger: Logger,
    private readonly refreshKeys?: () => Promise<void>,
  ) {}

  /** Seals and writes a value; 1004 when `ifVersion: 0` meets an existing record, 1014 on a version mismatch. */
  async write(
    key: RecordKey,
    value: { data: Uint8Array; type: string; name?: string | undefined; authorizedBy?: string | undefined },
    options: PutOptions = {},
  ): Promise<number> {
    const sealed = this.keyring.seal(value.data, canonicalKey(key));
    const result = await this.guard(() =>
      this.store.putRecord(key, { name: value.name, type: value.type, sealed, authorizedBy: value.authorizedBy }, options),
    );
    if (result.ok) return result.version;
    if (result.reason === "exists") throw new RoombusError("already_exists", "a record with this key already exists");
    throw new RoombusError("conflict", "if_version does not match the stored version");
  }

  async read(key: RecordKey): Promise<OpenedRecord | undefined> {
    const record = await this.guard(() => this.store.getRecord(key));
    if (record === undefined) return undefined;
    try {
      return { record, data: await this.open(record.sealed, canonicalKey(key)) };
    } catch (error) {
      if (!(error instanceof KeyringError)) throw error;
      // Fail closed: a record that does not decrypt is never returned. The log names the key, not the value.
      this.logger.error({ kind: key.kind, room: key.room, owner: key.owner, reason: error.message }, "stored record does not decrypt");
      throw new RoombusError("operation_failed", "the stored value cannot be decrypted; ask an operator to check the encryption keys");
    }
  }

  /** Opens a blob, first loading the data keys again if it was sealed with one this node has not seen. */
  private async open(sealed: Uint8Array, aad: string): Promise<Buffer> {
    try {
      return this.keyring.open(sealed, aad);
    } catch (error) {
      if (!(error instanceof UnknownDataKeyError) || this.refreshKeys === undefined) throw error;
      this.refreshing ??= this.guard(this.refreshKeys).finally(() => {
        this.refreshing = undefined;
      });
      await this.refreshing;
      return this.keyring.open(sealed, aad);
    }
  }

  async exists(key: RecordKey): Promise<boolean> {
    return (await this.guard(() => this.store.getRecord(key))) !== undefined;
  }

  async delete(key: RecordKey): Promise<boolean> {
    return this.guard(() => this.store.deleteRecord(key));
  }

  /** Turns a store failure (disk, connection) into 1013, so the client knows to retry. */
  async guard<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      if (error instanceof RoombusError) throw error;
      this.logger.error({ err: error }, "secret store operation failed");
      throw new RoombusError("unavailable", "the secret store is unavailable; try again");
    }
  }
}
