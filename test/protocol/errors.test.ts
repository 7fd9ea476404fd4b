import { describe, expect, it } from "vitest";
import { CLOSE_CODES, ERROR_CODES, errorFromWire, isRoombusError, RoombusError } from "../../src/protocol/errors.js";

describe("error and close codes match PROTOCOL.md §3", () => {
  it("lists every error code", () => {
    expect(ERROR_CODES).toEqual({
      permission_denied: 1001,
      invalid_request: 1002,
      not_found: 1003,
      already_exists: 1004,
      invalid_state: 1006,
      operation_failed: 1008,
      timeout: 1009,
      participant_gone: 1010,
      rate_limited: 1011,
      too_large: 1012,
      unavailable: 1013,
      conflict: 1014,
      internal: 1100,
    });
  });

  it("lists every close code", () => {
    expect(Object.values(CLOSE_CODES).sort()).toEqual([1000, 1001, 1003, 1009, 4400, 4401, 4403, 4408, 4429]);
  });
});

describe("RoombusError carries its code to the wire and back", () => {
  it("becomes {code, name, message}", () => {
    const error = new RoombusError("not_found", "no such record");
    expect(error.code).toBe(1003);
    expect(error.toWire()).toEqual({ code: 1003, name: "not_found", message: "no such record" });
    expect(isRoombusError(error)).toBe(true);
    expect(isRoombusError(new Error("x"))).toBe(false);
  });

  it("is rebuilt from a wire error by its code", () => {
    const rebuilt = errorFromWire({ code: 1014, name: "whatever", message: "version mismatch" });
    expect(rebuilt).toBeInstanceOf(RoombusError);
    expect(rebuilt.errorName).toBe("conflict");
    expect(rebuilt.message).toBe("version mismatch");
  });

  it("turns an unknown code into internal", () => {
    expect(errorFromWire({ code: 4242, name: "made_up", message: "?" }).code).toBe(1100);
  });
});
