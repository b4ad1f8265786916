import { GatewayError, toGatewayError } from "../../src/errors.js";
import type { AcmeAuthzRecord, AcmeChallengeRecord, AcmeStore } from "../../src/store/acme-types.js";
import type { Store } from "../../src/store/types.js";
import type { AcmeContext, AcmeUrls } from "./context.js";
import { authzStatus } from "./order-state.js";
import { problemRecord } from "./problems.js";
import { authzJson, challengeJson } from "./render.js";
import type { AcmeReply } from "./reply.js";
import { accountOf, objectPayload, type SignedRequest } from "./signed-request.js";
import { isDeviceIdentifier } from "./identifiers.js";
import type { AcmeIdentifier, ChallengeType } from "./validation/types.js";

const HOUR = 3_600_000;
/** How long a challenge POST waits for its validation before answering `processing`. */
export const INLINE_RESULT_MS = 1000;

async function loadAuthz(ctx: AcmeContext, r: SignedRequest, id: string): Promise<AcmeAuthzRecord> {
  const a = await ctx.store.getAuthz(id);
  if (!a || a.accountId !== accountOf(r).id) throw new GatewayError("RA_ERR_NOT_FOUND", "no such authorization for this account");
  return recoverInterrupted(ctx, a);
}

/**
 * A validation outlives neither its timeout nor the process: a challenge still `processing`
 * well past the timeout was cut off by a restart, so it fails instead of hanging forever.
 */
async function recoverInterrupted(ctx: AcmeContext, a: AcmeAuthzRecord): Promise<AcmeAuthzRecord> {
  const idx = a.challenges.findIndex((c) => c.status === "processing");
  const staleMs = ctx.cfg.validation.timeoutMs + 30_000;
  if (idx < 0 || a.status !== "pending" || Date.now() - new Date(a.updatedAt).getTime() < staleMs) return a;
  await settle(ctx, a, idx, { ok: false, error: new GatewayError("RA_ERR_VALIDATION_CONNECTION", "validation was interrupted; create a new order"), records: [] });
  return (await ctx.store.getAuthz(a.id))!;
}

/** POST-as-GET reads; `{"status": "deactivated"}` deactivates (§7.5.2). */
export async function postAuthz(ctx: AcmeContext, urls: AcmeUrls, r: SignedRequest, id: string): Promise<AcmeReply> {
  let a = await loadAuthz(ctx, r, id);
  const now = new Date().toISOString();
  if (r.payload !== undefined) {
    const p = objectPayload(r);
    if (p.status !== "deactivated") throw new GatewayError("RA_ERR_MALFORMED", "an authorization's status can only be set to deactivated");
    const s = authzStatus(a, now);
    if (s !== "pending" && s !== "valid") throw new GatewayError("RA_ERR_MALFORMED", `an ${s} authorization cannot be deactivated`);
    await ctx.store.updateAuthz(id, { status: "deactivated" });
    await ctx.gw.audit.record({ type: "acme.authz.deactivated", actor: `acme-account:${a.accountId}`, target: id, data: { identifier: a.identifier } });
    a = (await ctx.store.getAuthz(id))!;
  }
  const pending = a.challenges.some((c) => c.status === "processing");
  return { json: authzJson(a, urls, now), retryAfterSeconds: pending ? ctx.cfg.retryAfterSeconds : undefined };
}

/**
 * POST `{}` to a challenge starts validation once (§7.5.1). The answer is the challenge as settled when
 * validation ends quickly, else in `processing`, and the client polls; validation runs in the background.
 */
export async function postChallenge(ctx: AcmeContext, urls: AcmeUrls, r: SignedRequest, authzId: string, type: string): Promise<AcmeReply> {
  const a = await loadAuthz(ctx, r, authzId);
  const idx = a.challenges.findIndex((c) => c.type === type);
  if (idx < 0) throw new GatewayError("RA_ERR_NOT_FOUND", `this authorization has no ${type} challenge`);
  const links = [{ url: urls.authz(a.id), rel: "up" }];
  const now = new Date().toISOString();
  if (r.payload === undefined || authzStatus(a, now) !== "pending" || a.challenges[idx].status !== "pending") {
    return { json: challengeJson(a, a.challenges[idx], urls), links };
  }
  const payload = objectPayload(r);
  if (type === "device-attest-01" && payload.attObj === undefined) {
    throw new GatewayError("RA_ERR_MALFORMED", "a device-attest-01 answer carries the attestation object as attObj");
  }
  const challenges = a.challenges.map((c, i) => (i === idx ? { ...c, status: "processing" as const } : c));
  const claimed = { ...a, challenges };
  const claim = (store: AcmeStore) => store.claimChallenge(a.id, type, challenges, a.updatedAt);
  const lost = async () => {
    const cur = (await ctx.store.getAuthz(a.id))!;
    return { json: challengeJson(cur, cur.challenges[idx], urls), links };
  };
  const keyAuthorization = `${a.token}.${accountOf(r).thumbprint}`;
  let shown: AcmeAuthzRecord;
  if (ctx.cfg.validation.insecureSkipValidation && type !== "device-attest-01") {
    // Nothing to wait for: the claim and the result are one transaction.
    const settled = await ctx.gw.store.transaction(async (tx) => ((await claim(tx.acme)) ? settleWrites(ctx, tx, claimed, idx, { ok: true, records: [] }) : undefined));
    if (!settled) return lost();
    shown = settled;
  } else {
    if (!(await claim(ctx.store))) return lost();
    if (type === "device-attest-01") {
      // Checked at once (no network involved) and never skipped: finalize needs the attested key.
      shown = await settle(ctx, claimed, idx, await attest(ctx, a, a.challenges[idx], payload.attObj, keyAuthorization));
    } else {
      let settled: AcmeAuthzRecord | undefined;
      const job = ctx.validator
        .validate({ type: type as ChallengeType, identifier: a.identifier as AcmeIdentifier, token: a.token, keyAuthorization })
        .then(async (res) => void (settled = await settle(ctx, claimed, idx, res)))
        .catch((e) => ctx.gw.log.error({ err: (e as Error).message, authz: a.id }, "challenge validation crashed"))
        .finally(() => ctx.inflight.delete(job));
      ctx.inflight.add(job);
      // A validation that ends within INLINE_RESULT_MS is answered with its result, so the client's next poll
      // (or none, for clients that read the answer) finds it settled; a slower one is answered `processing`
      // (its claimed state) and goes on in the background.
      return new Promise<AcmeReply>((resolve) => {
        const answer = () => {
          clearTimeout(timer);
          const cur = settled ?? claimed;
          resolve({ json: challengeJson(cur, cur.challenges[idx], urls), links, retryAfterSeconds: settled ? undefined : ctx.cfg.retryAfterSeconds });
        };
        const timer = setTimeout(answer, INLINE_RESULT_MS);
        void job.then(answer);
      });
    }
  }
  return { json: challengeJson(shown, shown.challenges[idx], urls), links, retryAfterSeconds: ctx.cfg.retryAfterSeconds };
}

type Outcome = { ok: true; records: unknown[]; attestation?: AcmeChallengeRecord["attestation"] } | { ok: false; error: unknown; records: unknown[] };

/** device-attest-01 against the trust anchors of the profile the order was made for. */
async function attest(ctx: AcmeContext, a: AcmeAuthzRecord, c: AcmeChallengeRecord, attObj: unknown, keyAuthorization: string): Promise<Outcome> {
  try {
    if (!isDeviceIdentifier(a.identifier)) throw new GatewayError("RA_ERR_MALFORMED", "device-attest-01 proves device identifiers only");
    const profile = ctx.gw.profiles.get(c.profile ?? "");
    const v = await ctx.attestation.verify(profile, { attObj, token: a.token, keyAuthorization, identifier: a.identifier });
    return { ok: true, records: [], attestation: { format: v.format, spki: Buffer.from(v.spki).toString("base64"), facts: v.facts, identity: v.identity } };
  } catch (e) {
    return { ok: false, error: e, records: [] };
  }
}

/** Records the validation result on the challenge and the authorization, and audits the decision. */
function settle(ctx: AcmeContext, a: AcmeAuthzRecord, idx: number, res: Outcome): Promise<AcmeAuthzRecord> {
  return ctx.gw.store.transaction((tx) => settleWrites(ctx, tx, a, idx, res));
}

/** settle's writes, inside the caller's transaction `tx`; returns the authorization as written. */
async function settleWrites(ctx: AcmeContext, tx: Store, a: AcmeAuthzRecord, idx: number, res: Outcome): Promise<AcmeAuthzRecord> {
  const now = new Date();
  const c: AcmeChallengeRecord = res.ok
    ? { ...a.challenges[idx], status: "valid", validated: now.toISOString(), records: res.records, ...(res.attestation ? { attestation: res.attestation } : {}) }
    : { ...a.challenges[idx], status: "invalid", error: problemRecord(res.error), records: res.records };
  const challenges = a.challenges.map((x, i) => (i === idx ? c : x));
  const expires = res.ok ? new Date(now.getTime() + ctx.cfg.authzValidityHours * HOUR).toISOString() : undefined;
  const status = res.ok ? "valid" : "invalid";
  await tx.acme.updateAuthz(a.id, { status, challenges, expires });
  await ctx.gw.audit.record({
    type: res.ok ? "acme.authz.valid" : "acme.authz.invalid", actor: `acme-account:${a.accountId}`, target: a.id,
    data: {
      identifier: a.identifier, wildcard: a.wildcard, challenge: c.type, records: res.records,
      ...(res.ok ? {} : { code: toGatewayError(res.error).code, reason: toGatewayError(res.error).message }),
      ...(res.ok && res.attestation ? { format: res.attestation.format, facts: res.attestation.facts, identity: res.attestation.identity } : {}),
      ...(res.ok && res.attestation?.identity === "delegated" ? { identityDecidedBy: "authorization webhook" } : {}),
      ...(!res.ok && toGatewayError(res.error).code === "RA_ERR_BAD_ATTESTATION" ? { format: toGatewayError(res.error).detail?.format, check: toGatewayError(res.error).detail?.check } : {}),
      ...(ctx.cfg.validation.insecureSkipValidation ? { validationSkipped: true } : {}),
    },
  }, tx);
  return { ...a, status, challenges, expires: expires ?? a.expires };
}
