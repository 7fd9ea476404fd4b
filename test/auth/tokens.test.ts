import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { CompactSign, exportJWK, exportSPKI, generateKeyPair, SignJWT, type JWTPayload } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CLOCK_TOLERANCE_SECONDS,
  createTokenVerifier,
  mintToken,
  TokenError,
  type TokenFailure,
  type TokenKey,
  type TokenVerifier,
} from "../../src/auth/tokens.js";

const ISSUER = "https://issuer.roombus.test";
const AUDIENCE = "roombus";
const SECRET = new TextEncoder().encode("0123456789abcdef0123456789abcdef");
const NOW = new Date("2030-06-01T12:00:00Z");
const NOW_S = NOW.getTime() / 1000;

type SigningKey = Parameters<SignJWT["sign"]>[0];
type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;

/** A clock fixed `offsetSeconds` after NOW. */
const at = (offsetSeconds: number) => () => new Date(NOW.getTime() + offsetSeconds * 1000);

function verifierFor(key: TokenKey, clock: () => Date = at(0)): TokenVerifier {
  return createTokenVerifier({ key, issuer: ISSUER, audience: AUDIENCE }, clock);
}
const shared = (clock?: () => Date) => verifierFor({ kind: "shared-secret", secret: SECRET }, clock);

/** Valid claims, with `overrides` applied; an override of `undefined` leaves the claim out. */
function claims(overrides: Record<string, unknown> = {}): JWTPayload {
  const all: Record<string, unknown> = {
    sub: "alice",
    room: "lobby",
    iss: ISSUER,
    aud: AUDIENCE,
    iat: NOW_S,
    exp: NOW_S + 600,
    ...overrides,
  };
  return Object.fromEntries(Object.entries(all).filter(([, value]) => value !== undefined));
}

function sign(payload: JWTPayload, key: SigningKey = SECRET, alg = "HS256", kid?: string): Promise<string> {
  return new SignJWT(payload).setProtectedHeader(kid === undefined ? { alg, typ: "JWT" } : { alg, typ: "JWT", kid }).sign(key);
}

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

/** Verifies and returns the TokenError it rejects with; fails the test when it resolves or throws anything else. */
async function failure(verifier: TokenVerifier, token: string): Promise<TokenError> {
  let outcome: unknown;
  try {
    outcome = await verifier.verify(token);
  } catch (error) {
    expect(error).toBeInstanceOf(TokenError);
    return error as TokenError;
  }
  throw new Error(`expected a TokenError, got grants ${JSON.stringify(outcome)}`);
}

async function expectReason(verifier: TokenVerifier, token: string, reason: TokenFailure): Promise<void> {
  expect((await failure(verifier, token)).reason).toBe(reason);
}

let es256: KeyPair;
let es256Other: KeyPair;
let ed25519: KeyPair;
let ed25519Other: KeyPair;
let rsa: KeyPair;
let es256Pem: string;
let ed25519Pem: string;
let rsaPem: string;

beforeAll(async () => {
  [es256, es256Other, ed25519, ed25519Other, rsa] = await Promise.all([
    generateKeyPair("ES256"),
    generateKeyPair("ES256"),
    generateKeyPair("EdDSA"),
    generateKeyPair("EdDSA"),
    generateKeyPair("RS256"),
  ]);
  [es256Pem, ed25519Pem, rsaPem] = await Promise.all([
    exportSPKI(es256.publicKey),
    exportSPKI(ed25519.publicKey),
    exportSPKI(rsa.publicKey),
  ]);
});

describe("verify: a valid token yields its grants", () => {
  it("reads back everything mintToken puts in", async () => {
    const oauthAllowList = [{ endpoint: "https://auth.example/*", client_id: "app" }];
    const token = await mintToken(
      { secret: SECRET, issuer: ISSUER, audience: AUDIENCE },
      { identity: "agent:7", room: "lobby", role: "agent", api: ["messaging", "secrets", "admin"], oauthAllowList, ttlSeconds: 600, jti: "j-1", now: NOW },
    );
    expect(await shared().verify(token)).toEqual({
      identity: "agent:7",
      room: "lobby",
      role: "agent",
      api: { messaging: {}, secrets: { request_oauth_token: oauthAllowList }, admin: {} },
      // exp plus the default 30 s clock tolerance: the last moment the token is accepted.
      expiresAt: (NOW_S + 600 + 30) * 1000,
      jti: "j-1",
    });
  });

  it("accepts the room claim \"*\"", async () => {
    expect((await shared().verify(await sign(claims({ room: "*" })))).room).toBe("*");
  });

  it("accepts a room name", async () => {
    expect((await shared().verify(await sign(claims({ room: "team-42.dev_x" })))).room).toBe("team-42.dev_x");
  });

  it("defaults the role to user", async () => {
    expect((await shared().verify(await sign(claims()))).role).toBe("user");
  });

  it.each(["user", "agent", "tool"])("keeps the role %s", async (role) => {
    expect((await shared().verify(await sign(claims({ role })))).role).toBe(role);
  });

  it("defaults api to no grants and leaves jti out when absent", async () => {
    const grants = await shared().verify(await sign(claims()));
    expect(grants.api).toEqual({});
    expect(grants).not.toHaveProperty("jti");
  });

  it("parses api grants, including a null OAuth allow-list", async () => {
    const api = {
      messaging: {},
      toolkits: {},
      secrets: { request_oauth_token: null },
    };
    expect((await shared().verify(await sign(claims({ api })))).api).toEqual(api);
    const listed = { secrets: { request_oauth_token: [{ endpoint: "https://a.example/auth", client_id: "c" }] } };
    expect((await shared().verify(await sign(claims({ api: listed })))).api).toEqual(listed);
  });

  it("accepts an audience list that contains ours", async () => {
    expect((await shared().verify(await sign(claims({ aud: ["other", AUDIENCE] })))).identity).toBe("alice");
  });
});

describe("verify: missing and malformed tokens", () => {
  it("refuses an empty token as missing", async () => {
    await expectReason(shared(), "", "missing");
  });

  it.each(["abc", "a.b", "a.b.c", "....", "not a jwt at all", `${base64url({ alg: "HS256" })}.${base64url(claims())}`])(
    "refuses %j as malformed",
    async (token) => {
      await expectReason(shared(), token, "malformed");
    },
  );
});

describe("verify: a validly signed token whose payload is not a JSON claims set", () => {
  it("is refused as malformed", async () => {
    const token = await new CompactSign(new TextEncoder().encode("not json")).setProtectedHeader({ alg: "HS256" }).sign(SECRET);
    await expectReason(shared(), token, "malformed");
  });
});

describe("verify: alg none is refused", () => {
  const noneToken = (alg: string, signature = "") => `${base64url({ alg, typ: "JWT" })}.${base64url(claims())}.${signature}`;

  it.each(["none", "None", "NONE"])("refuses alg %j with an empty signature by a shared-secret verifier", async (alg) => {
    await expectReason(shared(), noneToken(alg), "bad_signature");
  });

  it("refuses alg none with a non-empty signature", async () => {
    await expectReason(shared(), noneToken("none", "c2ln"), "bad_signature");
  });

  it("refuses alg none by a public-key verifier", async () => {
    await expectReason(verifierFor({ kind: "public-key", pem: es256Pem }), noneToken("none"), "bad_signature");
  });
});

describe("verify: only the allowed algorithms are accepted", () => {
  it.each(["HS384", "HS512"])("refuses %s signed with the right shared secret", async (alg) => {
    await expectReason(shared(), await sign(claims(), SECRET, alg), "bad_signature");
  });

  it("refuses RS256 even when the verifier holds that RSA public key", async () => {
    await expectReason(verifierFor({ kind: "public-key", pem: rsaPem }), await sign(claims(), rsa.privateKey, "RS256"), "bad_signature");
  });

  it("refuses RS256 and ES256 tokens at a shared-secret verifier", async () => {
    await expectReason(shared(), await sign(claims(), rsa.privateKey, "RS256"), "bad_signature");
    await expectReason(shared(), await sign(claims(), es256.privateKey, "ES256"), "bad_signature");
  });

  it("refuses an HS256 token at a public-key verifier", async () => {
    await expectReason(verifierFor({ kind: "public-key", pem: es256Pem }), await sign(claims()), "bad_signature");
  });
});

describe("verify: HS256 signed with the configured public key's PEM bytes is refused (key confusion)", () => {
  it.each([
    ["ES256", () => es256Pem],
    ["EdDSA", () => ed25519Pem],
    ["RSA", () => rsaPem],
  ])("with an %s public key", async (_, pem) => {
    const forged = await sign(claims(), new TextEncoder().encode(pem()), "HS256");
    await expectReason(verifierFor({ kind: "public-key", pem: pem() }), forged, "bad_signature");
  });
});

describe("verify: signatures must verify", () => {
  it("refuses HS256 with the wrong secret", async () => {
    const wrong = new TextEncoder().encode("another-secret-another-secret-xx");
    await expectReason(shared(), await sign(claims(), wrong), "bad_signature");
  });

  it("refuses a token whose payload was changed after signing", async () => {
    const [header, , signature] = (await sign(claims())).split(".");
    const tampered = `${header}.${base64url(claims({ sub: "mallory" }))}.${signature}`;
    await expectReason(shared(), tampered, "bad_signature");
  });

  it("refuses ES256 signed by another key", async () => {
    await expectReason(verifierFor({ kind: "public-key", pem: es256Pem }), await sign(claims(), es256Other.privateKey, "ES256"), "bad_signature");
  });

  it("refuses EdDSA signed by another key", async () => {
    await expectReason(verifierFor({ kind: "public-key", pem: ed25519Pem }), await sign(claims(), ed25519Other.privateKey, "EdDSA"), "bad_signature");
  });

  it("refuses a token signed for the other kind of public key", async () => {
    // jose reports the key/algorithm mismatch as a usage error, which lands in "malformed"; either way it is a 401.
    const refusals: TokenFailure[] = ["malformed", "bad_signature"];
    const a = await failure(verifierFor({ kind: "public-key", pem: es256Pem }), await sign(claims(), ed25519.privateKey, "EdDSA"));
    const b = await failure(verifierFor({ kind: "public-key", pem: ed25519Pem }), await sign(claims(), es256.privateKey, "ES256"));
    expect(refusals).toContain(a.reason);
    expect(refusals).toContain(b.reason);
  });
});

describe("verify: ES256 and EdDSA public keys", () => {
  it("accepts ES256 with the matching SPKI PEM", async () => {
    const grants = await verifierFor({ kind: "public-key", pem: es256Pem }).verify(await sign(claims(), es256.privateKey, "ES256"));
    expect(grants.identity).toBe("alice");
  });

  it("accepts EdDSA (Ed25519) with the matching SPKI PEM", async () => {
    const grants = await verifierFor({ kind: "public-key", pem: ed25519Pem }).verify(await sign(claims(), ed25519.privateKey, "EdDSA"));
    expect(grants.identity).toBe("alice");
  });
});

describe("verify: expiry, with at most 30 s of clock tolerance", () => {
  it("uses 30 s", () => {
    expect(CLOCK_TOLERANCE_SECONDS).toBe(30);
  });

  it("accepts a token that expired 29 s ago", async () => {
    const token = await sign(claims({ exp: NOW_S }));
    expect((await shared(at(29)).verify(token)).identity).toBe("alice");
  });

  it("refuses a token that expired 31 s ago", async () => {
    await expectReason(shared(at(31)), await sign(claims({ exp: NOW_S })), "expired");
  });

  it("refuses a token that expired long ago", async () => {
    await expectReason(shared(at(86_400)), await sign(claims({ exp: NOW_S })), "expired");
  });

  it("reads the clock on every verify", async () => {
    let now = NOW;
    const verifier = shared(() => now);
    const token = await sign(claims({ exp: NOW_S + 60 }));
    expect((await verifier.verify(token)).identity).toBe("alice");
    now = new Date(NOW.getTime() + 91_000);
    await expectReason(verifier, token, "expired");
  });
});

describe("verify: nbf in the future", () => {
  it("refuses a token not valid for another 60 s", async () => {
    await expectReason(shared(), await sign(claims({ nbf: NOW_S + 60 })), "not_yet_valid");
  });

  it("refuses a token not valid for another 31 s", async () => {
    await expectReason(shared(), await sign(claims({ nbf: NOW_S + 31 })), "not_yet_valid");
  });

  it("accepts a token valid in 29 s (within tolerance)", async () => {
    expect((await shared().verify(await sign(claims({ nbf: NOW_S + 29 })))).identity).toBe("alice");
  });
});

describe("verify: issuer and audience", () => {
  it.each([
    ["a wrong issuer", { iss: "https://evil.example" }],
    ["no issuer", { iss: undefined }],
    ["a wrong audience", { aud: "someone-else" }],
    ["an audience list without ours", { aud: ["a", "b"] }],
    ["no audience", { aud: undefined }],
  ])("refuses %s as bad_claims", async (_, overrides) => {
    await expectReason(shared(), await sign(claims(overrides)), "bad_claims");
  });
});

describe("verify: required claims", () => {
  it.each([
    ["sub", { sub: undefined }],
    ["exp", { exp: undefined }],
    ["iat", { iat: undefined }],
    ["room", { room: undefined }],
  ])("refuses a token without %s as bad_claims", async (_, overrides) => {
    await expectReason(shared(), await sign(claims(overrides)), "bad_claims");
  });
});

describe("verify: claim values are checked", () => {
  it.each([
    ["an empty sub", { sub: "" }],
    ["a sub starting with a dash", { sub: "-alice" }],
    ["a sub with a space", { sub: "al ice" }],
    ["a sub with a slash", { sub: "a/b" }],
    ["a sub of 129 chars", { sub: "a".repeat(129) }],
    ["a numeric sub", { sub: 42 }],
    ["a bad room name", { room: "no spaces" }],
    ["a room starting with a dot", { room: ".hidden" }],
    ["a room of 129 chars", { room: "r".repeat(129) }],
    ["a room wildcard pattern", { room: "lobby*" }],
    ["an unknown role", { role: "admin" }],
    ["an api grant that is not a map", { api: { messaging: true } }],
    ["an api that is not a map", { api: ["messaging"] }],
    ["a malformed OAuth allow-list", { api: { secrets: { request_oauth_token: [{ endpoint: "x" }] } } }],
    ["a jti over 256 chars", { jti: "j".repeat(257) }],
  ])("refuses %s as bad_claims", async (_, overrides) => {
    await expectReason(shared(), await sign(claims(overrides)), "bad_claims");
  });

  it("accepts a sub of 128 chars with every allowed character", async () => {
    const sub = `A9._:@-${"z".repeat(121)}`;
    expect((await shared().verify(await sign(claims({ sub })))).identity).toBe(sub);
  });

  it("does not repeat a claim's value in the error message", async () => {
    const error = await failure(shared(), await sign(claims({ sub: "canary value 1f9e" })));
    expect(error.reason).toBe("bad_claims");
    expect(error.message).not.toContain("canary");
  });
});

describe("verify: public keys from a JWKS URL", () => {
  let server: Server;
  let jwksUrl: string;
  let requests = 0;

  beforeAll(async () => {
    const keys = [
      { ...(await exportJWK(es256.publicKey)), kid: "es", alg: "ES256", use: "sig" },
      { ...(await exportJWK(ed25519.publicKey)), kid: "ed", alg: "EdDSA", use: "sig" },
    ];
    server = createServer((request, response) => {
      requests++;
      if (request.url !== "/jwks.json") {
        response.writeHead(404).end();
        return;
      }
      response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
  });

  const jwks = () => verifierFor({ kind: "jwks", url: jwksUrl });

  it("accepts ES256 and EdDSA tokens signed by keys in the set", async () => {
    const verifier = jwks();
    expect((await verifier.verify(await sign(claims(), es256.privateKey, "ES256", "es"))).identity).toBe("alice");
    expect((await verifier.verify(await sign(claims({ sub: "bob" }), ed25519.privateKey, "EdDSA", "ed"))).identity).toBe("bob");
    expect(requests).toBeGreaterThanOrEqual(1);
  });

  it("refuses a token whose kid is not in the set", async () => {
    await expectReason(jwks(), await sign(claims(), es256Other.privateKey, "ES256", "unknown"), "bad_signature");
  });

  it("refuses a token signed by another key under a known kid", async () => {
    await expectReason(jwks(), await sign(claims(), es256Other.privateKey, "ES256", "es"), "bad_signature");
  });

  it("refuses HS256 and alg none", async () => {
    await expectReason(jwks(), await sign(claims()), "bad_signature");
    await expectReason(jwks(), `${base64url({ alg: "none" })}.${base64url(claims())}.`, "bad_signature");
  });

  it("still checks the claims", async () => {
    await expectReason(jwks(), await sign(claims({ aud: "other" }), es256.privateKey, "ES256", "es"), "bad_claims");
    await expectReason(verifierFor({ kind: "jwks", url: jwksUrl }, at(3_600)), await sign(claims(), es256.privateKey, "ES256", "es"), "expired");
  });
});
