import { describe, expect, it } from "vitest";
import { grantsFromClaims, tokenClaims } from "../../src/auth/grants.js";

describe("grantsFromClaims turns parsed claims into grants", () => {
  it("converts exp to milliseconds and applies the defaults", () => {
    const claims = tokenClaims.parse({ sub: "alice", room: "lobby", exp: 1_900_000_000, iat: 1, iss: "i", aud: "a" });
    expect(grantsFromClaims(claims)).toEqual({
      identity: "alice",
      room: "lobby",
      role: "user",
      api: {},
      expiresAt: 1_900_000_000_000,
    });
  });

  it("keeps jti when present", () => {
    const claims = tokenClaims.parse({ sub: "alice", room: "*", exp: 1, jti: "abc" });
    expect(grantsFromClaims(claims).jti).toBe("abc");
  });

  it("drops api names it does not know and keeps the known ones", () => {
    const claims = tokenClaims.parse({ sub: "alice", room: "*", exp: 1, api: { messaging: {}, superuser: {} } });
    expect(grantsFromClaims(claims).api).toEqual({ messaging: {} });
  });
});
