import type { CertificateAuthority } from "../ca/authority.js";
import type { Store } from "../store/types.js";
import { certificateFacts, type KeyFamily } from "./facts.js";
import { MAX_TLS_LEAF_DAYS, weakKey, weakSignatureHash } from "./weakness.js";

/** Certificates valid beyond this instant must be replaced before a quantum-capable adversary is plausible. */
export const LONG_LIVED_CUTOFF = "2030-01-01T00:00:00.000Z";
export const UNMANAGED_PROFILE = "(unmanaged)";
export const LIFETIME_BUCKETS = ["<=90d", "<=398d", "<=825d", ">825d"] as const;
export type LifetimeBucket = (typeof LIFETIME_BUCKETS)[number];

/** Counts for one key algorithm inside a group (one CSV row). */
export interface KeyStats {
  keyAlgorithm: string;
  count: number;
  valid: number;
  expired: number;
  revoked: number;
  /** Among valid: notAfter beyond 2030-01-01 or lifetime over 398 days. */
  longLived: number;
  /** Among valid: RSA, ECDSA, EdDSA or DSA keys (all broken by a large quantum computer). */
  quantumVulnerable: number;
  /** Among valid: post-quantum signature keys (ML-DSA, SLH-DSA). */
  quantumSafe: number;
  /** Among valid: RSA/DSA < 2048, EC < 256, or an MD5/SHA-1 signature. */
  classicallyWeak: number;
  signatureHashes: Record<string, number>;
}

export interface ReportGroup extends Omit<KeyStats, "keyAlgorithm" | "count"> {
  /** CA name for managed certificates, issuer DN for discovered ones. */
  issuer: string;
  /** Profile name, or "(unmanaged)". */
  profile: string;
  managed: boolean;
  total: number;
  keys: Record<string, number>;
  lifetimes: Record<LifetimeBucket, number>;
  /** Latest notAfter among valid certificates. */
  latestNotAfter?: string;
  byKey: KeyStats[];
}

export interface CaSummary {
  name: string;
  role: "root" | "issuing";
  subject: string;
  keyAlgorithm: string;
  signatureAlgorithm: string;
  notAfter: string;
  quantumVulnerable: boolean;
  quantumSafe: boolean;
  classicallyWeak: boolean;
  /** Valid managed certificates that depend on this CA. */
  dependents: number;
}

export interface ReplaceEntry {
  rank: number;
  kind: "ca" | "group";
  issuer: string;
  profile?: string;
  keyAlgorithms: string[];
  /** The number the tier is ranked by (dependents for CAs). */
  count: number;
  reason: string;
  /** A few subjects to start with. */
  examples?: string[];
}

export interface CryptoReport {
  generatedAt: string;
  longLivedCutoff: string;
  totals: {
    certificates: number; managed: number; unmanaged: number; valid: number; expired: number; revoked: number;
    longLived: number; quantumVulnerable: number; quantumSafe: number; classicallyWeak: number; groups: number;
  };
  cas: CaSummary[];
  groups: ReportGroup[];
  replaceFirst: ReplaceEntry[];
}

/** One certificate reduced to what the report counts. */
interface Entry {
  issuer: string;
  profile: string;
  managed: boolean;
  subject: string;
  keyAlgorithm: string;
  keyFamily: KeyFamily;
  keySize?: number;
  signatureHash: string;
  notAfter: string;
  lifetimeDays: number;
  revoked: boolean;
}

const PAGE = 1000;
const CLASSICAL: ReadonlySet<KeyFamily> = new Set(["rsa", "ec", "eddsa", "dsa"]);

/** Every issued certificate (valid, expired, revoked) plus the discovered ones not issued here. */
async function* entries(store: Store): AsyncGenerator<Entry> {
  for (let after = ""; ; ) {
    // Keyset paging: a certificate issued while the report runs is counted once or not at all, never twice.
    const page = await store.issuedAfter(after, PAGE);
    for (const r of page) {
      const base = { issuer: r.caName, profile: r.profile, managed: true, subject: r.subject, notAfter: r.notAfter, revoked: Boolean(r.revokedAt) };
      try {
        const f = certificateFacts(r.der!);
        yield { ...base, keyAlgorithm: f.keyAlgorithm, keyFamily: f.keyFamily, keySize: f.keySize, signatureHash: f.signatureHash, lifetimeDays: f.lifetimeDays };
      } catch {
        const [fam, size] = r.keyAlgorithm.split(" ");
        yield {
          ...base, keyAlgorithm: r.keyAlgorithm, keyFamily: fam === "RSA" ? "rsa" : fam === "EC" ? "ec" : fam.startsWith("ML-DSA-") ? "pqc" : "other",
          keySize: Number(/\d+/.exec(size ?? "")?.[0]) || undefined,
          signatureHash: "unknown", lifetimeDays: Math.floor((Date.parse(r.notAfter) - Date.parse(r.notBefore)) / 86_400_000),
        };
      }
    }
    if (page.length < PAGE) break;
    after = page[page.length - 1].serial;
  }
  for (let offset = 0; ; offset += PAGE) {
    const page = await store.discovery.list({ limit: PAGE, offset });
    for (const d of page) {
      if (d.managedSerial) continue; // counted above as managed
      try {
        const f = certificateFacts(d.der);
        yield {
          issuer: f.issuer, profile: UNMANAGED_PROFILE, managed: false, subject: f.subject, keyAlgorithm: f.keyAlgorithm, keyFamily: f.keyFamily,
          keySize: f.keySize, signatureHash: f.signatureHash, notAfter: f.notAfter, lifetimeDays: f.lifetimeDays, revoked: false,
        };
      } catch {
        continue; // only parsable certificates are ever recorded
      }
    }
    if (page.length < PAGE) break;
  }
}

function bucket(days: number): LifetimeBucket {
  return days <= 90 ? "<=90d" : days <= 398 ? "<=398d" : days <= 825 ? "<=825d" : ">825d";
}

const emptyKeyStats = (keyAlgorithm: string): KeyStats => ({
  keyAlgorithm, count: 0, valid: 0, expired: 0, revoked: 0, longLived: 0, quantumVulnerable: 0, quantumSafe: 0, classicallyWeak: 0, signatureHashes: {},
});

interface Acc {
  group: ReportGroup;
  keys: Map<string, KeyStats>;
  examples: { longLived: string[]; weak: string[]; vulnerable: string[] };
}

export interface ReportSource {
  store: Store;
  cas: { all: CertificateAuthority[] };
}

/** The crypto inventory: algorithms, sizes, hashes and lifetimes per issuer and profile, and what to migrate first. */
export async function buildCryptoReport(src: ReportSource, now = new Date()): Promise<CryptoReport> {
  const nowIso = now.toISOString();
  const groups = new Map<string, Acc>();
  const validByCa = new Map<string, number>();
  for await (const e of entries(src.store)) {
    const id = JSON.stringify([e.managed, e.issuer, e.profile]);
    let acc = groups.get(id);
    if (!acc) {
      acc = {
        group: {
          issuer: e.issuer, profile: e.profile, managed: e.managed, total: 0, valid: 0, expired: 0, revoked: 0, longLived: 0, quantumVulnerable: 0,
          quantumSafe: 0, classicallyWeak: 0, keys: {}, signatureHashes: {}, lifetimes: { "<=90d": 0, "<=398d": 0, "<=825d": 0, ">825d": 0 }, byKey: [],
        },
        keys: new Map(), examples: { longLived: [], weak: [], vulnerable: [] },
      };
      groups.set(id, acc);
    }
    const g = acc.group;
    let k = acc.keys.get(e.keyAlgorithm);
    if (!k) acc.keys.set(e.keyAlgorithm, (k = emptyKeyStats(e.keyAlgorithm)));
    const status = e.revoked ? "revoked" : e.notAfter <= nowIso ? "expired" : "valid";
    const valid = status === "valid";
    const longLived = valid && (e.notAfter > LONG_LIVED_CUTOFF || e.lifetimeDays > MAX_TLS_LEAF_DAYS);
    const vulnerable = valid && CLASSICAL.has(e.keyFamily);
    const safe = valid && e.keyFamily === "pqc";
    const weak = valid && (weakKey(e) || weakSignatureHash(e.signatureHash));
    for (const s of [g, k] as Array<Omit<KeyStats, "keyAlgorithm" | "count">>) {
      s[status]++;
      s.longLived += Number(longLived);
      s.quantumVulnerable += Number(vulnerable);
      s.quantumSafe += Number(safe);
      s.classicallyWeak += Number(weak);
      s.signatureHashes[e.signatureHash] = (s.signatureHashes[e.signatureHash] ?? 0) + 1;
    }
    k.count++;
    g.total++;
    g.keys[e.keyAlgorithm] = (g.keys[e.keyAlgorithm] ?? 0) + 1;
    g.lifetimes[bucket(e.lifetimeDays)]++;
    if (valid && (!g.latestNotAfter || e.notAfter > g.latestNotAfter)) g.latestNotAfter = e.notAfter;
    if (valid && e.managed) validByCa.set(e.issuer, (validByCa.get(e.issuer) ?? 0) + 1);
    const ex = acc.examples;
    if (longLived && ex.longLived.length < 3) ex.longLived.push(e.subject);
    if (weak && ex.weak.length < 3) ex.weak.push(e.subject);
    if (vulnerable && ex.vulnerable.length < 3) ex.vulnerable.push(e.subject);
  }

  const accs = [...groups.values()].sort((a, b) => Number(b.group.managed) - Number(a.group.managed)
    || a.group.issuer.localeCompare(b.group.issuer) || a.group.profile.localeCompare(b.group.profile));
  for (const a of accs) a.group.byKey = [...a.keys.values()].sort((x, y) => y.count - x.count || x.keyAlgorithm.localeCompare(y.keyAlgorithm));
  const cas = caSummaries(src.cas.all, validByCa);
  const list = accs.map((a) => a.group);
  const sum = (f: (g: ReportGroup) => number) => list.reduce((n, g) => n + f(g), 0);
  return {
    generatedAt: nowIso,
    longLivedCutoff: LONG_LIVED_CUTOFF,
    totals: {
      certificates: sum((g) => g.total), managed: sum((g) => (g.managed ? g.total : 0)), unmanaged: sum((g) => (g.managed ? 0 : g.total)),
      valid: sum((g) => g.valid), expired: sum((g) => g.expired), revoked: sum((g) => g.revoked), longLived: sum((g) => g.longLived),
      quantumVulnerable: sum((g) => g.quantumVulnerable), quantumSafe: sum((g) => g.quantumSafe), classicallyWeak: sum((g) => g.classicallyWeak), groups: list.length,
    },
    cas,
    groups: list,
    replaceFirst: rank(cas, accs),
  };
}

function caSummaries(all: CertificateAuthority[], validByCa: Map<string, number>): CaSummary[] {
  const out = all.map((ca): CaSummary => {
    const f = certificateFacts(ca.certDer);
    return {
      name: ca.name, role: ca.role, subject: f.subject, keyAlgorithm: f.keyAlgorithm, signatureAlgorithm: f.signatureAlgorithm, notAfter: f.notAfter,
      quantumVulnerable: CLASSICAL.has(f.keyFamily), quantumSafe: f.keyFamily === "pqc", classicallyWeak: weakKey(f) || weakSignatureHash(f.signatureHash),
      dependents: validByCa.get(ca.name) ?? 0,
    };
  });
  // A root's dependents: every valid certificate under the issuing CAs it signed.
  all.forEach((root, i) => {
    if (root.role !== "root") return;
    for (const ca of all) if (ca.role === "issuing" && ca.cert.issuer === root.cert.subject) out[i].dependents += validByCa.get(ca.name) ?? 0;
  });
  return out;
}

/** CAs first (roots, then by dependents), then groups: long-lived, then classically weak, then the rest that is quantum-vulnerable. */
function rank(cas: CaSummary[], accs: Acc[]): ReplaceEntry[] {
  const out: Omit<ReplaceEntry, "rank">[] = [];
  const caOrder = [...cas].filter((c) => c.quantumVulnerable)
    .sort((a, b) => Number(b.role === "root") - Number(a.role === "root") || b.dependents - a.dependents || b.notAfter.localeCompare(a.notAfter));
  for (const c of caOrder) {
    out.push({
      kind: "ca", issuer: c.name, keyAlgorithms: [c.keyAlgorithm], count: c.dependents,
      reason: `${c.role} CA with a quantum-vulnerable ${c.keyAlgorithm} key, valid until ${c.notAfter.slice(0, 10)}: `
        + `${c.dependents} valid certificate(s) depend on it; its replacement must exist before theirs${c.classicallyWeak ? "; also classically weak" : ""}`,
    });
  }
  const tiers: Array<{ pick: (g: ReportGroup) => number; ex: keyof Acc["examples"]; why: (n: number) => string }> = [
    { pick: (g) => g.longLived, ex: "longLived", why: (n) => `long-lived: ${n} valid certificate(s) beyond ${LONG_LIVED_CUTOFF.slice(0, 10)} or longer than ${MAX_TLS_LEAF_DAYS} days` },
    { pick: (g) => g.classicallyWeak, ex: "weak", why: (n) => `classically weak: ${n} valid certificate(s) with RSA < 2048, EC < 256 or an MD5/SHA-1 signature` },
    { pick: (g) => g.quantumVulnerable, ex: "vulnerable", why: (n) => `quantum-vulnerable: ${n} valid certificate(s)` },
  ];
  const placed = new Set<Acc>();
  for (const tier of tiers) {
    const hits = accs.filter((a) => !placed.has(a) && tier.pick(a.group) > 0 && (a.group.quantumVulnerable > 0 || a.group.classicallyWeak > 0))
      .sort((a, b) => tier.pick(b.group) - tier.pick(a.group) || b.group.quantumVulnerable - a.group.quantumVulnerable);
    for (const a of hits) {
      placed.add(a);
      const g = a.group;
      const also = tier.ex === "longLived" && g.classicallyWeak > 0 ? `; ${g.classicallyWeak} classically weak` : "";
      const keys = g.byKey.filter((k) => k.quantumVulnerable > 0).map((k) => k.keyAlgorithm);
      out.push({
        kind: "group", issuer: g.issuer, profile: g.profile, keyAlgorithms: keys, count: tier.pick(g),
        reason: `${tier.why(tier.pick(g))}${also}; keys ${keys.join(", ") || "none classical"}`, examples: a.examples[tier.ex],
      });
    }
  }
  return out.map((e, i) => ({ rank: i + 1, ...e }));
}
