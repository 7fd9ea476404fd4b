/** Schema pieces shared by several ops and events. */
import { z } from "zod";
import {
  MAX_ATTRIBUTE_KEYS,
  MAX_NAME_CHARS,
  MAX_SECRET_BYTES,
  MAX_TEXT_CHARS,
  MAX_TIMEOUT_MS,
} from "./limits.js";

export const ROOM_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export const IDENTITY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;

export const roomName = z.string().regex(ROOM_NAME_PATTERN);
export const identity = z.string().regex(IDENTITY_PATTERN);
export const name = z.string().min(1).max(MAX_NAME_CHARS);
export const text = z.string().max(MAX_TEXT_CHARS);
export const id = z.string().min(1).max(MAX_NAME_CHARS);
export const timeoutMs = z.int().min(1).max(MAX_TIMEOUT_MS);
export const role = z.enum(["user", "agent", "tool"]);
export type Role = z.infer<typeof role>;

/** Marks the issue of a binary value over its limit, so the router answers 1012 `too_large` rather than 1002. */
export const TOO_LARGE = "too_large";

/** msgpack bin; Buffer is a Uint8Array too. */
export function bin(maxBytes: number) {
  return z
    .custom<Uint8Array>((value) => value instanceof Uint8Array, { message: "expected binary data (msgpack bin)" })
    .refine((value) => value.byteLength <= maxBytes, {
      message: `binary data over its limit of ${maxBytes} bytes`,
      params: { reason: TOO_LARGE },
    });
}
export const secretData = bin(MAX_SECRET_BYTES);

/** A map with string keys and any msgpack values; the frame size limit bounds what is inside. */
export const freeMap = z.record(z.string().max(MAX_NAME_CHARS), z.unknown());
export const attributes = freeMap.refine((value) => Object.keys(value).length <= MAX_ATTRIBUTE_KEYS, {
  message: `at most ${MAX_ATTRIBUTE_KEYS} attributes`,
});

export const participant = z.strictObject({
  id,
  identity,
  role,
  attributes: freeMap,
});
export type Participant = z.infer<typeof participant>;

export const empty = z.strictObject({});
