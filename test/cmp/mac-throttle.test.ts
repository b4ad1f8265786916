import { describe, expect, it } from "vitest";
import { addressKey, MacThrottle } from "../../protocols/cmp/mac-throttle.js";

const T0 = Date.UTC(2030, 0, 1);
const opts = { perKid: 3, perAddress: 5, windowSeconds: 300, maxTracked: 100 };

describe("MacThrottle", () => {
  it("refuses a senderKID after N failures in the window, announces the start once, and opens after the window", () => {
    const t = new MacThrottle(opts);
    expect(t.failed("kid1", "192.0.2.1", T0)).toEqual([]);
    expect(t.failed("kid1", "192.0.2.2", T0 + 1000)).toEqual([]);
    expect(t.check("kid1", "192.0.2.3", T0 + 2000)).toBeUndefined();
    expect(t.failed("kid1", "192.0.2.3", T0 + 2000)).toEqual([{ scope: "senderKID", key: "kid1", retryAfterSeconds: 298 }]);
    expect(t.check("kid1", "192.0.2.9", T0 + 100_000)).toEqual({ scope: "senderKID", key: "kid1", retryAfterSeconds: 200 });
    // Further failures do not announce again.
    expect(t.failed("kid1", "192.0.2.4", T0 + 100_000)).toEqual([]);
    expect(t.check("kid2", "192.0.2.9", T0 + 100_000)).toBeUndefined();
    expect(t.check("kid1", "192.0.2.9", T0 + 300_000)).toBeUndefined();
    expect(t.failed("kid1", "192.0.2.9", T0 + 300_000)).toEqual([]); // a new window starts
  });

  it("refuses an address after its own count, whatever senderKID it sends; IPv6 by /64, IPv4-mapped as IPv4", () => {
    const t = new MacThrottle(opts);
    const starts = [1, 2, 3, 4, 5].map((i) => t.failed(`spray${i}`, "2001:db8:1:2:aaaa::1", T0));
    expect(starts.slice(0, 4)).toEqual([[], [], [], []]);
    expect(starts[4]).toEqual([{ scope: "address", key: "2001:db8:1:2::/64", retryAfterSeconds: 300 }]);
    expect(t.check("another", "2001:db8:1:2:ffff:1:2:3", T0 + 1000)).toMatchObject({ scope: "address", retryAfterSeconds: 299 });
    expect(t.check("another", "2001:db8:1:3::1", T0 + 1000)).toBeUndefined();
    expect(addressKey("::ffff:192.0.2.7")).toBe("192.0.2.7");
    expect(addressKey("::1")).toBe("0:0:0:0::/64");
    expect(addressKey("2001:DB8:0:0A::")).toBe("2001:db8:0:a::/64");
  });

  it("0 turns a limit off", () => {
    const t = new MacThrottle({ ...opts, perKid: 0, perAddress: 0 });
    for (let i = 0; i < 50; i++) expect(t.failed("kid", "192.0.2.1", T0)).toEqual([]);
    expect(t.check("kid", "192.0.2.1", T0)).toBeUndefined();
  });

  it("keeps at most maxTracked senders per scope: a spray forgets the least recently seen, not the one still knocking", () => {
    const t = new MacThrottle({ ...opts, perAddress: 0, maxTracked: 100 });
    for (const kid of ["idle", "busy"]) for (let i = 0; i < 3; i++) t.failed(kid, "192.0.2.1", T0);
    for (let i = 0; i < 99; i++) {
      t.failed(`spray${i}`, "192.0.2.1", T0 + 1);
      expect(t.check("busy", "192.0.2.1", T0 + 2)).toBeDefined(); // each refusal counts as recent use
    }
    expect(t.check("idle", "192.0.2.1", T0 + 3)).toBeUndefined();
    expect(t.check("busy", "192.0.2.1", T0 + 3)).toMatchObject({ scope: "senderKID", key: "busy" });
  });
});
