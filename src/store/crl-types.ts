import type { CrlRecord } from "./types.js";

/** Where a keyset page of revoked rows ended: the next page starts after (revokedAt, serial). */
export interface RevokedCursor {
  revokedAt: string;
  serial: string;
}

/** The pending-rebuild marker of one CA (table crl_state). */
export interface CrlDirtyState {
  caName: string;
  /** Set by the first revocation after the last CRL build; null when the stored CRL covers everything. */
  dirtySince?: string;
  /** Bumped by every change to the revoked list; a build clears the marker only if it is unchanged since the build began. */
  generation: number;
}

export interface CrlMeta {
  number: number;
  thisUpdate: string;
  nextUpdate: string;
}

/**
 * CRL storage at fleet scale: revoked rows paged in CRL order off a covering index (no table lookups,
 * no object per certificate), per-CA dirty markers written in the revocation's own transaction so any
 * process (the CLI, a second instance) leaves work the server picks up, a lease so only one build per
 * CA runs across instances, and stored CRLs pruned to the last few (a 1M-entry CRL is ~50 MB).
 */
export interface CrlStore {
  /** Calls `row` for up to `limit` revoked certificates of the CA after `after`; returns where to continue, or undefined at the end. */
  forEachRevoked(caName: string, after: RevokedCursor | undefined, limit: number, row: (serial: string, revokedAt: string, reason: number) => void): Promise<RevokedCursor | undefined>;
  /** Records that the CA's revoked list changed (call inside the change's transaction). */
  markDirty(caName: string, at: string): Promise<void>;
  state(caName: string): Promise<CrlDirtyState>;
  dirty(): Promise<CrlDirtyState[]>;
  /** Clears the marker when no change happened since `generation` was read (else restarts it at `buildStart`); false means build again. */
  markClean(caName: string, generation: number, buildStart: string): Promise<boolean>;
  /** Takes the CA's build lease until `until` unless another owner holds an unexpired one. */
  claim(caName: string, owner: string, now: string, until: string): Promise<boolean>;
  release(caName: string, owner: string): Promise<void>;
  latestMeta(caName: string): Promise<CrlMeta | undefined>;
  latest(caName: string): Promise<CrlRecord | undefined>;
  /** max(stored + 1, now in ms): see SqliteCrlStore.nextNumber. */
  nextNumber(caName: string, nowMs?: number): Promise<number>;
  /** Saves a CRL and deletes all but the newest `keep` of the CA. */
  save(rec: CrlRecord, keep: number): Promise<void>;
}
