import { describe, expect, it } from "vitest";
import type { Grants, OAuthAllowEntry } from "../../src/auth/grants.js";
import {
  actingIdentity,
  canJoinRoom,
  hasApi,
  isOAuthEndpointAllowed,
  requireActingIdentity,
  requireApi,
} from "../../src/auth/permissions.js";
import { RoombusError } from "../../src/protocol/errors.js";

function grants(overrides: Partial<Grants> = {}): Grants {
  return { identity: "alice", room: "lobby", role: "user", api: {}, expiresAt: 0, ...overrides };
}

/** Runs `action` and returns what it threw, failing when it does not throw. */
function thrownBy(action: () => unknown): unknown {
  try {
    action();
  } catch (error) {
    return error;
  }
  throw new Error("expected a throw");
}

describe("canJoinRoom", () => {
  it.each([
    ["lobby", "lobby", true],
    ["lobby", "other", false],
    ["lobby", "Lobby", false],
    ["lobby", "lobby2", false],
    ["lobb", "lobby", false],
    ["*", "lobby", true],
    ["*", "any.room-name_1", true],
  ])("a token for %j joining %j → %s", (tokenRoom, room, expected) => {
    expect(canJoinRoom(grants({ room: tokenRoom }), room)).toBe(expected);
  });
});

describe("hasApi and requireApi", () => {
  const full = grants({ api: { messaging: {}, toolkits: {}, admin: {}, secrets: {} } });
  const none = grants();
  const cases = [
    ["messaging", true, full],
    ["toolkits", true, full],
    ["admin", true, full],
    ["secrets", true, full],
    ["messaging", false, none],
    ["toolkits", false, none],
    ["admin", false, none],
    ["secrets", false, none],
    ["secrets", true, grants({ api: { secrets: { request_oauth_token: null } } })],
    ["secrets", false, grants({ api: { messaging: {} } })],
    ["admin", false, grants({ api: { messaging: {}, secrets: {} } })],
  ] as const;

  it.each(cases)("hasApi(%s) → %s", (api, expected, g) => {
    expect(hasApi(g, api)).toBe(expected);
  });

  it("treats a null grant as absent", () => {
    expect(hasApi(grants({ api: { messaging: null as unknown as object } }), "messaging")).toBe(false);
  });

  it.each(cases.filter(([, expected]) => expected))("requireApi(%s) passes", (api, _, g) => {
    expect(() => requireApi(g, api)).not.toThrow();
  });

  it.each(cases.filter(([, expected]) => !expected))("requireApi(%s) throws permission_denied (1001)", (api, _, g) => {
    const error = thrownBy(() => requireApi(g, api));
    expect(error).toBeInstanceOf(RoombusError);
    expect(error).toMatchObject({ code: 1001, errorName: "permission_denied" });
  });
});

describe("actingIdentity and requireActingIdentity (for_identity)", () => {
  const user = grants({ identity: "alice" });
  const admin = grants({ identity: "alice", api: { admin: {} } });

  it.each([
    ["no for_identity, no admin", "alice", user, undefined],
    ["no for_identity, admin", "alice", admin, undefined],
    ["for_identity naming self, no admin", "alice", user, "alice"],
    ["for_identity naming self, admin", "alice", admin, "alice"],
    ["for_identity naming another, admin", "bob", admin, "bob"],
  ] as const)("%s → acts as %s", (_, expected, g, forIdentity) => {
    expect(actingIdentity(g, forIdentity)).toBe(expected);
    expect(requireActingIdentity(g, forIdentity)).toBe(expected);
  });

  it.each([
    ["another identity", "bob"],
    ["an identity that differs only in case", "Alice"],
    ["an empty identity", ""],
  ])("refuses %s without admin", (_, forIdentity) => {
    expect(actingIdentity(user, forIdentity)).toBeUndefined();
    const error = thrownBy(() => requireActingIdentity(user, forIdentity));
    expect(error).toBeInstanceOf(RoombusError);
    expect(error).toMatchObject({ code: 1001 });
  });

  it("does not count other grants as admin", () => {
    const broad = grants({ api: { messaging: {}, toolkits: {}, secrets: {} } });
    expect(actingIdentity(broad, "bob")).toBeUndefined();
  });
});

describe("isOAuthEndpointAllowed", () => {
  const withList = (list: OAuthAllowEntry[] | null | undefined) =>
    grants({ api: { secrets: list === undefined ? {} : { request_oauth_token: list } } });
  const AUTH = "https://auth.example/oauth/authorize";
  const entries: OAuthAllowEntry[] = [
    { endpoint: AUTH, client_id: "app" },
    { endpoint: "https://other.example/*", client_id: "wild" },
    { endpoint: "https://prefix.example/oauth", client_id: "noStar" },
  ];

  it.each([
    ["no secrets grant at all", true, grants(), AUTH, "anything"],
    ["absent allow-list", true, withList(undefined), "https://anywhere.example", "anything"],
    ["null allow-list", true, withList(null), "https://anywhere.example", "anything"],
    ["empty allow-list", false, withList([]), AUTH, "app"],
    ["exact endpoint and client", true, withList(entries), AUTH, "app"],
    ["exact endpoint, other client", false, withList(entries), AUTH, "other"],
    ["exact entry, longer url", false, withList(entries), `${AUTH}/more`, "app"],
    ["exact entry, query added", false, withList(entries), `${AUTH}?x=1`, "app"],
    ["exact entry, shorter url", false, withList(entries), "https://auth.example/oauth", "app"],
    ["prefix entry, matching url", true, withList(entries), "https://other.example/authorize", "wild"],
    ["prefix entry, the bare prefix", true, withList(entries), "https://other.example/", "wild"],
    ["prefix entry, client mismatch", false, withList(entries), "https://other.example/authorize", "app"],
    ["prefix entry, other host", false, withList(entries), "https://evil.example/other.example/", "wild"],
    ["prefix entry, url missing the slash", false, withList(entries), "https://other.example", "wild"],
    ["entry without *, longer url", false, withList(entries), "https://prefix.example/oauth/authorize", "noStar"],
    ["entry without *, lookalike host", false, withList(entries), "https://prefix.example/oauth.evil", "noStar"],
    ["entry without *, exact url", true, withList(entries), "https://prefix.example/oauth", "noStar"],
    ["client id is compared exactly", false, withList(entries), AUTH, "APP"],
  ] as const)("%s → %s", (_, expected, g, endpoint, clientId) => {
    expect(isOAuthEndpointAllowed(g, endpoint, clientId)).toBe(expected);
  });
});
