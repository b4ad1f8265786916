import type { Gateway } from "../gateway.js";

export interface Readiness {
  ok: boolean;
  checks: Record<string, boolean>;
}

/** The /readyz verdict (also gateway_ready): the database and every CA signer answer. */
export async function readiness(gw: Pick<Gateway, "store" | "cas">): Promise<Readiness> {
  const checks: Record<string, boolean> = {};
  try {
    checks.database = await gw.store.ping();
  } catch {
    checks.database = false;
  }
  for (const ca of gw.cas.all) {
    checks[`signer:${ca.name}`] = await ca.signer.ping().catch(() => false);
  }
  return { ok: Object.values(checks).every(Boolean), checks };
}
