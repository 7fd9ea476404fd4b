/** Turning what arrives from a room into lines for stdout. */

/** JSON on one line; binary values (msgpack bin) become base64 strings instead of Node's `{type: "Buffer"}`. */
export function jsonLine(value: unknown): string {
  return JSON.stringify(value, function (this: Record<string, unknown>, key: string, converted: unknown) {
    // `toJSON` has already run on `converted`; the holder still has the original value.
    const original = this[key];
    if (original instanceof Uint8Array) return base64(original);
    return converted;
  });
}

export function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}
