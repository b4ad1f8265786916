import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { RenewalCounts } from "../lifecycle/monitor.js";
import type { SignerObserver } from "../ca/sign-object.js";
import type { Store } from "../store/types.js";
import type { RouteLabel } from "./route-template.js";

/** Outcome label of a finished HTTP request, from its status. */
export type Outcome = "success" | "client_error" | "server_error";
const OUTCOMES: readonly Outcome[] = ["success", "client_error", "server_error"];
const outcomeIndex = (status: number) => (status >= 500 ? 2 : status >= 400 ? 1 : 0);

interface Observe { observe(v: number): void }
interface Inc { inc(): void }

export class Metrics {
  readonly registry = new Registry();
  readonly requests = new Counter({ name: "gateway_enrollment_requests_total", help: "Enrollment requests by protocol, profile and result", labelNames: ["protocol", "profile", "result"], registers: [this.registry] });
  readonly issuances = new Counter({ name: "gateway_issuances_total", help: "Certificates issued by protocol and profile", labelNames: ["protocol", "profile"], registers: [this.registry] });
  readonly issuanceSeconds = new Histogram({ name: "gateway_issuance_duration_seconds", help: "Engine time from plan to stored certificate", labelNames: ["profile"], buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 2.5, 5, 10], registers: [this.registry] });
  /** Up to 5 s and beyond: a network HSM answers in tens of milliseconds when well, in seconds when not. */
  readonly signerSeconds = new Histogram({
    name: "gateway_signer_duration_seconds", help: "Time spent in the signer per signature (certificates, CRLs, OCSP responses)", labelNames: ["signer"],
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: [this.registry],
  });
  readonly signerErrors = new Counter({ name: "gateway_signer_errors_total", help: "Signatures that failed or did not verify, by signer", labelNames: ["signer"], registers: [this.registry] });
  readonly httpRequests = new Counter({ name: "gateway_http_requests_total", help: "HTTP requests by listener, method and status", labelNames: ["listener", "method", "status"], registers: [this.registry] });
  readonly httpSeconds = new Histogram({
    name: "gateway_http_request_duration_seconds", help: "HTTP request duration by protocol, route template, method and outcome",
    labelNames: ["protocol", "route", "method", "outcome"], buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [this.registry],
  });
  readonly refusals = new Counter({ name: "gateway_refusals_total", help: "Requests refused, by protocol and error code", labelNames: ["protocol", "code"], registers: [this.registry] });
  readonly ocspResponses = new Counter({ name: "gateway_ocsp_responses_total", help: "OCSP responses by certificate status (good, revoked, unknown) or error status", labelNames: ["status"], registers: [this.registry] });
  readonly connectionsRefused = new Counter({ name: "gateway_http_connections_refused_total", help: "Connections closed at once because their address already held its cap", labelNames: ["listener"], registers: [this.registry] });

  /** Labelled children by route label, outcome and method: looked up, never built, per request. */
  private readonly httpChildren = new Map<RouteLabel, Array<Map<string, Observe>>>();
  private readonly refusalChildren = new Map<string, Inc>();
  private readonly ocspChildren = new Map<string, Inc>();

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

  /** One finished HTTP request: its duration, and its refusal code if a front-end refused it. */
  httpRequest(route: RouteLabel, method: string, status: number, seconds: number, refusal: string | undefined): void {
    let byOutcome = this.httpChildren.get(route);
    if (!byOutcome) {
      byOutcome = [new Map(), new Map(), new Map()];
      // Route labels are interned up to a cap (route-template.ts); past it a label is a fresh object per request.
      if (this.httpChildren.size < 2000) this.httpChildren.set(route, byOutcome);
    }
    const i = outcomeIndex(status);
    let h = byOutcome[i].get(method);
    if (!h) {
      h = this.httpSeconds.labels({ protocol: route.protocol, route: route.route, method, outcome: OUTCOMES[i] });
      if (byOutcome[i].size < 64) byOutcome[i].set(method, h);
    }
    h.observe(seconds);
    if (refusal !== undefined) this.child(this.refusalChildren, `${route.protocol} ${refusal}`, () => this.refusals.labels({ protocol: route.protocol, code: refusal })).inc();
  }

  /** One OCSP response sent, by the status it states (a bounded set: cert statuses and OCSP error statuses). */
  ocspResponse(status: string): void {
    this.child(this.ocspChildren, status, () => this.ocspResponses.labels({ status })).inc();
  }

  /** What signAndVerify reports for one signer (see observeSigner): duration and failures under `label`. */
  signerObserver(label: string): SignerObserver {
    const seconds = this.signerSeconds.labels({ signer: label });
    const errors = this.signerErrors.labels({ signer: label });
    return { signed: (s) => seconds.observe(s), failed: () => errors.inc() };
  }

  private child(cache: Map<string, Inc>, key: string, make: () => Inc): Inc {
    let c = cache.get(key);
    if (!c) {
      c = make();
      if (cache.size < 1000) cache.set(key, c);
    }
    return c;
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

  /** Certificates whose expiry is exported in gateway_signer_certificate_expiry_seconds, by signer name. */
  readonly signerCertificates = new Map<string, Date>();

  /** Registers (or replaces) a signing certificate whose notAfter is watched (OCSP responder, SCEP RA, CMP, TLS). */
  signerCertificate(name: string, notAfter: Date | string): void {
    this.signerCertificates.set(name, new Date(notAfter));
  }
}
