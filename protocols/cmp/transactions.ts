import type { CmpProtectionRef, CmpStore, CmpTransactionRecord } from "../../src/store/cmp-types.js";

/**
 * CMP transactions in flight (RFC 9483 §4.1): what a follow-up message (certConf, pollReq, error) must match,
 * and which transactionIDs were already used. Kept in the store (src/store/cmp-types.ts), so a follow-up may
 * reach another instance or a restarted one; this wraps it with millisecond times and the cap on open ones.
 */

/** The protection a request was authenticated by; the MAC secret stays in memory, for protecting the answer. */
export type Protection = { kind: "mac"; kid: string; secret: Uint8Array } | { kind: "signature"; signerCert: Uint8Array };

export interface OpenTransaction extends Omit<CmpTransactionRecord, "expiresAt" | "protection"> {
  /** Never the secret: a follow-up looks it up again by its senderKID (mac-auth.ts). */
  protection: CmpProtectionRef;
  expiresAt: number;
}

/** What the transaction table may hold: open ones (beyond it new enrollments are refused, systemUnavail), and how long IDs are remembered. */
export interface TransactionLimits {
  maxOpen: number;
  rememberMs: number;
}

/** Only the kind and the senderKID or signer certificate of a protection are stored. */
export function protectionRef(p: Protection | CmpProtectionRef): CmpProtectionRef {
  return p.kind === "mac" ? { kind: "mac", kid: p.kid } : { kind: "signature", signerCert: p.signerCert };
}

const iso = (ms: number) => new Date(ms).toISOString();

function toRecord(t: OpenTransaction): CmpTransactionRecord {
  return { ...t, protection: protectionRef(t.protection), expiresAt: iso(t.expiresAt) };
}

function fromRecord(r: CmpTransactionRecord): OpenTransaction {
  return { ...r, expiresAt: Date.parse(r.expiresAt) };
}

/** Runs a write in a shared commit (the store's group commit, src/ca/group-commit.ts); resolves once it is durable. */
export interface Committer {
  run<T>(fn: () => T): Promise<T>;
}

const alone: Committer = { run: async (fn) => fn() };

/**
 * Per transaction: a claim insert on the first message, one update when the answer opens it, one read and one
 * conditional update on its follow-up. The writes join the group commit of the issuances in flight (`commits`),
 * so under load they share commits instead of one each. The open count for the cap is counted by the sweep
 * (`refreshCount`) and kept up to date by this instance's own openings in between, so the cap is checked without
 * a statement; with several instances it may overshoot by what the others open within one sweep interval.
 */
export class TransactionTable {
  private openCount = 0;

  constructor(private readonly store: CmpStore, private readonly limits: TransactionLimits, private readonly commits: Committer = alone) {}

  /** Claims a new transactionID; false when it is in use or was used within the remembered window. */
  claim(id: string, now = Date.now()): Promise<boolean> {
    return this.commits.run(() => this.store.claim(id, iso(now), iso(now + this.limits.rememberMs)));
  }

  /** Whether the cap on open transactions is reached (new enrollments wait). */
  full(): boolean {
    return this.openCount >= this.limits.maxOpen;
  }

  get(id: string): OpenTransaction | undefined {
    const r = this.store.get(id);
    return r && fromRecord(r);
  }

  /** Opens the transaction this instance claimed (the answer to its first message). */
  async open(t: OpenTransaction): Promise<boolean> {
    const ok = await this.commits.run(() => this.store.open(toRecord(t), iso(t.expiresAt + this.limits.rememberMs)));
    if (ok) this.openCount++;
    return ok;
  }

  /** Moves an open transaction on from `was` (as read by this request): false when another request moved it first. */
  advance(t: OpenTransaction, was: OpenTransaction): Promise<boolean> {
    return this.commits.run(() => this.store.advance(toRecord(t), { state: was.state, lastNonce: was.lastNonce }, iso(t.expiresAt + this.limits.rememberMs)));
  }

  /**
   * Ends the transaction as read by this request: true for exactly one request of all instances. `also` runs
   * in the same commit when it ended (the request's audit event), so a confirmation costs one commit.
   */
  finish(t: OpenTransaction, also?: () => void): Promise<boolean> {
    return this.commits.run(() => {
      const ok = this.store.finish(t.id, { state: t.state, lastNonce: t.lastNonce });
      if (ok) also?.();
      return ok;
    });
  }

  /** Claims up to `limit` transactions whose time ran out, for this instance alone to settle within `leaseMs`. */
  expired(limit: number, leaseMs: number, now = Date.now()): OpenTransaction[] {
    return this.store.claimExpired(iso(now), iso(now + leaseMs), limit).map(fromRecord);
  }

  settled(id: string): void {
    this.store.settled(id);
  }

  /** Forgets up to `limit` IDs past their window; returns how many. */
  purge(limit: number, now = Date.now()): number {
    return this.store.purge(iso(now), limit);
  }

  refreshCount(): void {
    this.openCount = this.store.countOpen();
  }
}
