/** What one look at a certificate tells (a TLS endpoint or a file), before it is merged into the inventory. */
export interface DiscoverySighting {
  /** SHA-256 of the DER, lowercase hex. */
  fingerprint: string;
  subject: string;
  issuer: string;
  serial: string;
  notBefore: string; // ISO
  notAfter: string;
  /** Same form as the managed inventory: "EC P-256", "RSA 2048", "Ed25519". */
  keyAlgorithm: string;
  keySize?: number;
  /** "sha256WithRSAEncryption", "ecdsa-with-SHA256", … or the dotted OID. */
  signatureAlgorithm: string;
  sans: string[]; // "dns:x", "ip:y", …
  der: Uint8Array;
  /** Serial in the managed inventory when the very same certificate was issued here. */
  managedSerial?: string;
}

export interface DiscoveredCertificate extends DiscoverySighting {
  /** Where it was seen: "tls://host:port", "file:/path". */
  locations: string[];
  firstSeen: string;
  lastSeen: string;
}

export interface DiscoveryQuery {
  /** notAfter before this instant (ISO); expired ones included. */
  expiringBefore?: string;
  /** Only weak algorithms: RSA < 2048, EC < 256, MD2/MD4/MD5/SHA-1 signatures. */
  weak?: boolean;
  /** Substring of the issuer DN, case-insensitive. */
  issuer?: string;
  limit?: number;
  offset?: number;
}

/** Certificates found by `gateway discover` (migration 6, table discovered_certificates): unmanaged inventory. */
export interface DiscoveryStore {
  /** Inserts or merges (locations united, facts refreshed, last_seen = at); returns the stored row. */
  upsert(s: DiscoverySighting, locations: string[], at: string): Promise<DiscoveredCertificate>;
  get(fingerprint: string): Promise<DiscoveredCertificate | undefined>;
  /** Soonest notAfter first. */
  list(q?: DiscoveryQuery): Promise<DiscoveredCertificate[]>;
  count(q?: Omit<DiscoveryQuery, "limit" | "offset">): Promise<number>;
}
