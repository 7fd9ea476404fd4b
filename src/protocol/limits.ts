/** Size limits of PROTOCOL.md §2. The frame limit is configurable per server; the others are part of the schemas. */
export const DEFAULT_MAX_FRAME_BYTES = 256 * 1024;
export const MAX_SECRET_BYTES = 64 * 1024;
export const MAX_NAME_CHARS = 256;
/** Free text (prompts, error messages, reasons) may be longer than a name but stays bounded. */
export const MAX_TEXT_CHARS = 4096;
/** Nesting deeper than this is refused by the decoder before any object is built. */
export const MAX_DEPTH = 32;
export const MAX_ATTRIBUTE_KEYS = 64;
export const MAX_TOOLS = 256;
export const MAX_TIMEOUT_MS = 30 * 60 * 1000;
