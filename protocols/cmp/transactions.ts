import type { CmpProtectionRef, CmpTransactionRecord } from "../../src/store/cmp-types.js";
import type { Store } from "../../src/store/types.js";

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

/**
 * Runs a write in a shared commit (the store's group commit, src/ca/group-commit.ts), through that commit's
 * transaction handle `tx`; resolves once it is durable.
 */
export interface Committer {
  run<T>(fn: (tx: Store) => T | Promise<T>): Promise<T>;
}

/** Without a group commit: each write in a transaction of its own (so `finish`'s `also` still commits with it). */
const alone = (store: Store): Committer => ({ run: (fn) => store.transaction(async (tx) => fn(tx)) });

/**
 * Per transaction: a claim insert on the first message, one update when the answer opens it, one read and one
 * conditional update on its follow-up. The writes join the group commit of the issuances in flight (`commits`),
 * so under load they share commits instead of one each. The open count for the cap is counted by the sweep
 * (`refreshCount`) and kept up to date by this instance's own openings in between, so the cap is checked without
 * a statement; with several instances it may overshoot by what the others open within one sweep interval.
 */
export class TransactionTable {
  private openCount = 0;

  constructor(private readonly store: Store, private readonly limits: TransactionLimits, private readonly commits: Committer = alone(store)) {}

  /** Claims a new transactionID; false when it is in use or was used within the remembered window. */
  claim(id: string, now = Date.now()): Promise<boolean> {
    return this.commits.run((tx) => tx.cmp.claim(id, iso(now), iso(now + this.limits.rememberMs)));
  }

  /** Whether the cap on open transactions is reached (new enrollments wait). */
  full(): boolean {
    return this.openCount >= this.limits.maxOpen;
  }

  async get(id: string): Promise<OpenTransaction | undefined> {
    const r = await this.store.cmp.get(id);
    return r && fromRecord(r);
  }

  /** Opens the transaction this instance claimed (the answer to its first message). */
  async open(t: OpenTransaction): Promise<boolean> {
    const ok = await this.commits.run((tx) => tx.cmp.open(toRecord(t), iso(t.expiresAt + this.limits.rememberMs)));
    if (ok) this.openCount++;
    return ok;
  }

  /** Moves an open transaction on from `was` (as read by this request): false when another request moved it first. */
  advance(t: OpenTransaction, was: OpenTransaction): Promise<boolean> {
    return this.commits.run((tx) => tx.cmp.advance(toRecord(t), { state: was.state, lastNonce: was.lastNonce }, iso(t.expiresAt + this.limits.rememberMs)));
  }

  /**
   * Ends the transaction as read by this request: true for exactly one request of all instances. `also` runs
   * in the same commit when it ended (the request's audit event, written through `tx`), so a confirmation costs one commit.
   */
  finish(t: OpenTransaction, also?: (tx: Store) => Promise<unknown>): Promise<boolean> {
    return this.commits.run(async (tx) => {
      const ok = await tx.cmp.finish(t.id, { state: t.state, lastNonce: t.lastNonce });
      if (ok && also) await also(tx);
      return ok;
    });
  }

  /** Claims up to `limit` transactions whose time ran out, for this instance alone to settle within `leaseMs`. */
  async expired(limit: number, leaseMs: number, now = Date.now()): Promise<OpenTransaction[]> {
    return (await this.store.cmp.claimExpired(iso(now), iso(now + leaseMs), limit)).map(fromRecord);
  }

  async settled(id: string): Promise<void> {
    await this.store.cmp.settled(id);
  }

  /** Forgets up to `limit` IDs past their window; returns how many. */
  purge(limit: number, now = Date.now()): Promise<number> {
    return this.store.cmp.purge(iso(now), limit);
  }

  async refreshCount(): Promise<void> {
    this.openCount = await this.store.cmp.countOpen();
  }
}
