import { EnrollmentService } from "../../src/enrollment/service.js";
import type { Gateway } from "../../src/gateway.js";
import type { SqliteStore } from "../../src/store/sqlite/store.js";
import { makeCsr, tempDir } from "../helpers/openssl.js";

/** Issues `n` real certificates through the engine (one OpenSSL CSR, each signed and stored); returns their serials. */
const csrs = new Map<string, Uint8Array>();

export async function issueMany(gw: Gateway, n: number, name = "inventory.example.com"): Promise<string[]> {
  const der = csrs.get(name) ?? makeCsr(tempDir(), "inventory", { sans: [`DNS:${name}`] }).der;
  csrs.set(name, der);
  const serials: string[] = [];
  for (let i = 0; i < n; i++) {
    // The engine may finish without touching I/O: let timers and child processes in this process run between issuances.
    await new Promise((r) => setImmediate(r));
    const out = await gw.enrollment.enroll({ requestId: EnrollmentService.newRequestId(), protocol: "admin", requester: { kind: "admin", id: "inventory" }, profile: "tls-server", csr: der });
    if (out.status !== "issued") throw new Error(`certificate ${i} was not issued`);
    serials.push(out.certificate.serial);
  }
  return serials;
}

/** Every serial in the inventory now, read straight from the table. */
export function allSerials(gw: Gateway): string[] {
  return ((gw.store as SqliteStore).raw.prepare("SELECT serial FROM certificates").all() as Array<{ serial: string }>).map((r) => r.serial);
}

/** Asserts each of `expected` occurs exactly once in `seen` and nothing in `seen` repeats; returns the problems found. */
export function exactlyOnce(expected: string[], seen: string[]): { missing: string[]; repeated: string[] } {
  const counts = new Map<string, number>();
  for (const s of seen) counts.set(s, (counts.get(s) ?? 0) + 1);
  return {
    missing: expected.filter((s) => !counts.has(s)),
    repeated: [...counts.entries()].filter(([, n]) => n > 1).map(([s]) => s),
  };
}
