/**
 * Audit-append rate with several concurrent writers on one PostgreSQL database: `writers` processes (forked
 * scale-audit-writer.ts, each with its own PostgresStore and pool, as separate gateway processes would be),
 * each appending `events` through AuditLog.record. All start on one "go"; the rate is all events over the
 * wall time from "go" to the last writer done. Then AuditLog.verify() walks the whole chain (no fork, no gap).
 */
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { AuditLog } from "../../src/audit/audit-log.js";
import { openPostgresStore } from "../../src/store/postgres/store.js";
import { createDatabase } from "../helpers/postgres.js";
import { TreeMeter } from "./scale-cpu.js";

const WRITER = fileURLToPath(new URL("./scale-audit-writer.ts", import.meta.url));

interface Done { done: true; wallMs: number; cpuMs: number; failures: number }

export async function auditAppendRate(pgUrl: string, postmaster: number, o: { writers: number; events: number; inflight: number }): Promise<boolean> {
  const db = await createDatabase(pgUrl);
  // Migrate once before the writers start (they would serialise on the migration lock anyway).
  const store = await openPostgresStore({ url: db.url, poolSize: 2 });
  const children: ChildProcess[] = [];
  try {
    const ready: Array<Promise<void>> = [];
    const done: Array<Promise<Done>> = [];
    for (let id = 1; id <= o.writers; id++) {
      // Settings through the environment: the URL holds the cluster's password, which must not show in `ps`.
      const env = { ...process.env, BENCH_AUDIT_WRITER: JSON.stringify({ url: db.url, events: o.events, inflight: o.inflight, id }) };
      const c = fork(WRITER, [], { env, execArgv: ["--import", "tsx"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
      children.push(c);
      const exited = new Promise<never>((_, reject) => c.once("exit", (code) => reject(new Error(`audit writer ${id} exited (${code}) before it was done`))));
      ready.push(Promise.race([new Promise<void>((r) => c.on("message", (m: { ready?: boolean }) => m.ready && r())), exited]));
      done.push(Promise.race([new Promise<Done>((r) => c.on("message", (m: Partial<Done>) => m.done && r(m as Done))), exited]));
    }
    await Promise.all(ready);
    const meter = new TreeMeter([postmaster]);
    for (const c of children) c.send({ go: true });
    const results = await Promise.all(done);
    const m = meter.stop();
    const total = o.writers * o.events;
    const failures = results.reduce((n, r) => n + r.failures, 0);
    const writersCpu = results.reduce((n, r) => n + r.cpuMs, 0);
    const t0 = performance.now();
    const verdict = await new AuditLog(store).verify();
    const verifyMs = performance.now() - t0;
    const expected = total + o.writers; // plus one warm-up event per writer
    const intact = verdict.ok && verdict.events === expected && failures === 0;
    const r3 = (v: number) => Math.round(v * 1000) / 1000;
    console.log(JSON.stringify({
      case: `pg-audit-append-${o.writers}-writers`, ops: total, writers: o.writers, writer_kind: "processes, each its own PostgresStore (pool) and AuditLog",
      inflight_per_writer: o.inflight, events_per_s: Math.round((total / m.wallMs) * 1000), wall_ms: Math.round(m.wallMs),
      writer_max_wall_ms: Math.round(Math.max(...results.map((r) => r.wallMs))),
      gateway_cpu_ms_per_op: r3(writersCpu / total), postgres_cpu_ms_per_op: r3(m.cpuMs[0] / total), total_cpu_ms_per_op: r3((writersCpu + m.cpuMs[0]) / total),
      failures, chain_events: verdict.events, chain_expected: expected, chain_ok: verdict.ok, chain_why: verdict.ok ? null : verdict.why, verify_ms: Math.round(verifyMs),
      reference: null, cpu_ratio: null, target: "one unbroken chain with concurrent writers (verify intact, every event present)", met: intact, store: "postgres",
    }));
    return intact;
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
    await store.close();
    await db.drop();
  }
}
