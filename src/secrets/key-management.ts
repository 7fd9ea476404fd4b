/** Loading the keyring from a store at start, and rotating it (`roombus keys rotate`). */
import { createHash, hkdfSync } from "node:crypto";
import {
  Keyring,
  KeyringError,
  newDataKey,
  newDataKeyId,
  unwrapDataKey,
  wrapDataKey,
  type MasterKey,
} from "./keyring.js";
import type { SecretStore } from "./secret-store.js";

/**
 * Opens the keyring: unwraps every stored data key with whichever configured master key wrapped it. On a new store,
 * creates the first data key. `masters[0]` is the current master key; the rest are old ones that still unwrap.
 */
export async function openKeyring(store: SecretStore, masters: readonly MasterKey[]): Promise<Keyring> {
  const current = masters[0];
  if (current === undefined) throw new KeyringError("no encryption key configured");
  const { keys, newestId } = await store.loadDataKeys();
  if (keys.length === 0 || newestId === undefined) {
    // Derived, not random: nodes of a cluster that start together on an empty store each write this first key, and
    // whichever write lands, they all hold the same key under the same id.
    const id = createHash("sha256").update(current.bytes).update("roombus first data key id").digest().readUInt32BE(0) || 1;
    const dataKey = Buffer.from(hkdfSync("sha256", current.bytes, Buffer.alloc(0), "roombus first data key v1", 32));
    await store.saveDataKeys([wrapDataKey(current, id, dataKey, Date.now())], id);
    return new Keyring(current, new Map([[id, dataKey]]), id);
  }
  const unwrapped = new Map<number, Buffer>();
  for (const wrapped of keys) unwrapped.set(wrapped.id, unwrapDataKey(masters, wrapped));
  return new Keyring(current, unwrapped, newestId);
}

/**
 * Loads data keys this keyring does not hold yet (a rotation by `roombus keys rotate` or by another node of the
 * cluster) and starts sealing with the store's newest one, so every node converges on the rotated key.
 */
export async function refreshKeyring(keyring: Keyring, store: SecretStore, masters: readonly MasterKey[]): Promise<void> {
  const { keys, newestId } = await store.loadDataKeys();
  for (const wrapped of keys) {
    if (!keyring.hasDataKey(wrapped.id)) keyring.learnDataKey(wrapped.id, unwrapDataKey(masters, wrapped));
  }
  if (newestId !== undefined && keyring.hasDataKey(newestId)) keyring.sealWith(newestId);
}

export interface RotationReport {
  newDataKeyId: number;
  dataKeys: number;
  /** How many data keys were wrapped by a master key other than the current one before this rotation. */
  rewrapped: number;
}

/**
 * Rotation: a new data key encrypts from now on; every data key (old ones still decrypt existing records) is
 * re-wrapped under the current master key, so old master keys can be removed from the configuration afterwards.
 */
export async function rotateKeys(store: SecretStore, masters: readonly MasterKey[]): Promise<RotationReport> {
  const current = masters[0];
  if (current === undefined) throw new KeyringError("no encryption key configured");
  const { keys } = await store.loadDataKeys();
  const now = Date.now();
  const rewrappedKeys = keys.map((wrapped) => wrapDataKey(current, wrapped.id, unwrapDataKey(masters, wrapped), wrapped.createdAt));
  const id = newDataKeyId(keys.map((key) => key.id));
  rewrappedKeys.push(wrapDataKey(current, id, newDataKey(), now));
  await store.saveDataKeys(rewrappedKeys, id);
  return {
    newDataKeyId: id,
    dataKeys: rewrappedKeys.length,
    rewrapped: keys.filter((key) => key.masterKeyId !== current.id).length,
  };
}
