// One audit writer process of the scale bench (scale-audit.ts forks 4): its own PostgresStore (own pool) and
// AuditLog on the shared database; on "go" it appends N events through AuditLog.record, `inflight` at a time,
// and reports its own CPU and wall time. Settings: BENCH_AUDIT_WRITER, a JSON object { url, events, inflight, id }.
import { AuditLog } from "../../src/audit/audit-log.js";
import { openPostgresStore } from "../../src/store/postgres/store.js";

interface Args { url: string; events: number; inflight: number; id: number }

async function main(): Promise<void> {
  const a = JSON.parse(process.env.BENCH_AUDIT_WRITER ?? "{}") as Args;
  const store = await openPostgresStore({ url: a.url, poolSize: a.inflight + 1 });
  const audit = new AuditLog(store);
  // One append before "go": connections open and statements prepared outside the timed window.
  await audit.record({ type: "bench.warmup", actor: `writer:${a.id}`, data: {} });
  process.send!({ ready: true });
  await new Promise<void>((resolve) => process.once("message", () => resolve()));
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let left = a.events;
  let failures = 0;
  await Promise.all(Array.from({ length: a.inflight }, async () => {
    while (left > 0) {
      const i = left--;
      try {
        await audit.record({ type: "bench.event", actor: `writer:${a.id}`, target: `e-${a.id}-${i}`, data: { i, writer: a.id } });
      } catch {
        failures++;
      }
    }
  }));
  const wallMs = performance.now() - t0;
  const d = process.cpuUsage(c0);
  process.send!({ done: true, wallMs, cpuMs: (d.user + d.system) / 1000, failures }, () => {
    void store.close().finally(() => process.exit(0));
  });
}

main().catch((e: unknown) => {
  process.stderr.write(`audit writer: ${(e as Error).message}\n`);
  process.exit(1);
});
