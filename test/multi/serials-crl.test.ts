// Serials and CRLs across real gateway processes on one PostgreSQL: certificates issued on A and B at once never
// share a serial; revocations made on A and on B end up in CRLs whose numbers strictly increase per CA whichever
// instance built them, and every CRL lists each revocation committed before it was built.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { lazyTestDatabase } from "../helpers/postgres.js";
import { startDeployment, type Deployment, type Instance } from "./instances.js";
import { estEnroll, type Outcome } from "./load.js";
import { admin, readCrl, sql } from "./util.js";

const USER = { name: "router1", password: "router1-Secret-pass" };
const CA = "dev-issuing";
const testDb = lazyTestDatabase();
let d: Deployment;
let caPem: string;
/** Serials issued in the first test, revoked in the second. */
const issued: string[] = [];

beforeAll(async () => {
  d = await startDeployment({
    databaseUrl: (await testDb.get()).url,
    instances: 2,
    sections: {
      est: { defaultLabel: "default", labels: [{ name: "default", profile: "device", auth: { users: [USER] } }] },
      crl: { validityHours: 24, regenerateMinutes: 60, rebuildDelaySeconds: 1 },
    },
  });
  caPem = readFileSync(d.rootPem, "utf8");
}, 240_000);

afterAll(async () => {
  await d?.stop();
  await testDb.drop();
});

type Ok = Extract<Outcome, { ok: true }>;

describe("serials and CRLs across gateway processes", () => {
  it("EST enrollments on A and B at once (through the load balancer and on each directly) never repeat a serial", async () => {
    const [a, b] = d.instances;
    const loops = (base: string, tag: string, n: number, each: number) => Array.from({ length: n }, (_, k) => (async () => {
      const out: Outcome[] = [];
      for (let i = 0; i < each; i++) out.push(await estEnroll(base, caPem, USER, `${tag}-${k}-${i}.example.com`));
      return out;
    })());
    const picksBefore = [...d.proxy.https.picks];
    const all = (await Promise.all([...loops(d.https, "lb", 8, 5), ...loops(a.https, "a", 2, 5), ...loops(b.https, "b", 2, 5)])).flat();
    const failed = all.filter((o) => !o.ok);
    expect(failed, JSON.stringify(failed.slice(0, 3))).toEqual([]);
    // The load balancer spread its connections over both instances.
    expect(d.proxy.https.picks.map((p, k) => p - picksBefore[k]).every((p) => p > 0)).toBe(true);
    const serials = (all as Ok[]).map((o) => o.serial);
    expect(serials).toHaveLength(60);
    expect(new Set(serials).size).toBe(serials.length);
    const rows = await sql(d, "SELECT serial, stage, ca_name FROM certificates WHERE serial = ANY($1)", [serials]);
    expect(rows).toHaveLength(serials.length);
    expect(rows.every((r) => r.stage === "issued" && r.ca_name === CA)).toBe(true);
    issued.push(...serials);
  }, 120_000);

  it("revocations on A and B: CRL numbers strictly increase across instances and each CRL lists what was committed before it", async () => {
    expect(issued.length).toBeGreaterThanOrEqual(24);
    const [a, b] = d.instances;
    /** serial → when its revocation had been answered (committed) on the client's clock, the gateways' clock too. */
    const revoked = new Map<string, number>();
    /** Every CRL fetched, in fetch order per instance. */
    const seen: Array<{ from: string; number: bigint; thisUpdate: number; serials: Set<string>; der: Buffer }> = [];
    const fetchCrl = async (inst: Instance) => {
      const res = await fetch(`${inst.http}/crl/${CA}.crl`);
      expect(res.status).toBe(200);
      const der = Buffer.from(await res.arrayBuffer());
      const c = readCrl(der);
      const rec = { from: inst.name, number: c.number, thisUpdate: c.thisUpdate, serials: c.serials, der };
      seen.push(rec);
      return rec;
    };
    const revoke = async (inst: Instance, serial: string) => {
      const r = await admin(d, inst.https, "POST", `/certificates/${serial}/revoke`, {});
      expect(r.status, JSON.stringify(r.json)).toBe(200);
      revoked.set(serial, Date.now());
    };

    const queue = issued.slice(0, 24);
    for (let round = 0; round < 4; round++) {
      // Three revocations on each instance at once; CRLs fetched meanwhile from both.
      const batch = queue.splice(0, 6);
      await Promise.all([...batch.map((s, k) => revoke(k % 2 ? b : a, s)), fetchCrl(a), fetchCrl(b)]);
      // Wait for the rebuild: both instances serve a CRL that lists everything revoked so far.
      const deadline = Date.now() + 60_000;
      for (const inst of [a, b]) {
        for (;;) {
          const c = await fetchCrl(inst);
          if ([...revoked.keys()].every((s) => c.serials.has(s))) break;
          expect(Date.now(), `${inst.name} still serves CRL ${c.number} without all ${revoked.size} revocations`).toBeLessThan(deadline);
          await new Promise((r) => setTimeout(r, 250));
        }
      }
    }

    // One number, one CRL: no two instances ever signed different CRLs under the same number.
    const byNumber = new Map<bigint, Buffer>();
    for (const c of seen) {
      const other = byNumber.get(c.number);
      if (other) expect(other.equals(c.der), `CRL number ${c.number} names two different CRLs`).toBe(true);
      else byNumber.set(c.number, c.der);
    }
    // Each instance's CRLs, in the order it served them, never go back; several rebuilds happened (one per round at least).
    for (const name of ["a", "b"]) {
      const nums = seen.filter((c) => c.from === name).map((c) => c.number);
      for (let i = 1; i < nums.length; i++) expect(nums[i] >= nums[i - 1], `${name} served CRL ${nums[i]} after ${nums[i - 1]}`).toBe(true);
    }
    expect(byNumber.size).toBeGreaterThanOrEqual(4);
    // Each CRL lists every revocation answered before its thisUpdate (the build reads the rows after taking thisUpdate;
    // thisUpdate is in whole seconds, rounded down, so this is conservative).
    for (const c of seen) {
      const missing = [...revoked].filter(([s, at]) => at < c.thisUpdate && !c.serials.has(s)).map(([s]) => s);
      expect(missing, `CRL ${c.number} from ${c.from} misses revocations committed before it`).toEqual([]);
    }
    // The stored CRLs (the latest few per CA) agree: numbers strictly increasing, each DER carrying its own number.
    const rows = await sql(d, "SELECT number, this_update, der FROM crls WHERE ca_name = $1 ORDER BY number", [CA]);
    expect(rows.length).toBeGreaterThan(0);
    for (const r of rows) expect(readCrl(r.der as Buffer).number).toBe(BigInt(String(r.number)));
    const numbers = rows.map((r) => BigInt(String(r.number)));
    for (let i = 1; i < numbers.length; i++) expect(numbers[i] > numbers[i - 1]).toBe(true);
    // Every revoked certificate is revoked in the shared inventory, once.
    const inv = await sql(d, "SELECT serial FROM certificates WHERE serial = ANY($1) AND revoked_at IS NOT NULL", [[...revoked.keys()]]);
    expect(inv).toHaveLength(revoked.size);
    const events = await sql(d, "SELECT target FROM audit_events WHERE type = 'certificate.revoked' AND target = ANY($1)", [[...revoked.keys()]]);
    expect(events).toHaveLength(revoked.size);
  }, 240_000);

  it("CRLs forced on A and B at the same moment get distinct numbers and list every revocation", async () => {
    const [a, b] = d.instances;
    const revokedNow = (await sql(d, "SELECT serial FROM certificates WHERE ca_name = $1 AND revoked_at IS NOT NULL", [CA])).map((r) => String(r.serial));
    expect(revokedNow.length).toBeGreaterThan(0);
    const made: Array<{ number: bigint; thisUpdate: string }> = [];
    for (let round = 0; round < 5; round++) {
      const out = await Promise.all([a, b].map((inst) => admin(d, inst.https, "POST", `/cas/${CA}/crl`, {})));
      for (const r of out) {
        expect(r.status, JSON.stringify(r.json)).toBe(200);
        made.push({ number: BigInt(String(r.json.number)), thisUpdate: String(r.json.thisUpdate) });
      }
    }
    expect(new Set(made.map((m) => m.number)).size).toBe(made.length);
    const sorted = [...made].sort((x, y) => (x.number < y.number ? -1 : 1));
    // The CRL served now (either instance) is the highest number and lists every revocation.
    for (const inst of [a, b]) {
      const c = readCrl(new Uint8Array(await (await fetch(`${inst.http}/crl/${CA}.crl`)).arrayBuffer()));
      expect(c.number).toBe(sorted.at(-1)!.number);
      expect(revokedNow.filter((s) => !c.serials.has(s))).toEqual([]);
    }
  }, 120_000);

  // Regression: a build that waited for another instance's lease once took the higher CRL number with the earlier
  // thisUpdate. Here A waits on a lease the test holds, the test frees it and B builds at once; A builds next.
  it("a CRL built after waiting for another instance's build lease never has an earlier thisUpdate than the CRL before it", async () => {
    const [a, b] = d.instances;
    const inverted: string[] = [];
    for (let attempt = 0; attempt < 6; attempt++) {
      await sql(d, "UPDATE crl_state SET lease_owner = 'test-holder', lease_until = $2 WHERE ca_name = $1", [CA, new Date(Date.now() + 60_000).toISOString()]);
      const onA = admin(d, a.https, "POST", `/cas/${CA}/crl`, {});
      await new Promise((r) => setTimeout(r, 400)); // A has taken its thisUpdate and polls for the lease
      await sql(d, "UPDATE crl_state SET lease_owner = NULL, lease_until = NULL WHERE ca_name = $1", [CA]);
      const [ra, rb] = await Promise.all([onA, admin(d, b.https, "POST", `/cas/${CA}/crl`, {})]);
      expect([ra.status, rb.status]).toEqual([200, 200]);
      const [lo, hi] = [ra.json, rb.json].sort((x, y) => (BigInt(String(x.number)) < BigInt(String(y.number)) ? -1 : 1));
      if (String(hi.thisUpdate) < String(lo.thisUpdate)) inverted.push(`CRL ${hi.number} thisUpdate ${hi.thisUpdate} < CRL ${lo.number} thisUpdate ${lo.thisUpdate}`);
    }
    expect(inverted).toEqual([]);
  }, 60_000);
});
