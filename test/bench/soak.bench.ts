import { join } from "node:path";
import { makeTempDir, removeTempDir } from "./child.js";
import { discover } from "./scep-load.js";
import { makeClientIdentity } from "./scep-csrs.js";
import { startSoakGateway, type SoakGateway } from "./soak-gateway.js";
import { Agents } from "./soak-http.js";
import { OcspRequests } from "./soak-ocsp.js";
import { acmeClient, p256, type Shared, type Worker } from "./soak-tasks.js";
import { batchPlan, runBatch } from "./soak-traffic.js";
import { numberEnv } from "./stats.js";

/*
 * Memory soak: `gateway serve` in its own process (node --expose-gc, IPC memory probe), BENCH_SOAK_BATCHES
 * (5) batches of mixed traffic over loopback (ACME, EST, SCEP, CMP, OCSP, admin API, console sessions;
 * about 2,500 HTTP requests each at BENCH_SOAK_SCALE=1) from BENCH_SOAK_CONCURRENCY (8) workers, each batch
 * cut at BENCH_SOAK_BATCH_SECONDS (240). After each batch the clients close their connections, the gateway
 * runs a full GC and reports process.memoryUsage(); one JSON line per batch (heapUsed, RSS, server CPU ms
 * per request from /proc/<pid>/stat), then one verdict line: the last batch's heapUsed within 10 % of the
 * second's (the first batch warms caches and code). BENCH_SOAK_SNAPSHOT_DIR=DIR also writes a heap snapshot
 * after every batch (compare two with test/bench/heap-diff.ts).
 *
 * Exits non-zero when the heap is not within bounds or more than 1 % of the requests failed.
 */

const batches = numberEnv("BENCH_SOAK_BATCHES", 5, 2);
const scale = numberEnv("BENCH_SOAK_SCALE", 1, 0.01);
const concurrency = numberEnv("BENCH_SOAK_CONCURRENCY", 8, 1);
const batchSeconds = numberEnv("BENCH_SOAK_BATCH_SECONDS", 240, 1);
const snapshotDir = process.env.BENCH_SOAK_SNAPSHOT_DIR;
const TOLERANCE = 0.1;
/** Requests refused on purpose: from another address (any 127/8 one reaches the loopback listeners on Linux), rare enough for a connection each. */
const REFUSING = { localAddress: "127.0.0.2", keepAlive: false };
/** After the clients hang up, before measuring: the gateway sees every close first. */
const SETTLE_MS = 1000;

const mb = (n: number) => Math.round((n / 1048576) * 10) / 10;

async function main(): Promise<number> {
  const dir = makeTempDir("bench-soak-client-");
  let gw: SoakGateway | undefined;
  const workers: Worker[] = [];
  try {
    gw = await startSoakGateway();
    const t = gw.targets;
    const setup = new Agents(t.rootPem);
    const csr = p256();
    const shared: Shared = {
      t, scep: await discover(`${t.http}/scep`, setup.http, 30_000), scepId: makeClientIdentity(dir), ocsp: new OcspRequests(t.issuingDer),
      serials: [], csrKey: csr.key, csrSpki: csr.spki, cmpKey: p256().key,
    };
    setup.destroy();
    for (let n = 0; n < concurrency; n++) {
      const counter = { acmeRequests: 0 };
      const acme = await acmeClient(shared, counter);
      workers.push(Object.assign(counter, { n, agents: new Agents(t.rootPem), refusing: new Agents(t.rootPem, REFUSING), acme }));
    }
    const plan = batchPlan(scale);
    const heap: number[] = [];
    let requests = 0;
    let errors = 0;
    for (let b = 1; b <= batches; b++) {
      for (const w of workers) {
        w.agents = new Agents(t.rootPem);
        w.refusing = new Agents(t.rootPem, REFUSING);
        w.cmp = undefined;
      }
      const cpu0 = gw.cpuMs();
      const tally = await runBatch(plan, shared, workers, Date.now() + batchSeconds * 1000);
      const cpuMs = gw.cpuMs() - cpu0;
      // Idle clients: no connection of this batch stays open while the gateway is measured.
      for (const w of workers) {
        w.agents.destroy();
        w.refusing.destroy();
        w.acme.close();
      }
      await new Promise((r) => setTimeout(r, SETTLE_MS));
      const mem = await gw.memory();
      const rss = gw.rss();
      heap.push(mem.heapUsed);
      requests += tally.requests;
      errors += tally.errors;
      if (snapshotDir) process.stderr.write(`soak: heap snapshot ${await gw.snapshot(join(snapshotDir, `soak-batch-${b}.heapsnapshot`))}\n`);
      console.log(JSON.stringify({
        bench: "soak", batch: b, requests: tally.requests, tasks: tally.tasks, errors: tally.errors, seconds: Math.round(tally.seconds * 10) / 10,
        ...(tally.cutShort ? { cutShort: true } : {}),
        heapUsedMB: mb(mem.heapUsed), heapTotalMB: mb(mem.heapTotal), rssMB: mb(mem.rss), rssAnonMB: mb(rss.anon), rssFileMB: mb(rss.file), externalMB: mb(mem.external),
        serverCpuMsPerRequest: tally.requests ? Math.round((cpuMs / tally.requests) * 100) / 100 : null,
      }));
      if (tally.firstErrors.length) process.stderr.write(`soak batch ${b}: ${tally.errors} failed task(s), e.g.:\n${tally.firstErrors.map((e) => `  ${e}`).join("\n")}\n${gw.logTail(10)}\n`);
    }
    const second = heap[1];
    const last = heap[heap.length - 1];
    const changePercent = Math.round(((last - second) / second) * 1000) / 10;
    const withinTenPercent = Math.abs(last - second) <= TOLERANCE * second;
    console.log(JSON.stringify({ bench: "soak", check: "last batch heapUsed within 10 % of the second's", secondMB: mb(second), lastMB: mb(last), changePercent, withinTenPercent }));
    const failedShare = requests ? errors / requests : 1;
    if (failedShare > 0.01) process.stderr.write(`soak: ${errors} of ${requests} requests failed (over 1 %)\n`);
    return withinTenPercent && failedShare <= 0.01 ? 0 : 1;
  } finally {
    for (const w of workers) w.acme.close();
    await gw?.stop();
    removeTempDir(dir);
  }
}

main().then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`soak bench failed: ${(e as Error).stack ?? e}\n`);
    process.exit(1);
  },
);
