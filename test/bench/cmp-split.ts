import { inProcessCmp } from "./cmp-in-process.js";
import { selfCpuMs } from "./cpu.js";
import { numberEnv } from "./stats.js";

/*
 * Where the gateway's CPU per CMP cr + certConf transaction goes, in process and without HTTP: handleCmp is
 * called directly with the messages of cmp-client.ts (PasswordBasedMac, one salt per client, as in
 * cmp.bench.ts), one transaction after the other, and the CPU of each call is split into
 *   engine      gw.enrollment.enroll: policy, issuance (signing, lint), store, and the audit events it records
 *               (an issued certificate's cmp.request included: it commits with the certificate);
 *   cmp audit   the other cmp.request events (gw.audit.record outside enroll, recordAsync and its commit);
 *   cmp layer   the rest of handleCmp: decoding, MAC, proof of possession, transaction table, answer.
 * HTTP (node's server, express, the sockets) is what cmp.bench.ts's process figure adds on top of the total.
 * BENCH_CMP_TRANSACTIONS (default 1000) after BENCH_CMP_WARMUP (default 200); BENCH_CMP_FRESH_SALT=1: a new PBM salt
 * for every message (one derivation per message, in the MAC workers, whose CPU counts). Prints one JSON line.
 */

const transactions = numberEnv("BENCH_CMP_TRANSACTIONS", 1000, 1);
const warmup = numberEnv("BENCH_CMP_WARMUP", 200, 0);
const freshSalt = process.env.BENCH_CMP_FRESH_SALT === "1";
async function main(): Promise<void> {
  const cpu = { handle: 0, engine: 0, audit: 0 };
  const { gw, client, close } = await inProcessCmp({ freshSalt, onHandled: (ms) => (cpu.handle += ms) });
  let inEngine = false;
  const enroll = gw.enrollment.enroll.bind(gw.enrollment);
  (gw.enrollment as { enroll: typeof enroll }).enroll = async (r) => {
    const c0 = selfCpuMs();
    inEngine = true;
    try {
      return await enroll(r);
    } finally {
      inEngine = false;
      cpu.engine += selfCpuMs() - c0;
    }
  };
  const record = gw.audit.record.bind(gw.audit);
  (gw.audit as { record: typeof record }).record = (e) => {
    if (inEngine) return record(e);
    const c0 = selfCpuMs();
    try {
      return record(e);
    } finally {
      cpu.audit += selfCpuMs() - c0;
    }
  };
  // recordAsync: the event and the commit it waits for (the certConf's cmp.request commits alone).
  const recordAsync = gw.audit.recordAsync.bind(gw.audit);
  (gw.audit as { recordAsync: typeof recordAsync }).recordAsync = async (e) => {
    const c0 = selfCpuMs();
    const wasInEngine = inEngine;
    inEngine = true; // its record() is counted here, once
    try {
      return await recordAsync(e);
    } finally {
      inEngine = wasInEngine;
      cpu.audit += selfCpuMs() - c0;
    }
  };
  let n = 0;
  const run = async (count: number) => {
    for (let i = 0; i < count; i++) {
      const r = await client.transaction(`split-${++n}.example.com`);
      if (!r.ok) throw new Error(r.error);
    }
  };
  try {
    await run(warmup);
    Object.assign(cpu, { handle: 0, engine: 0, audit: 0 });
    await run(transactions);
    const per = (v: number) => Math.round((v / transactions) * 1000) / 1000;
    const layer = cpu.handle - cpu.engine - cpu.audit;
    console.log(JSON.stringify({
      case: `cmp-cr-certconf/split${freshSalt ? "/fresh-salt" : ""}`, ops: transactions, handle_cmp_cpu_ms_per_op: per(cpu.handle),
      engine_cpu_ms_per_op: per(cpu.engine), cmp_audit_cpu_ms_per_op: per(cpu.audit), cmp_layer_cpu_ms_per_op: per(layer),
      engine_share: Math.round((cpu.engine / cpu.handle) * 1000) / 1000,
    }));
  } finally {
    await close();
  }
}

main().then(() => process.exit(0), (e: unknown) => {
  process.stderr.write(`cmp split failed: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
