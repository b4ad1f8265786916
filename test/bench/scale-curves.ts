/**
 * Flat cost curves on PostgreSQL, in process: two gateways (openGateway, store postgres), each on its own
 * database of the bench's cluster, one seeded small (BASE) and one large, measured interleaved in chunks of 50
 * so machine drift hits both sides alike (as inventory.bench.ts does). Seeding is direct SQL into the tables the
 * gateway's migrations made (INSERT ... SELECT generate_series), then VACUUM ANALYZE so autovacuum stays out of
 * the measured windows, and pg_prewarm of the tables' indexes (a server in steady state has them in its cache). Cost = this process's CPU (the gateway's store and audit code) + the PostgreSQL tree's
 * CPU (postmaster + backends), per operation.
 *   (a) issuance store work for one requester holding N certificates: intent commit, then completion commit with
 *       the `certificate.issued` audit event, whose implicit-renewal listener runs the replaceable lookup (and,
 *       for the half of the operations that renew a held device name, markReplaced + `certificate.replaced`).
 *   (b) one revocation (RevocationService.revoke: lookup, revoke, CRL marker, audit) with N revoked present; the
 *       rebuild delay is an hour so no build runs in the window (crl_builds_during says so); then the full
 *       build of the N-entry CRL with the streaming encoder (CrlPublisher.publish).
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import pino from "pino";
import { validateConfig } from "../../src/config/load.js";
import { openGateway, type Gateway } from "../../src/gateway.js";
import type { CertificateRecord } from "../../src/store/types.js";
import { createDatabase, type TestDatabase } from "../helpers/postgres.js";
import { cpuRatio } from "./cpu.js";
import { treeCpuMs } from "./scale-cpu.js";
import { percentile, round1 } from "./stats.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const REQUESTER = { kind: "mdm", id: "fleet-1" };
const SEED_CHUNK = 100_000;

/** `server` (the cluster's buffer cache and whether it is on huge pages) goes into every line. */
export interface CurveOptions { base: number; big: number; ops: number; warmup: number; server: Record<string, unknown> }

interface Side { label: string; gw: Gateway; db: TestDatabase; dir: string; sql: pg.Client; n: number; cpu: number; pgCpu: number; lat: number[]; next: number }

async function openSide(pgUrl: string, label: string): Promise<Side> {
  const db = await createDatabase(pgUrl);
  const dir = mkdtempSync(join(tmpdir(), "gw-scale-curve-"));
  mkdirSync(join(dir, "data"));
  const config = validateConfig({
    dataDir: join(dir, "data"), profilesDir: join(ROOT, "profiles"), log: { level: "silent" },
    store: { kind: "postgres", url: db.url, poolSize: 4 }, crl: { rebuildDelaySeconds: 3600 },
    retention: { intervalMinutes: 0 }, lifecycle: { scanIntervalMinutes: 0 },
  });
  const gw = await openGateway(config, pino({ level: "silent" }));
  const sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
  return { label, gw, db, dir, sql, n: 0, cpu: 0, pgCpu: 0, lat: [], next: 0 };
}

async function closeSide(s: Side): Promise<void> {
  await s.sql.end();
  await s.gw.close();
  await s.db.drop();
  rmSync(s.dir, { recursive: true, force: true });
}

const ISO = `'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'`;
const SERIAL = `'5' || lpad(to_hex(g), 15, '0') || substr(md5(g::text || $2), 1, 16)`;

/**
 * Rows `from`..`to` (inclusive). kind "held": issued to REQUESTER, profile tls-server, one DNS name each
 * (dev-<g>.fleet.example.com), valid for the next 1–90 days. kind "revoked": other requesters, revoked over
 * the last 30 days. kind "target": issued, unrevoked, to be revoked by the measured operations.
 */
async function seedRows(s: Side, kind: "held" | "revoked" | "target", from: number, to: number, salt: string): Promise<void> {
  const ca = s.gw.cas.issuing[0].name;
  const name = kind === "held" ? `'dev-' || g || '.fleet.example.com'` : `'${kind}-' || g || '.${salt}.example.com'`;
  const requester = kind === "held" ? `'mdm', 'fleet-1'` : `'acme', 'tenant-' || (g % 20000)`;
  const revoked = kind === "revoked"
    ? `to_char((now() AT TIME ZONE 'UTC') - interval '30 days' + (g - ${from}) * interval '1 second', ${ISO}), 1`
    : "NULL, NULL";
  await s.sql.query("ALTER TABLE certificates DISABLE TRIGGER certificate_names_insert");
  await s.sql.query(`
    INSERT INTO certificates (serial, ca_name, profile, protocol, request_id, requester_kind, requester_id, subject, sans,
      not_before, not_after, key_algorithm, stage, tbs_sha256, der, revoked_at, revocation_reason, created_at, owner, names_key)
    SELECT ${SERIAL}, $1, 'tls-server', 'admin', 'seed-' || g, ${requester}, 'CN=' || ${name}, '["dns:' || ${name} || '"]',
      to_char((now() AT TIME ZONE 'UTC') - interval '1 day', ${ISO}),
      to_char((now() AT TIME ZONE 'UTC') + interval '1 day' + (g % 89) * interval '1 day' + (g % 86400) * interval '1 second', ${ISO}),
      'EC P-256', 'issued', md5(g::text) || md5(g::text), decode(repeat(md5(g::text), 32), 'hex'), ${revoked},
      to_char(now() AT TIME ZONE 'UTC', ${ISO}), 'team-' || (g % 50), encode(sha256(convert_to('dns:' || ${name}, 'UTF8')), 'hex')
    FROM generate_series($3::bigint, $4::bigint) AS g`, [ca, salt, from, to]);
  await s.sql.query(`INSERT INTO certificate_names (value, kind, serial) SELECT ${name}, 'dns', ${SERIAL.replace("$2", "$1")}
    FROM generate_series($2::bigint, $3::bigint) AS g`, [salt, from, to]);
  await s.sql.query("ALTER TABLE certificates ENABLE TRIGGER certificate_names_insert");
}

/** Seeds `count` rows of `kind` in chunks; returns the serials of kind "target" (for revocation). */
async function seed(s: Side, kind: "held" | "revoked" | "target", count: number): Promise<{ seconds: number; serials: string[] }> {
  const t0 = performance.now();
  const salt = randomBytes(4).toString("hex");
  const start = s.n + 1;
  for (let from = start; from < start + count; from += SEED_CHUNK) {
    await seedRows(s, kind, from, Math.min(from + SEED_CHUNK - 1, start + count - 1), salt);
    if (count > SEED_CHUNK) console.error(`scale bench: ${s.label} seeded ${kind} ${Math.min(from + SEED_CHUNK - 1, start + count - 1) - start + 1}/${count}`);
  }
  s.n += count;
  await s.sql.query("VACUUM ANALYZE certificates");
  await s.sql.query("VACUUM ANALYZE certificate_names");
  // The seed's bulk writes go through a small buffer ring, so the new pages start outside shared_buffers and every
  // random-key insert would read a leaf, every renewal its old row, from the OS cache: load the tables and their
  // indexes, as on a server in steady state whose buffer cache is sized for its data (BENCH_PG_SHARED_BUFFERS).
  await s.sql.query("CREATE EXTENSION IF NOT EXISTS pg_prewarm");
  await s.sql.query(`SELECT pg_prewarm(c) FROM unnest(ARRAY['certificates'::regclass, 'certificate_names'::regclass]) AS c`);
  await s.sql.query(`SELECT pg_prewarm(indexrelid::regclass) FROM pg_index
    WHERE indrelid IN ('certificates'::regclass, 'certificate_names'::regclass)`);
  // Write the seed's dirty pages out now: the checkpointer flushing a million rows during the measured window
  // would be counted as PostgreSQL CPU of whichever side happened to be measured.
  await s.sql.query("CHECKPOINT");
  const serials = kind === "target"
    ? (await s.sql.query<{ serial: string }>(`SELECT ${SERIAL} AS serial FROM generate_series($1::bigint, $3::bigint) AS g`, [start, salt, start + count - 1])).rows.map((r) => r.serial)
    : [];
  return { seconds: Math.round((performance.now() - t0) / 100) / 10, serials };
}

/** Runs `op` `n` times on a side; when measured, adds its own CPU, the PostgreSQL tree's CPU and each latency. */
async function run(s: Side, postmaster: number, n: number, measured: boolean, op: (s: Side, i: number) => Promise<void>): Promise<void> {
  const c0 = process.cpuUsage();
  const p0 = treeCpuMs(postmaster).ms;
  for (let k = 0; k < n; k++) {
    const t0 = performance.now();
    await op(s, s.next++);
    if (measured) s.lat.push(performance.now() - t0);
  }
  if (!measured) return;
  const d = process.cpuUsage(c0);
  s.cpu += (d.user + d.system) / 1000;
  s.pgCpu += treeCpuMs(postmaster).ms - p0;
}

async function paired(base: Side, big: Side, postmaster: number, ops: number, warmup: number, op: (s: Side, i: number) => Promise<void>): Promise<void> {
  for (const s of [base, big]) {
    await run(s, postmaster, warmup, false, op);
    s.lat.length = 0;
    s.cpu = s.pgCpu = 0;
  }
  for (let done = 0; done < ops; done += 50) {
    await run(base, postmaster, Math.min(50, ops - done), true, op);
    await run(big, postmaster, Math.min(50, ops - done), true, op);
  }
}

function figures(s: Side) {
  const lat = [...s.lat].sort((a, b) => a - b);
  const ops = lat.length;
  const r3 = (v: number) => Math.round(v * 1000) / 1000;
  return { ops, gateway_cpu_ms_per_op: r3(s.cpu / ops), postgres_cpu_ms_per_op: r3(s.pgCpu / ops), total_cpu_ms_per_op: r3((s.cpu + s.pgCpu) / ops), p50_ms: round1(percentile(lat, 50)), p99_ms: round1(percentile(lat, 99)) };
}

function reportPair(prefix: string, size: (s: Side) => number, base: Side, big: Side, extra: (s: Side) => Record<string, unknown>, server: Record<string, unknown>): void {
  const b = figures(base);
  const g = figures(big);
  console.log(JSON.stringify({ case: `${prefix}-${size(base)}`, ...b, reference: null, cpu_ratio: null, target: "baseline", met: true, store: "postgres", ...extra(base), ...server }));
  const ratio = cpuRatio(g.total_cpu_ms_per_op, b.total_cpu_ms_per_op);
  console.log(JSON.stringify({
    case: `${prefix}-${size(big)}`, ...g, reference: `${prefix}-${size(base)}`, reference_total_cpu_ms_per_op: b.total_cpu_ms_per_op, cpu_ratio: ratio,
    gateway_cpu_ratio: cpuRatio(g.gateway_cpu_ms_per_op, b.gateway_cpu_ms_per_op), postgres_cpu_ratio: cpuRatio(g.postgres_cpu_ms_per_op, b.postgres_cpu_ms_per_op),
    target: "total CPU (gateway + PostgreSQL) per op within 10 % of the small baseline", met: ratio !== null && ratio <= 1.1, store: "postgres", ...extra(big), ...server,
  }));
}

interface Blocks { read: number; hit: number }

async function blocks(s: Side): Promise<Blocks> {
  const r = (await s.sql.query<{ read: string; hit: string }>("SELECT blks_read AS read, blks_hit AS hit FROM pg_stat_database WHERE datname = current_database()")).rows[0];
  return { read: Number(r.read), hit: Number(r.hit) };
}

const STATEMENTS = process.env.BENCH_PG_STATEMENTS === "1";

async function resetStatements(sides: Side[]): Promise<void> {
  if (!STATEMENTS) return;
  for (const s of sides) await s.sql.query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
  await sides[0].sql.query("SELECT pg_stat_statements_reset()");
}

/** Each side's statements: calls, execution ms and shared pages per call, biggest total time first. */
async function printStatements(sides: Side[]): Promise<void> {
  if (!STATEMENTS) return;
  for (const s of sides) {
    const r = await s.sql.query<{ calls: string; ms: number; hit: number; read: number; rows: number; query: string }>(`
      SELECT calls, total_exec_time / calls AS ms, shared_blks_hit::float8 / calls AS hit, shared_blks_read::float8 / calls AS read,
        rows::float8 / calls AS rows, left(regexp_replace(query, '\\s+', ' ', 'g'), 110) AS query
      FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
      ORDER BY total_exec_time DESC LIMIT 25`);
    console.error(`scale bench: ${s.label} statements (calls, exec ms/call, pages hit/call, read/call, rows/call):`);
    for (const q of r.rows) console.error(`  ${q.calls.padStart(6)} ${q.ms.toFixed(4).padStart(8)} ${q.hit.toFixed(1).padStart(6)} ${q.read.toFixed(1).padStart(5)} ${q.rows.toFixed(1).padStart(5)}  ${q.query}`);
  }
}

/** (a) The issuance store work; op i renews held device (i*7919) % held when even, a new device when odd. */
export async function holdingCurve(pgUrl: string, postmaster: number, o: CurveOptions): Promise<void> {
  const base = await openSide(pgUrl, "holding-base");
  const big = await openSide(pgUrl, "holding-big");
  try {
    const seeded = new Map<Side, number>();
    for (const [s, n] of [[base, o.base], [big, o.big]] as const) seeded.set(s, (await seed(s, "held", n)).seconds);
    const held = new Map<Side, number>([[base, o.base], [big, o.big]]);
    const der = new Uint8Array(randomBytes(520));
    const op = async (s: Side, i: number) => {
      const name = i % 2 ? `new-${i}.fleet.example.com` : `dev-${((i * 7919) % held.get(s)!) + 1}.fleet.example.com`;
      const serial = "6" + randomBytes(15).toString("hex");
      const now = Date.now();
      const rec: CertificateRecord = {
        serial, caName: s.gw.cas.issuing[0].name, profile: "tls-server", protocol: "admin", requestId: `r-${serial}`, requesterKind: REQUESTER.kind, requesterId: REQUESTER.id,
        subject: `CN=${name}`, sans: [`dns:${name}`], notBefore: new Date(now).toISOString(), notAfter: new Date(now + 90 * 86_400_000).toISOString(),
        keyAlgorithm: "EC P-256", stage: "intent", tbsSha256: serial.padEnd(64, "0"), createdAt: new Date(now).toISOString(),
      };
      await s.gw.store.transaction((tx) => tx.insertCertificateIntent(rec));
      await s.gw.store.transaction(async (tx) => {
        await tx.completeIssuance(serial, der);
        await s.gw.audit.record({
          type: "certificate.issued", actor: `${REQUESTER.kind}:${REQUESTER.id}`, target: serial,
          data: { requestId: rec.requestId, protocol: "admin", profile: rec.profile, ca: rec.caName, subject: rec.subject, sans: rec.sans, notAfter: rec.notAfter },
        }, tx);
      });
    };
    await new Promise((r) => setTimeout(r, 1500)); // the seed's own page counts reach pg_stat_database first
    const before = new Map<Side, Blocks>([[base, await blocks(base)], [big, await blocks(big)]]);
    await resetStatements([base, big]);
    await paired(base, big, postmaster, o.ops, o.warmup, op);
    await printStatements([base, big]);
    await new Promise((r) => setTimeout(r, 1500)); // backends flush their counters to pg_stat_database at most once a second
    const io = new Map<Side, Blocks>();
    for (const s of [base, big]) {
      const b = await blocks(s);
      io.set(s, { read: (b.read - before.get(s)!.read) / s.next, hit: (b.hit - before.get(s)!.hit) / s.next });
    }
    const replaced = async (s: Side) => Number((await s.sql.query("SELECT count(*) AS n FROM audit_events WHERE type = 'certificate.replaced'")).rows[0].n);
    const updates = async (s: Side) => (await s.sql.query<{ upd: string; hot: string }>(
      "SELECT n_tup_upd AS upd, n_tup_hot_upd AS hot FROM pg_stat_user_tables WHERE relid = 'certificates'::regclass")).rows[0];
    const tables = async (s: Side) => Number((await s.sql.query(
      "SELECT pg_total_relation_size('certificates') + pg_total_relation_size('certificate_names') AS n")).rows[0].n);
    const bytes = new Map([[base, await tables(base)], [big, await tables(big)]]);
    const rb = await replaced(base);
    const rg = await replaced(big);
    const upd = new Map([[base, await updates(base)], [big, await updates(big)]]);
    reportPair("pg-issuance-store-work-requester", (s) => held.get(s)!, base, big, (s) => ({
      requester_holding: held.get(s), seed_seconds: seeded.get(s), implicit_renewals: s === base ? rb : rg, issuances_incl_warmup: s.next,
      // Pages per issuance (warm-up included) found in shared_buffers and read from outside them (the OS cache).
      pg_blocks_hit_per_op: Math.round(io.get(s)!.hit * 10) / 10, pg_blocks_read_per_op: Math.round(io.get(s)!.read * 10) / 10,
      // Row updates (completions, replacements) and how many of them were heap-only (no index entry written).
      certificate_updates: Number(upd.get(s)!.upd), heap_only_updates: Number(upd.get(s)!.hot),
      // The certificate tables with their indexes (what the buffer cache should hold), after the run.
      certificate_tables_mb: Math.round(bytes.get(s)! / 1e6),
    }), o.server);
  } finally {
    await closeSide(base);
    await closeSide(big);
  }
}

/** (b) Revocations with N revoked present, then the build of each side's CRL. */
export async function crlCurve(pgUrl: string, postmaster: number, o: CurveOptions): Promise<void> {
  const base = await openSide(pgUrl, "crl-base");
  const big = await openSide(pgUrl, "crl-big");
  try {
    const seeded = new Map<Side, number>();
    for (const [s, n] of [[base, o.base], [big, o.big]] as const) seeded.set(s, (await seed(s, "revoked", n)).seconds);
    const present = new Map<Side, number>([[base, o.base], [big, o.big]]);
    const targets = new Map<Side, string[]>();
    for (const s of [base, big]) targets.set(s, (await seed(s, "target", o.ops + o.warmup + 10)).serials);
    const builds0 = base.gw.crls.stats.started + big.gw.crls.stats.started;
    await paired(base, big, postmaster, o.ops, o.warmup, async (s, i) => {
      await s.gw.revocation.revoke(targets.get(s)![i], "keyCompromise", "admin:bench");
    });
    const buildsDuring = base.gw.crls.stats.started + big.gw.crls.stats.started - builds0;
    reportPair("pg-revoke-crl-entries", (s) => present.get(s)!, base, big, (s) => ({ revoked_present: present.get(s), seed_seconds: seeded.get(s), crl_builds_during: buildsDuring }), o.server);
    for (const s of [base, big]) {
      const ca = s.gw.cas.issuing[0];
      await s.gw.crls.publish(ca); // warm-up: JIT, buffers
      const c0 = process.cpuUsage();
      const p0 = treeCpuMs(postmaster).ms;
      const t0 = performance.now();
      const rec = await s.gw.crls.publish(ca);
      const wall = performance.now() - t0;
      const d = process.cpuUsage(c0);
      const cpu = (d.user + d.system) / 1000;
      const pgCpu = treeCpuMs(postmaster).ms - p0;
      const entries = present.get(s)! + o.ops + o.warmup;
      console.log(JSON.stringify({
        case: `pg-crl-build-${entries}`, ops: 1, entries, wall_ms: Math.round(wall), gateway_cpu_ms_per_op: Math.round(cpu), postgres_cpu_ms_per_op: Math.round(pgCpu),
        total_cpu_ms_per_op: Math.round(cpu + pgCpu), cpu_us_per_entry: Math.round(((cpu + pgCpu) / entries) * 10_000) / 10, der_bytes: rec.der.length, crl_number: rec.number,
        reference: null, cpu_ratio: null, target: "< 10 s for 1M entries (streaming encoder, keyset pages)", met: wall < 10_000 * (entries / 1_000_000) || wall < 10_000, store: "postgres", ...o.server,
      }));
    }
  } finally {
    await closeSide(base);
    await closeSide(big);
  }
}
