/**
 * Encryption at rest (ARCHITECTURE.md "Secrets at rest"): AES-256-GCM with a 12-byte random nonce and a 16-byte tag.
 *
 * Two levels: master keys (ROOMBUS_ENCRYPTION_KEY, 32 bytes) wrap data keys; data keys encrypt records. The newest
 * data key encrypts; every data key the store holds still decrypts. Rotating makes a new data key and re-wraps every
 * data key under the current master key, so an old master key can then be retired without touching records.
 *
 * Blob layout: version (1) | data key id (4, big-endian) | nonce (12) | ciphertext | tag (16).
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes, randomFillSync } from "node:crypto";

export const BLOB_VERSION = 1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = 1 + 4 + NONCE_BYTES;
export const KEY_BYTES = 32;

export class KeyringError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "KeyringError";
  }
}

/** A blob sealed with a data key this keyring has not loaded (another node or `roombus keys rotate` made it). */
export class UnknownDataKeyError extends KeyringError {
  constructor(readonly dataKeyId: number) {
    super(`sealed with data key ${dataKeyId}, which this store does not have`);
    this.name = "UnknownDataKeyError";
  }
}

/** A master key: the 32 bytes and a short public id (a hash prefix) so a wrapped key says which master wraps it. */
export interface MasterKey {
  id: string;
  bytes: Buffer;
}

export function parseMasterKey(base64: string, variable = "ROOMBUS_ENCRYPTION_KEY"): MasterKey {
  const bytes = Buffer.from(base64.trim(), "base64");
  if (bytes.length !== KEY_BYTES || bytes.toString("base64").replace(/=+$/, "") !== base64.trim().replace(/=+$/, "")) {
    throw new KeyringError(`${variable}: must be exactly 32 bytes, base64-encoded (e.g. from "openssl rand -base64 32")`);
  }
  return { id: createHash("sha256").update(bytes).digest("hex").slice(0, 16), bytes };
}

export function newMasterKeyBase64(): string {
  return randomBytes(KEY_BYTES).toString("base64");
}

/** A data key as the store keeps it: wrapped (encrypted) under a master key. */
export interface WrappedDataKey {
  id: number;
  masterKeyId: string;
  wrapped: Uint8Array;
  createdAt: number;
}

/**
 * Random nonces are taken from a block filled by the CSPRNG 4 KiB at a time: the same randomness as randomBytes(12)
 * per seal, without a call into the CSPRNG for every write (it was a third of the cost of sealing a small value).
 */
const nonceBlock = Buffer.alloc(NONCE_BYTES * 341);
let nonceOffset = nonceBlock.length;

function nextNonce(): Buffer {
  if (nonceOffset + NONCE_BYTES > nonceBlock.length) {
    randomFillSync(nonceBlock);
    nonceOffset = 0;
  }
  // A copy: the block is refilled later, and a nonce must never change under a cipher or a blob that holds it.
  const nonce = Buffer.from(nonceBlock.subarray(nonceOffset, nonceOffset + NONCE_BYTES));
  nonceOffset += NONCE_BYTES;
  return nonce;
}

function seal(key: Buffer, plaintext: Uint8Array, aad: Uint8Array, header: Buffer): Buffer {
  const nonce = nextNonce();
  const cipher = createCipheriv("aes-256-gcm", key, nonce);
  cipher.setAAD(Buffer.concat([header, aad]));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([header, nonce, ciphertext, cipher.getAuthTag()]);
}

function open(key: Buffer, blob: Uint8Array, aad: Uint8Array, headerBytes: number): Buffer {
  if (blob.length < headerBytes + NONCE_BYTES + TAG_BYTES) throw new KeyringError("sealed value is truncated");
  const buffer = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  const header = buffer.subarray(0, headerBytes);
  const nonce = buffer.subarray(headerBytes, headerBytes + NONCE_BYTES);
  const ciphertext = buffer.subarray(headerBytes + NONCE_BYTES, buffer.length - TAG_BYTES);
  const tag = buffer.subarray(buffer.length - TAG_BYTES);
  const decipher = createDecipheriv("aes-256-gcm", key, nonce);
  decipher.setAAD(Buffer.concat([header, aad]));
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  } catch {
    // Never say more: the message reaches logs, and the cause is always "not this key, or not this data".
    throw new KeyringError("sealed value does not decrypt (tampered, moved, or sealed with another key)");
  }
}

const WRAP_AAD = Buffer.from("roombus.data-key.v1");

export function wrapDataKey(master: MasterKey, id: number, dataKey: Buffer, createdAt: number): WrappedDataKey {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(id);
  return { id, masterKeyId: master.id, wrapped: seal(master.bytes, dataKey, WRAP_AAD, header), createdAt };
}

export function unwrapDataKey(masters: readonly MasterKey[], wrapped: WrappedDataKey): Buffer {
  const master = masters.find((candidate) => candidate.id === wrapped.masterKeyId);
  if (master === undefined) {
    throw new KeyringError(
      `data key ${wrapped.id} is wrapped by master key ${wrapped.masterKeyId}, which is not configured ` +
        "(keep the old key in ROOMBUS_ENCRYPTION_KEYS_OLD until \"roombus keys rotate\" has re-wrapped it)",
    );
  }
  return open(master.bytes, wrapped.wrapped, WRAP_AAD, 4);
}

/** Encrypts and decrypts record values with the unwrapped data keys. */
export class Keyring {
  private readonly dataKeys = new Map<number, Buffer>();
  private newestId: number;
  private readonly auditKey: Buffer;

  constructor(
    readonly master: MasterKey,
    dataKeys: ReadonlyMap<number, Buffer>,
    newestId: number,
  ) {
    for (const [id, key] of dataKeys) this.dataKeys.set(id, key);
    if (!this.dataKeys.has(newestId)) throw new KeyringError("the newest data key is missing");
    this.newestId = newestId;
    this.auditKey = Buffer.from(hkdfSync("sha256", master.bytes, Buffer.alloc(0), "roombus audit hmac v1", 32));
  }

  get newestDataKeyId(): number {
    return this.newestId;
  }

  hasDataKey(id: number): boolean {
    return this.dataKeys.has(id);
  }

  /** Adds a data key that decrypts from now on. */
  learnDataKey(id: number, key: Buffer): void {
    this.dataKeys.set(id, key);
  }

  /** Seals with this (already known) data key from now on. */
  sealWith(id: number): void {
    if (!this.dataKeys.has(id)) throw new KeyringError(`data key ${id} is not loaded`);
    this.newestId = id;
  }

  /** Seals `plaintext` bound to `aad` (the canonical record key) with the newest data key. */
  seal(plaintext: Uint8Array, aad: string): Buffer {
    const header = Buffer.alloc(5);
    header.writeUInt8(BLOB_VERSION, 0);
    header.writeUInt32BE(this.newestId, 1);
    return seal(this.dataKeys.get(this.newestId)!, plaintext, Buffer.from(aad, "utf8"), header);
  }

  open(blob: Uint8Array, aad: string): Buffer {
    if (blob.length < HEADER_BYTES || blob[0] !== BLOB_VERSION) throw new KeyringError("unknown sealed value format");
    const id = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength).readUInt32BE(1);
    const key = this.dataKeys.get(id);
    if (key === undefined) throw new UnknownDataKeyError(id);
    return open(key, blob, Buffer.from(aad, "utf8"), 5);
  }

  /** The data key id a blob was sealed with (for rotation reports). */
  static dataKeyIdOf(blob: Uint8Array): number | undefined {
    if (blob.length < HEADER_BYTES || blob[0] !== BLOB_VERSION) return undefined;
    return Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength).readUInt32BE(1);
  }

  /** An HMAC of a value under the audit key: lets an auditor tell values apart without seeing them. */
  auditDigest(value: Uint8Array): string {
    return createHmac("sha256", this.auditKey).update(value).digest("base64url").slice(0, 22);
  }
}

export function newDataKey(): Buffer {
  return randomBytes(KEY_BYTES);
}

export function newDataKeyId(existing: Iterable<number>): number {
  const taken = new Set(existing);
  for (;;) {
    const id = randomBytes(4).readUInt32BE(0);
    if (id !== 0 && !taken.has(id)) return id;
  }
}
