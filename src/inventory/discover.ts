import type { Store } from "../store/types.js";
import type { DiscoverySighting } from "../store/discovery-types.js";
import { certificateFacts, type CertFacts } from "./facts.js";
import { DEFAULT_FILE_LIMITS, readCertificatePaths, type FileLimits } from "./files.js";
import { fetchPeerChain, parseTarget } from "./tls-fetch.js";
import { assess, type WeaknessFlag } from "./weakness.js";

export interface DiscoverOptions {
  /** "host:port" TLS endpoints. */
  targets?: string[];
  /** PEM/DER files and directories (recursive). */
  paths?: string[];
  timeoutMs?: number;
  warnDays?: number;
  /** Endpoints contacted at once. */
  concurrency?: number;
  fileLimits?: FileLimits;
  /** The clock for flags and first/last seen (tests). */
  now?: Date;
}

export const DEFAULT_TIMEOUT_MS = 5_000;
export const DEFAULT_WARN_DAYS = 30;

/** One certificate at one location. */
export interface DiscoveredItem {
  location: string;
  /** "leaf" and "chain" over TLS (chain = presented after the leaf); "file". */
  position: "leaf" | "chain" | "file";
  fingerprint: string;
  subject: string;
  issuer: string;
  serial: string;
  notAfter: string;
  keyAlgorithm: string;
  signatureAlgorithm: string;
  isCa: boolean;
  flags: WeaknessFlag[];
  /** Issued by this gateway (same serial and DER in the managed inventory). */
  managedSerial?: string;
}

export interface DiscoveryResult {
  startedAt: string;
  endpoints: { scanned: number; failed: number };
  files: { scanned: number };
  /** Distinct certificates recorded (by fingerprint). */
  recorded: number;
  /** Every certificate at every location. */
  certificates: DiscoveredItem[];
  /** The certificates with at least one flag. */
  findings: DiscoveredItem[];
  /** Endpoints that could not be read, certificates that did not parse. */
  errors: Array<{ location: string; error: string }>;
  /** Files skipped, limits reached. */
  notes: string[];
}

/** Scans endpoints and files, records every certificate found (leaf and chain) as unmanaged inventory, and flags problems. */
export async function discover(o: DiscoverOptions, store: Store): Promise<DiscoveryResult> {
  const now = o.now ?? new Date();
  const at = now.toISOString();
  const warnDays = o.warnDays ?? DEFAULT_WARN_DAYS;
  const res: DiscoveryResult = {
    startedAt: at, endpoints: { scanned: 0, failed: 0 }, files: { scanned: 0 }, recorded: 0, certificates: [], findings: [], errors: [], notes: [],
  };
  const fingerprints = new Set<string>();

  const record = async (der: Uint8Array, location: string, position: DiscoveredItem["position"]): Promise<void> => {
    let f: CertFacts;
    try {
      f = certificateFacts(der);
    } catch (e) {
      res.errors.push({ location, error: `not a usable certificate: ${(e as Error).message}` });
      return;
    }
    const managedSerial = await managedSerialOf(store, f, der);
    await store.discovery.upsert(sighting(f, der, managedSerial), [location], at);
    fingerprints.add(f.fingerprint);
    res.certificates.push({
      location, position, fingerprint: f.fingerprint, subject: f.subject, issuer: f.issuer, serial: f.serial, notAfter: f.notAfter,
      keyAlgorithm: f.keyAlgorithm, signatureAlgorithm: f.signatureAlgorithm, isCa: f.isCa,
      flags: assess(f, { now, warnDays, tlsLeaf: position === "leaf" }), ...(managedSerial ? { managedSerial } : {}),
    });
  };

  const targets = o.targets ?? [];
  await eachLimited(targets, o.concurrency ?? 16, async (text) => {
    res.endpoints.scanned++;
    let location = `tls://${text}`;
    try {
      const t = parseTarget(text);
      location = t.location;
      const chain = await fetchPeerChain(t, { timeoutMs: o.timeoutMs ?? DEFAULT_TIMEOUT_MS });
      if (!chain.length) throw new Error("the server presented no certificate");
      for (let i = 0; i < chain.length; i++) await record(chain[i], location, i === 0 ? "leaf" : "chain");
    } catch (e) {
      res.endpoints.failed++;
      res.errors.push({ location, error: (e as Error).message });
    }
  });

  if (o.paths?.length) {
    const scan = readCertificatePaths(o.paths, o.fileLimits ?? DEFAULT_FILE_LIMITS);
    res.files.scanned = scan.files;
    res.notes.push(...scan.notes);
    for (const c of scan.certificates) await record(c.der, c.location, "file");
  }

  res.recorded = fingerprints.size;
  res.findings = res.certificates.filter((c) => c.flags.length > 0);
  return res;
}

function sighting(f: CertFacts, der: Uint8Array, managedSerial: string | undefined): DiscoverySighting {
  return {
    fingerprint: f.fingerprint, subject: f.subject, issuer: f.issuer, serial: f.serial, notBefore: f.notBefore, notAfter: f.notAfter,
    keyAlgorithm: f.keyAlgorithm, keySize: f.keySize, signatureAlgorithm: f.signatureAlgorithm, sans: f.sans, der, managedSerial,
  };
}

/** The serial of the managed certificate with exactly these bytes, if this gateway issued it. */
async function managedSerialOf(store: Store, f: CertFacts, der: Uint8Array): Promise<string | undefined> {
  const rec = await store.getCertificate(f.serial);
  return rec?.der && Buffer.from(rec.der).equals(Buffer.from(der)) ? rec.serial : undefined;
}

/** Runs `fn` over `items` with at most `limit` in flight. */
async function eachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}
