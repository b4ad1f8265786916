// The audit chain with several writers: four gateway processes on one PostgreSQL issue at once (EST, each client
// pinned to one instance), then the operator's `gateway audit verify` finds one unbroken chain, and the sequence
// numbers in the shared table have no gap and no fork (no seq twice, each prev_hash the hash before it).
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runGatewayCli } from "../helpers/cli.js";
import { lazyTestDatabase } from "../helpers/postgres.js";
import { startDeployment, type Deployment } from "./instances.js";
import { estEnroll, type Outcome } from "./load.js";
import { sql } from "./util.js";

const USER = { name: "router1", password: "router1-Secret-pass" };
const PER_INSTANCE = 20;
/** Concurrent clients per instance, each enrolling PER_INSTANCE / CLIENTS times in a row. */
const CLIENTS = 4;
const testDb = lazyTestDatabase();
let d: Deployment;

beforeAll(async () => {
  d = await startDeployment({
    databaseUrl: (await testDb.get()).url,
    instances: 4,
    sections: { est: { defaultLabel: "default", labels: [{ name: "default", profile: "device", auth: { users: [USER] } }] } },
  });
}, 300_000);

afterAll(async () => {
  await d?.stop();
  await testDb.drop();
});

describe("one audit chain, four writers", () => {
  it("4 instances issuing at once: audit verify is intact and counts every event; seq contiguous, no fork", async () => {
    const caPem = readFileSync(d.rootPem, "utf8");
    const [{ n: before }] = (await sql(d, "SELECT count(*)::int AS n FROM audit_events")) as Array<{ n: number }>;
    const outcomes = (await Promise.all(d.instances.flatMap((inst) => Array.from({ length: CLIENTS }, async (_, k) => {
      const out: Outcome[] = [];
      for (let i = 0; i < PER_INSTANCE / CLIENTS; i++) out.push(await estEnroll(inst.https, caPem, USER, `audit-${inst.name}${k}-${i}.example.com`));
      return out;
    })))).flat();
    const failed = outcomes.filter((o) => !o.ok);
    expect(failed, JSON.stringify(failed.slice(0, 3))).toEqual([]);
    expect(outcomes).toHaveLength(4 * PER_INSTANCE);
    const serials = (outcomes as Array<Extract<Outcome, { ok: true }>>).map((o) => o.serial);
    expect(new Set(serials).size).toBe(serials.length);

    // Every issuance is audited once, whichever instance wrote it.
    const issuedEvents = await sql(d, "SELECT target FROM audit_events WHERE type = 'certificate.issued' AND target = ANY($1)", [serials]);
    expect(issuedEvents.map((e) => e.target).sort()).toEqual([...serials].sort());

    // The shared table: seq 1..n without a gap, each event chained to the one before it.
    const rows = (await sql(d, "SELECT seq::text AS seq, prev_hash, hash FROM audit_events ORDER BY audit_events.seq")) as Array<{ seq: string; prev_hash: string; hash: string }>;
    expect(rows.length).toBeGreaterThanOrEqual(before + 4 * PER_INSTANCE);
    const seqs = rows.map((r) => Number(r.seq));
    expect(seqs[0]).toBe(1);
    expect(seqs[seqs.length - 1]).toBe(rows.length);
    const gaps = seqs.filter((s, i) => i > 0 && s !== seqs[i - 1] + 1);
    expect(gaps).toEqual([]);
    const forks = rows.filter((r, i) => i > 0 && r.prev_hash !== rows[i - 1].hash).map((r) => r.seq);
    expect(forks).toEqual([]);
    expect(new Set(rows.map((r) => r.hash)).size).toBe(rows.length);

    // The operator's command, with one instance's configuration, against the shared database.
    for (const inst of [d.instances[0], d.instances[3]]) {
      const v = await runGatewayCli(["audit", "verify", "--config", inst.configPath], { GATEWAY_TEST_DATABASE_URL: d.databaseUrl });
      expect(v.code, v.stdout + v.stderr).toBe(0);
      const m = /audit chain intact: (\d+) events/.exec(v.stdout);
      expect(m, v.stdout).not.toBeNull();
      expect(Number(m![1])).toBeGreaterThanOrEqual(rows.length); // the instances may have audited more since the read above
    }
  }, 300_000);
});
