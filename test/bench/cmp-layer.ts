import type { EnrollmentOutcome } from "../../src/enrollment/service.js";
import { inProcessCmp } from "./cmp-in-process.js";
import { numberEnv } from "./stats.js";

/*
 * The CMP layer alone, in process: handleCmp with the messages of cmp-client.ts (PasswordBasedMac, one salt per
 * client), the engine answering every request with the certificate of one real issuance (no policy, signing or
 * store) and the cmp.request audit events taken but not written. What is left is what protocols/cmp costs:
 * decoding, MAC, proof of possession, transaction table, the answer and its protection. Prints one JSON line;
 * run it under `node --cpu-prof` to see where that goes. BENCH_CMP_TRANSACTIONS (default 3000) after
 * BENCH_CMP_WARMUP (default 300).
 */

const transactions = numberEnv("BENCH_CMP_TRANSACTIONS", 3000, 1);
const warmup = numberEnv("BENCH_CMP_WARMUP", 300, 0);
const freshSalt = process.env.BENCH_CMP_FRESH_SALT === "1";
async function main(): Promise<void> {
  let handleMs = 0;
  const { gw, client, close } = await inProcessCmp({ freshSalt, onHandled: (ms) => (handleMs += ms) });
  // One real issuance, then the engine and the cmp.request events are stubbed out.
  let issued: EnrollmentOutcome | undefined;
  const enroll = gw.enrollment.enroll.bind(gw.enrollment);
  (gw.enrollment as { enroll: typeof enroll }).enroll = async (r) => (issued ??= await enroll(r));
  const first = await client.transaction("layer-0.example.com");
  if (!first.ok) throw new Error(first.error);
  (gw.audit as { recordAsync: unknown }).recordAsync = (e: unknown) => Promise.resolve(e);
  let n = 0;
  const run = async (count: number) => {
    for (let i = 0; i < count; i++) {
      const r = await client.transaction(`layer-${++n}.example.com`);
      if (!r.ok) throw new Error(r.error);
    }
  };
  try {
    await run(warmup);
    handleMs = 0;
    await run(transactions);
    console.log(JSON.stringify({ case: `cmp-cr-certconf/layer${freshSalt ? "/fresh-salt" : ""}`, ops: transactions, cmp_layer_cpu_ms_per_op: Math.round((handleMs / transactions) * 1000) / 1000 }));
  } finally {
    await close();
  }
}

main().then(() => process.exit(0), (e: unknown) => {
  process.stderr.write(`cmp layer failed: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
