/**
 * Huge pages for the bench's PostgreSQL buffer cache. With a 2 GB shared_buffers on 4 KiB pages, every cold B-tree
 * page a statement touches also costs TLB misses, so a 1,000,000-row table's random index descents cost more CPU
 * per page than a small table's, whose pages stay in the CPU's caches: the cost curve then measures the page tables,
 * not the store. PostgreSQL's documentation recommends huge pages for a large buffer cache, and a production server
 * sized for such an inventory has them (docs/operations.md#sizing-the-database-server).
 *
 * BENCH_PG_HUGE_PAGES: `auto` (default) reserves 2 MiB pages in /proc/sys/vm/nr_hugepages (root) for the cluster
 * and starts it with huge_pages=on; when that is not possible, or with `off`, the cluster runs with huge_pages=off.
 * The reservation is given back when the bench ends (also on Ctrl-C or an error).
 */
import { readFileSync, writeFileSync } from "node:fs";

const NR = "/proc/sys/vm/nr_hugepages";
const PAGE = 2 * 1024 * 1024;

export interface HugePages {
  /** huge_pages=on|off for the cluster's settings. */
  setting: "on" | "off";
  /** Why the bench runs without them, when it does. */
  reason?: string;
  release(): void;
}

/** "2GB", "512MB", "131072kB" or a bare count of 8 kB buffers, as PostgreSQL reads shared_buffers, in bytes. */
export function pgBytes(v: string): number {
  const m = /^(\d+)\s*(kB|MB|GB|TB)?$/.exec(v.trim());
  if (!m) throw new Error(`cannot read the size "${v}" (e.g. 2GB, 512MB)`);
  const unit = m[2] ? { kB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 }[m[2]]! : 8192;
  return Number(m[1]) * unit;
}

function hugePageSize(): number {
  const m = /Hugepagesize:\s+(\d+) kB/.exec(readFileSync("/proc/meminfo", "utf8"));
  return m ? Number(m[1]) * 1024 : 0;
}

/** Reserves enough 2 MiB pages for `sharedBuffers` plus PostgreSQL's other shared memory (WAL buffers, locks). */
export function reserveHugePages(sharedBuffers: string, mode = process.env.BENCH_PG_HUGE_PAGES ?? "auto"): HugePages {
  const none = (reason: string): HugePages => ({ setting: "off", reason, release: () => {} });
  if (mode === "off") return none("BENCH_PG_HUGE_PAGES=off");
  if (hugePageSize() !== PAGE) return none("no 2 MiB huge pages on this kernel");
  let before: number;
  try {
    before = Number(readFileSync(NR, "utf8").trim());
  } catch (e) {
    return none(`cannot read ${NR}: ${(e as Error).message}`);
  }
  const buffers = Math.ceil(pgBytes(sharedBuffers) / PAGE);
  const want = before + buffers + Math.ceil(buffers / 8) + 64;
  try {
    writeFileSync(NR, String(want));
  } catch (e) {
    return none(`cannot reserve huge pages in ${NR} (needs root): ${(e as Error).message}`);
  }
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    try {
      writeFileSync(NR, String(before));
    } catch {
      // Nothing to do: the pages stay reserved until the next write to nr_hugepages or a reboot.
    }
  };
  process.once("exit", release);
  // The kernel reserves what it can find in contiguous memory, which may be less than asked.
  const got = Number(readFileSync(NR, "utf8").trim());
  if (got < want) {
    release();
    return none(`the kernel reserved ${got - before} of ${want - before} huge pages`);
  }
  return { setting: "on", release };
}
