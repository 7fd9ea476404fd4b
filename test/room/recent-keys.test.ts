import { describe, expect, it } from "vitest";
import { RecentKeys } from "../../src/room/recent-keys.js";

describe("RecentKeys", () => {
  it("remembers at least the last `perGeneration` keys and at most twice that many", () => {
    const recent = new RecentKeys<number>(100);
    for (let index = 0; index < 1_000; index++) recent.set(`k${index}`, index);
    for (let index = 900; index < 1_000; index++) expect(recent.get(`k${index}`), `k${index}`).toBe(index);
    let remembered = 0;
    for (let index = 0; index < 1_000; index++) if (recent.has(`k${index}`)) remembered++;
    expect(remembered).toBeGreaterThanOrEqual(100);
    expect(remembered).toBeLessThanOrEqual(200);
    expect(recent.has("k0")).toBe(false);
  });
});
