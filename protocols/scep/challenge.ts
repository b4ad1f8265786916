import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import type { EnrollmentSecrets } from "../../src/enrollment/secrets.js";
import type { ParsedCsr } from "../../src/policy/csr.js";
import type { Store } from "../../src/store/types.js";
import type { ScepEndpoint } from "./endpoint.js";

export type ChallengeKind = "static" | "one-time" | "webhook";

export type ChallengeOutcome =
  | { ok: true; kind: ChallengeKind; secretId?: string }
  | { ok: false; kind?: ChallengeKind; reason: string };

export interface ChallengeDeps {
  store: Store;
  secrets: EnrollmentSecrets;
  fetch?: typeof fetch;
}

const sha256 = (s: string) => createHash("sha256").update(s).digest();

function namesOf(csr: ParsedCsr): string[] {
  return [csr.commonName, ...csr.sans.dns, ...csr.sans.ip, ...csr.sans.email, ...csr.sans.uri].filter((n): n is string => !!n);
}

/** The MDM's verdict on a dynamic challenge (Intune / Jamf style); anything but a clear allow denies. */
async function askWebhook(ep: ScepEndpoint, challenge: string, transactionId: string, csr: ParsedCsr, deps: ChallengeDeps): Promise<{ allow: boolean; reason: string }> {
  const hook = ep.webhook!;
  const body = JSON.stringify({
    endpoint: ep.cfg.name, profile: ep.profile.name, transactionId, challenge,
    subject: csr.subject, commonName: csr.commonName ?? null, names: csr.sans,
  });
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  if (hook.hmacSecret) headers["X-Gateway-Signature"] = `sha256=${createHmac("sha256", hook.hmacSecret).update(body).digest("hex")}`;
  if (hook.bearerToken) headers.Authorization = `Bearer ${hook.bearerToken}`;
  try {
    const res = await (deps.fetch ?? fetch)(hook.url, { method: "POST", headers, body, signal: AbortSignal.timeout(hook.timeoutMs), redirect: "error" });
    const text = await res.text();
    if (!res.ok) return { allow: false, reason: `challenge webhook answered HTTP ${res.status}` };
    const verdict = JSON.parse(text.slice(0, 65_536)) as { allow?: unknown; reason?: unknown };
    const reason = typeof verdict.reason === "string" ? verdict.reason.slice(0, 200) : "";
    return verdict.allow === true ? { allow: true, reason } : { allow: false, reason: `challenge webhook denied${reason ? `: ${reason}` : ""}` };
  } catch (e) {
    // Fail closed: an MDM that cannot be asked does not vouch for the device.
    return { allow: false, reason: `challenge webhook unreachable (${(e as Error).name === "TimeoutError" ? "timeout" : "error"})` };
  }
}

/**
 * Checks a PKCSReq's challengePassword against the endpoint's sources, in order: the static secret,
 * one-time secrets (consumed atomically, bound to the endpoint's profile and optionally a subject),
 * the webhook (a dynamic challenge is recorded as used, so it is never accepted twice).
 */
export async function verifyChallenge(ep: ScepEndpoint, password: string | undefined, transactionId: string, csr: ParsedCsr, deps: ChallengeDeps): Promise<ChallengeOutcome> {
  if (!password) return { ok: false, reason: "the CSR carries no challengePassword" };
  if (ep.staticChallenge && timingSafeEqual(sha256(password), ep.staticChallenge)) return { ok: true, kind: "static" };
  if (ep.cfg.challenge.oneTimeSecrets) {
    const rec = await deps.secrets.findBySecret(password, "scep");
    if (rec) {
      if (rec.profile !== ep.profile.name) return { ok: false, kind: "one-time", reason: `the challenge is for profile ${rec.profile}, not ${ep.profile.name}` };
      if (rec.subject && !namesOf(csr).includes(rec.subject)) return { ok: false, kind: "one-time", reason: `the challenge is bound to subject ${rec.subject}, which the CSR does not name` };
      if (!(await deps.secrets.consume(rec.id, "scep"))) return { ok: false, kind: "one-time", reason: "the one-time challenge was already used or has expired" };
      return { ok: true, kind: "one-time", secretId: rec.id };
    }
  }
  if (ep.webhook) {
    const hash = sha256(`scep-webhook|${ep.cfg.name}|${password}`).toString("hex");
    const verdict = await askWebhook(ep, password, transactionId, csr, deps);
    if (!verdict.allow) return { ok: false, kind: "webhook", reason: verdict.reason };
    if (!(await deps.store.markChallengeUsed(hash, "webhook", new Date().toISOString()))) return { ok: false, kind: "webhook", reason: "this dynamic challenge was already used" };
    return { ok: true, kind: "webhook" };
  }
  return { ok: false, reason: "wrong challenge" };
}
