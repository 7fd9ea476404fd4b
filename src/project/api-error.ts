/**
 * The project API's one error type. Anything a route throws becomes `{"error": {code, message, field?}}` with this
 * status; anything else becomes 500 `internal` with a correlation id in the log. A message says what to do and
 * never holds a value.
 */

export type ApiErrorCode =
  | "invalid_request"
  | "unauthorized"
  | "forbidden"
  | "not_found"
  | "method_not_allowed"
  | "conflict"
  | "too_large"
  | "internal"
  | "unavailable";

export const API_ERROR_STATUS: Record<ApiErrorCode, number> = {
  invalid_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  too_large: 413,
  internal: 500,
  unavailable: 503,
};

export class ApiError extends Error {
  readonly status: number;

  constructor(
    readonly code: ApiErrorCode,
    message: string,
    /** The JSON path of the bad field (`profile_ids[2]`, `data.API_KEY`), or a header name. */
    readonly field?: string,
  ) {
    super(message);
    this.name = "ApiError";
    this.status = API_ERROR_STATUS[code];
  }

  toJSON(): { error: { code: string; message: string; field?: string } } {
    return { error: { code: this.code, message: this.message, ...(this.field === undefined ? {} : { field: this.field }) } };
  }
}

/** A JSON path from a zod issue path: `profile_ids[2]`, `data.API_KEY`, `data["odd key"]`. */
export function jsonPath(path: readonly PropertyKey[]): string {
  let text = "";
  for (const part of path) {
    if (typeof part === "number") text += `[${part}]`;
    else if (typeof part === "string" && /^[A-Za-z_][A-Za-z0-9_]*$/.test(part)) text += text === "" ? part : `.${part}`;
    else text += `[${JSON.stringify(String(part).slice(0, 64))}]`;
  }
  return text;
}
