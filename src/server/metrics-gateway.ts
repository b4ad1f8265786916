import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { Counter, Gauge } from "prom-client";
import type { Gateway } from "../gateway.js";
import type { Metrics } from "./metrics.js";
import { readiness } from "./readiness.js";

/*
 * The metrics read from the gateway's state when /metrics is scraped: certificate expiry (CA and signing
 * certificates), readiness, outbox dead letters, and the revocation and CRL counts the services keep. Computed at
 * scrape, so nothing is paid per request and nothing goes stale between scrapes.
 */

const observed = new WeakSet<Metrics>();

/** Registers the scrape-time metrics of `gw` once (buildApps calls it; a second call does nothing). */
export function observeGateway(gw: Gateway): void {
  const m = gw.metrics;
  if (observed.has(m)) return;
  observed.add(m);
  const registers = [m.registry];

  for (const ca of gw.cas.all) if (ca.ocsp) m.signerCertificate(`ocsp:${ca.name}`, ca.ocsp.cert.validTo);
  const tls = tlsNotAfter(gw.paths.tls.cert);
  if (tls) m.signerCertificate("tls", tls);

  new Gauge({
    name: "gateway_ca_certificate_expiry_seconds", help: "Seconds until each CA certificate's notAfter (negative once expired)", labelNames: ["ca"], registers,
    collect() {
      const now = Date.now();
      for (const ca of gw.cas.all) this.set({ ca: ca.name }, secondsUntil(ca.cert.validTo, now));
    },
  });
  new Gauge({
    name: "gateway_signer_certificate_expiry_seconds", help: "Seconds until the notAfter of certificates the gateway signs or serves with (OCSP responder, SCEP RA, CMP responder, TLS)",
    labelNames: ["signer"], registers,
    collect() {
      const now = Date.now();
      for (const [signer, notAfter] of m.signerCertificates) this.set({ signer }, Math.round((notAfter.getTime() - now) / 1000));
    },
  });
  new Gauge({
    name: "gateway_ready", help: "1 when /readyz answers ready (database and every CA signer reachable), else 0", registers,
    async collect() {
      this.set((await readiness(gw)).ok ? 1 : 0);
    },
  });
  new Gauge({
    name: "gateway_outbox_dead_letters", help: "Audit events a webhook or syslog sink gave up delivering (redeliver from the console or API)", labelNames: ["sink"], registers,
    async collect() {
      const outboxSinks = new Set(gw.events.outboxSinks());
      for (const s of await gw.events.stats()) if (outboxSinks.has(s.name)) this.set({ sink: s.name }, s.outbox.dead);
    },
  });
  new Gauge({
    name: "gateway_outbox_pending", help: "Audit events waiting for delivery to a webhook or syslog sink", labelNames: ["sink"], registers,
    async collect() {
      const outboxSinks = new Set(gw.events.outboxSinks());
      for (const s of await gw.events.stats()) if (outboxSinks.has(s.name)) this.set({ sink: s.name }, s.outbox.pending + s.outbox.sending);
    },
  });
  new Counter({
    name: "gateway_revocations_total", help: "Certificates revoked by this process, by reason", labelNames: ["reason"], registers,
    collect() {
      // The service's own tally, which only grows: the counter is set to it (reset, then raised).
      this.reset();
      for (const [reason, n] of gw.revocation.revoked) this.inc({ reason }, n);
    },
  });
  new Counter({
    name: "gateway_crls_generated_total", help: "CRLs built, signed and stored by this process, by CA", labelNames: ["ca"], registers,
    collect() {
      this.reset();
      for (const [ca, n] of gw.crls.generated) this.inc({ ca }, n);
    },
  });
}

function secondsUntil(validTo: string, now: number): number {
  return Math.round((Date.parse(validTo) - now) / 1000);
}

/** The served TLS certificate's notAfter (the first certificate of the PEM file), if it can be read. */
function tlsNotAfter(file: string): string | undefined {
  try {
    return new X509Certificate(readFileSync(file)).validTo;
  } catch {
    return undefined;
  }
}
