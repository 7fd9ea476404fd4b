/**
 * Every failure reason the decoders may give. Reasons are fixed strings, so checking membership in this set also
 * proves that no input value (which may be a secret) is ever echoed in one.
 */
export const CODEC_REASONS = new Set([
  "empty frame",
  "frame is not a map",
  "truncated frame",
  "reserved msgpack byte",
  "msgpack extension types are not accepted",
  "map keys must be strings",
  "length claim exceeds frame",
  "nesting too deep",
  "trailing bytes after the frame",
]);

export const REQUEST_REASONS = new Set([
  ...CODEC_REASONS,
  'unknown frame kind: `t` must be "req"',
  "`id` must be an unsigned 32-bit integer",
  "`op` must be a string",
  "`args` must be a map",
  "unexpected field in request frame",
]);
