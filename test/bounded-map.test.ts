import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { BoundedMap } from "../src/bounded-map.js";

describe("BoundedMap", () => {
  it("never holds more than N entries after N + k inserts, and evicts the oldest first", () => {
    const m = new BoundedMap<string, number>(3);
    for (let i = 0; i < 10; i++) {
      m.set(`k${i}`, i);
      expect(m.size).toBeLessThanOrEqual(3);
    }
    expect([...m.keys()]).toEqual(["k7", "k8", "k9"]);
    expect(m.get("k6")).toBeUndefined();
    expect(m.get("k7")).toBe(7);
  });

  it("evicts the least recently used: a read keeps an old entry", () => {
    const m = new BoundedMap<string, number>(3);
    m.set("a", 1).set("b", 2).set("c", 3);
    expect(m.get("a")).toBe(1); // a is now the most recent; b is the least
    m.set("d", 4);
    expect(m.has("b")).toBe(false);
    expect([...m.keys()]).toEqual(["c", "a", "d"]);
  });

  it("replacing a value refreshes the entry and does not count twice", () => {
    const m = new BoundedMap<string, number>(2);
    m.set("a", 1).set("b", 2).set("a", 10);
    expect(m.size).toBe(2);
    m.set("c", 3);
    expect([...m.entries()]).toEqual([["a", 10], ["c", 3]]);
  });

  it("has() does not refresh, so a probed entry still goes first", () => {
    const m = new BoundedMap<string, number>(2);
    m.set("a", 1).set("b", 2);
    expect(m.has("a")).toBe(true);
    m.set("c", 3);
    expect(m.has("a")).toBe(false);
  });

  it("tells the owner what it evicted, in order", () => {
    const evicted: Array<[string, number]> = [];
    const m = new BoundedMap<string, number>(2, (k, v) => evicted.push([k, v]));
    for (const [k, v] of [["a", 1], ["b", 2], ["c", 3], ["d", 4]] as const) m.set(k, v);
    expect(evicted).toEqual([["a", 1], ["b", 2]]);
  });

  it("keeps an undefined value as a present entry", () => {
    const m = new BoundedMap<string, undefined>(2);
    m.set("a", undefined).set("b", undefined);
    expect(m.get("a")).toBeUndefined();
    m.set("c", undefined); // a was read last before c: b is the least recent
    expect([...m.keys()]).toEqual(["a", "c"]);
  });

  it("refuses a cap that is not a positive integer", () => {
    for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) expect(() => new BoundedMap(bad)).toThrow(RangeError);
  });

  it("matches a reference LRU on any sequence of operations", () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant("set" as const), key: fc.integer({ min: 0, max: 12 }), value: fc.integer() }),
      fc.record({ kind: fc.constant("get" as const), key: fc.integer({ min: 0, max: 12 }) }),
      fc.record({ kind: fc.constant("delete" as const), key: fc.integer({ min: 0, max: 12 }) }),
    );
    fc.assert(fc.property(fc.integer({ min: 1, max: 6 }), fc.array(op, { maxLength: 80 }), (cap, ops) => {
      const m = new BoundedMap<number, number>(cap);
      let ref: Array<[number, number]> = []; // least recent first
      for (const o of ops) {
        const at = ref.findIndex(([k]) => k === o.key);
        if (o.kind === "set") {
          if (at >= 0) ref.splice(at, 1);
          ref.push([o.key, o.value]);
          if (ref.length > cap) ref = ref.slice(ref.length - cap);
          m.set(o.key, o.value);
        } else if (o.kind === "get") {
          if (at >= 0) ref.push(ref.splice(at, 1)[0]);
          expect(m.get(o.key)).toBe(at >= 0 ? ref[ref.length - 1][1] : undefined);
        } else {
          if (at >= 0) ref.splice(at, 1);
          expect(m.delete(o.key)).toBe(at >= 0);
        }
        expect(m.size).toBeLessThanOrEqual(cap);
      }
      expect([...m.entries()]).toEqual(ref);
    }));
  });
});
