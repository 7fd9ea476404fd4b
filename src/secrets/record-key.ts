/**
 * The key of a stored record (PROTOCOL.md §6). `delegatedTo` is part of the key: the same id stored for yourself
 * and delegated to someone else are two records. The canonical form of a key is the associated data of its
 * ciphertext, so a blob moved to another row fails to decrypt.
 */

export type RecordKey =
  | { kind: "secret"; room: string; owner: string; id: string; delegatedTo?: string | undefined }
  | { kind: "requested"; room: string; owner: string; url: string; type: string; delegatedTo?: string | undefined }
  | {
      kind: "oauth";
      room: string;
      owner: string;
      authorizationEndpoint: string;
      clientId: string;
      delegatedTo?: string | undefined;
    };

export type RecordKind = RecordKey["kind"];

/** The parts of the key after room and owner, in a fixed order. */
export function keyParts(key: RecordKey): [string, string] {
  switch (key.kind) {
    case "secret":
      return [key.id, ""];
    case "requested":
      return [key.url, key.type];
    case "oauth":
      return [key.authorizationEndpoint, key.clientId];
  }
}

/** A stable, unambiguous string for a key (JSON of a fixed-order array of strings). */
export function canonicalKey(key: RecordKey): string {
  return JSON.stringify(["roombus.record.v1", key.room, key.owner, key.kind, ...keyParts(key), key.delegatedTo ?? ""]);
}

/** The key as the audit log shows it: every field of the key, never a value. */
export function describeKey(key: RecordKey): Record<string, string> {
  const described: Record<string, string> = { kind: key.kind, owner: key.owner };
  switch (key.kind) {
    case "secret":
      described.id = key.id;
      break;
    case "requested":
      described.url = key.url;
      described.type = key.type;
      break;
    case "oauth":
      described.authorization_endpoint = key.authorizationEndpoint;
      described.client_id = key.clientId;
      break;
  }
  if (key.delegatedTo !== undefined) described.delegated_to = key.delegatedTo;
  return described;
}
