import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { RenewalCounts } from "../lifecycle/monitor.js";
import type { Store } from "../store/types.js";

export class Metrics {
  readonly registry = new Registry();
  readonly requests = new Counter({ name: "gateway_enrollment_requests_total", help: "Enrollment requests by protocol, profile and result", labelNames: ["protocol", "profile", "result"], registers: [this.registry] });
  readonly issuances = new Counter({ name: "gateway_issuances_total", help: "Certificates issued by protocol and profile", labelNames: ["protocol", "profile"], registers: [this.registry] });
  readonly issuanceSeconds = new Histogram({ name: "gateway_issuance_duration_seconds", help: "Engine time from plan to stored certificate", labelNames: ["profile"], buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers: [this.registry] });
  readonly signerSeconds = new Histogram({ name: "gateway_signer_duration_seconds", help: "Time spent in the signer per signature", labelNames: ["signer"], buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1], registers: [this.registry] });
  readonly httpRequests = new Counter({ name: "gateway_http_requests_total", help: "HTTP requests by listener, method and status", labelNames: ["listener", "method", "status"], registers: [this.registry] });
  readonly connectionsRefused = new Counter({ name: "gateway_http_connections_refused_total", help: "Connections closed at once because their address already held its cap", labelNames: ["listener"], registers: [this.registry] });

  constructor(store: Store, expiryDays: number) {
    // Event-loop delay sampled every 100 ms, not prom-client's 10 ms: the finer timer alone cost an idle
    // gateway ~10 ms of CPU per second, and the delay histogram stays meaningful.
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 100 });
    new Gauge({ name: "gateway_pending_approvals", help: "Requests waiting for an administrator", registers: [this.registry], async collect() { this.set(await store.countPending()); } });
    new Gauge({
      name: "gateway_certificates_expiring", help: `Valid certificates expiring within ${expiryDays} days`, registers: [this.registry],
      async collect() { this.set(await store.countExpiringWithin(expiryDays)); },
    });
  }

  /** Renewals due and missed by profile and owner, counted when scraped. */
  watchRenewals(counts: () => Promise<RenewalCounts>): void {
    const gauge = (name: string, help: string, pick: keyof RenewalCounts) => new Gauge({
      name, help, labelNames: ["profile", "owner"], registers: [this.registry],
      async collect() {
        // Counted before the reset: a failed count leaves the last values, never a half-reset gauge.
        const rows = (await counts())[pick];
        this.reset();
        for (const c of rows) this.set({ profile: c.profile, owner: c.owner }, c.count);
      },
    });
    gauge("gateway_certificates_renewal_due", "Valid certificates inside their profile's renewal window, not yet replaced", "due");
    gauge("gateway_certificates_renewal_missed", "Certificates that expired without being replaced", "missed");
  }
}
