/**
 * CMP transactions in flight (RFC 9483 §4.1) and the transactionIDs used recently, in the store so that a
 * follow-up (certConf, pollReq, error) may reach any instance and survive a restart. Never holds a MAC secret:
 * the protection is its kind and senderKID, or the signer's certificate, and the secret is looked up again.
 * Times are ISO strings from `toISOString()` (they compare as text), as in the neighbouring tables.
 */
export type CmpProtectionRef = { kind: "mac"; kid: string } | { kind: "signature"; signerCert: Uint8Array };

export type CmpOpenState = "waitingConfirm" | "pending";

export interface CmpTransactionRecord {
  id: string;
  label: string;
  /** Our last senderNonce: the client's next recipNonce must equal it. */
  lastNonce: Uint8Array;
  protection: CmpProtectionRef;
  state: CmpOpenState;
  certReqId: bigint;
  bodyType: "ip" | "cp" | "kup";
  /** waitingConfirm: the certificate issued and its serial. */
  certDer?: Uint8Array;
  serial?: string;
  /** pending: the enrollment request awaiting approval. */
  requestId?: string;
  expiresAt: string;
}

/** What a conditional change expects the row to hold (compare-and-set), so two instances cannot both act on one message. */
export interface CmpExpected {
  state: CmpOpenState;
  lastNonce: Uint8Array;
}

/**
 * Row states: `claimed` (ID remembered, nothing to follow up), `waitingConfirm`/`pending` (open), `settling` (an
 * instance is settling it after its time ran out; `expires_at` is then that claim's lease), `finished`.
 * Every method is one statement.
 */
export interface CmpStore {
  /**
   * Claims a new transactionID, remembered until `rememberUntil`: false when it is in use (open, or remembered
   * and not yet past its window). A remembered ID past its window may be claimed again.
   */
  claim(id: string, now: string, rememberUntil: string): Promise<boolean>;
  /** Opens a claimed transaction (the answer to its first message); false when it is not in state `claimed`. */
  open(t: CmpTransactionRecord, rememberUntil: string): Promise<boolean>;
  /** Moves an open transaction on (pollRep, or pending → waitingConfirm) when it still is as `expect`ed. */
  advance(t: CmpTransactionRecord, expect: CmpExpected, rememberUntil: string): Promise<boolean>;
  /** The open transaction with this ID (waitingConfirm or pending), expired or not, until settled. */
  get(id: string): Promise<CmpTransactionRecord | undefined>;
  /** Ends an open transaction when it still is as `expect`ed: true for exactly one caller. */
  finish(id: string, expect: CmpExpected): Promise<boolean>;
  /**
   * Claims up to `limit` open transactions whose time ran out (and settle claims whose lease lapsed: their
   * instance died), leased until `leaseUntil`; one statement, so each is handed to one instance only.
   */
  claimExpired(now: string, leaseUntil: string, limit: number): Promise<CmpTransactionRecord[]>;
  /** Ends a settle claim. */
  settled(id: string): Promise<boolean>;
  /** Deletes up to `limit` claimed or finished rows past their window; returns how many. */
  purge(now: string, limit: number): Promise<number>;
  /** Open transactions (waitingConfirm, pending, settling), for the cap. */
  countOpen(): Promise<number>;
}
