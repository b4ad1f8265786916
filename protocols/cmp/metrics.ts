import { Counter, Gauge, type Registry } from "prom-client";

export interface CmpMetrics {
  /** Key derivations started for MAC protection (requests and answers), by kind. */
  derivations: Counter<"kind">;
  /** MAC-protected messages refused without deriving: throttled after failures, or the pool's queue full. */
  refused: Counter<"reason">;
}

/** CMP's MAC metrics on the gateway's registry; registered once per registry (several mounts share them). */
export function cmpMetrics(registry: Registry, pending: () => number): CmpMetrics {
  const existing = registry.getSingleMetric("gateway_cmp_mac_derivations_total") as Counter<"kind"> | undefined;
  if (existing) return { derivations: existing, refused: registry.getSingleMetric("gateway_cmp_mac_refused_total") as Counter<"reason"> };
  new Gauge({ name: "gateway_cmp_mac_derivations_pending", help: "MAC key derivations running or queued", registers: [registry], collect() { this.set(pending()); } });
  return {
    derivations: new Counter({ name: "gateway_cmp_mac_derivations_total", help: "CMP MAC key derivations started, by kind (pbm, pbmac1)", labelNames: ["kind"], registers: [registry] }),
    refused: new Counter({ name: "gateway_cmp_mac_refused_total", help: "CMP MAC-protected messages refused before any derivation (throttled, busy)", labelNames: ["reason"], registers: [registry] }),
  };
}
