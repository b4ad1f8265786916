import { describe, expect, it } from "vitest";
import { GatewayError } from "../../src/errors.js";
import { RateLimiter } from "../../protocols/acme/rate-limit.js";

const limited = (f: () => void) => {
  try {
    f();
    return false;
  } catch (e) {
    if (e instanceof GatewayError && e.code === "RA_ERR_RATE_LIMITED") return true;
    throw e;
  }
};

describe("ACME rate limiter", () => {
  it("holds at most maxKeys buckets however many addresses arrive", () => {
    const rl = new RateLimiter(1, 5, 100);
    for (let i = 0; i < 1_000; i++) rl.take(`address:10.0.${i >> 8}.${i & 255}`, 1_000);
    expect(rl.size).toBe(100);
  });

  it("forgets the least recently used bucket first", () => {
    // One token, refilled over 1000 s: a second take within the test is always refused while the bucket is kept.
    const rl = new RateLimiter(0.001, 1, 3);
    rl.take("address:a", 0);
    rl.take("address:b", 0);
    rl.take("address:c", 0);
    expect(limited(() => rl.take("address:a", 1))).toBe(true); // a used again: b is now the least recent
    rl.take("address:d", 2); // pushes b out
    expect(rl.size).toBe(3);
    expect(limited(() => rl.take("address:b", 3))).toBe(false); // b forgotten: a fresh, full bucket
    expect(limited(() => rl.take("address:a", 3))).toBe(true); // a kept, still empty
  });

  it("sweeps buckets that have refilled, so an idle limiter shrinks", () => {
    const rl = new RateLimiter(10, 10, 1_000);
    for (let i = 0; i < 50; i++) rl.take(`account:${i}`, 0);
    expect(rl.size).toBe(50);
    rl.take("account:late", 61_000); // a minute on: every earlier bucket is full again
    expect(rl.size).toBe(1);
  });
});
