import { keySpecText } from "./keys.js";
import { createHash, createHmac } from "node:crypto";
import { z } from "zod";
import { rdnsToText } from "../asn1/name.js";
import type { AuditLog } from "../audit/audit-log.js";
import { readSecret } from "../config/load.js";
import { GatewayError } from "../errors.js";
import type { Classification } from "../store/types.js";
import type { IssuancePlan } from "./decide.js";
import { CRITICALITIES, type Profile } from "./profile.js";
import type { EnrollmentRequest, Protocol, SanSet } from "./request.js";

/**
 * Dynamic issuance: a profile's `authorization.webhook` is asked about every enrollment after the
 * policy layer produced a plan and before anything is stored or signed. It allows, denies with a
 * reason, or allows with attributes (classification). When it cannot be asked, `onError` decides.
 */

/** What the webhook receives (documented for operators in the README). */
export interface AuthorizationRequestBody {
  requestId: string;
  protocol: Protocol;
  profile: string;
  /** "enroll" when the request arrives, "approve" when an operator approves a queued request. */
  phase: AuthorizationPhase;
  requester: { kind: string; id: string; attributes: Record<string, string> };
  /** The subject the certificate would get, as the inventory writes it ("CN=x, O=y"). */
  subject: string;
  names: SanSet;
  key: { algorithm: string; spkiSha256: string };
  /** `identityProven: false`: the attestation names no device, and this answer decides whether the identifier is the device's. */
  attestation?: { format: string; identifier: { type: string; value: string }; facts: Record<string, string>; identityProven: boolean };
  renewalOf?: string;
}

export type AuthorizationPhase = "enroll" | "approve";

/** An allowed enrollment: the webhook's attributes (none when it failed open). */
export interface AuthorizationGrant {
  attributes: Record<string, string>;
  /** Set when the webhook could not be asked and `onError: allow` let the request through. */
  failedOpen?: string;
}

export interface AuthorizationHookDeps {
  audit: AuditLog;
  /** Injected in tests; the global fetch otherwise. */
  fetch?: typeof fetch;
  now?: () => Date;
}

/** Answers larger than this are not read: a receiver has no reason to send more. */
export const MAX_ANSWER_BYTES = 64 * 1024;
/** Retry-After advice for a fail-closed outage (EST renders it; others ignore it). */
const RETRY_AFTER_SECONDS = 30;
const MAX_REASON = 500;

/** The answer, parsed strictly: unknown members, wrong types or an unknown decision make it unusable. */
const answerSchema = z.object({
  decision: z.enum(["allow", "deny"]),
  reason: z.string().max(4096).optional(),
  attributes: z.record(z.string().max(256), z.string().max(1024)).optional()
    .refine((a) => !a || Object.keys(a).length <= 64, { message: "more than 64 attributes" }),
}).strict();

/**
 * A failure to get a usable answer. The message (audited) may quote the receiver's answer; only the
 * short `category` reaches clients. Neither names the URL or a secret.
 */
class Unusable extends Error {
  constructor(readonly category: string, message = category) {
    super(message);
  }
}

export function buildAuthorizationBody(req: EnrollmentRequest, plan: IssuancePlan, phase: AuthorizationPhase): AuthorizationRequestBody {
  const k = plan.keySpec;
  return {
    requestId: req.requestId,
    protocol: req.protocol,
    profile: plan.profile.name,
    phase,
    requester: { kind: req.requester.kind, id: req.requester.id, attributes: { ...(req.requester.attributes ?? {}) } },
    subject: rdnsToText(plan.subject),
    names: plan.sans,
    // Same wording as the inventory's keyAlgorithm column, so receivers and reports agree.
    key: { algorithm: keySpecText(k), spkiSha256: createHash("sha256").update(plan.spki).digest("hex") },
    ...(req.attested ? { attestation: { format: req.attested.format, identifier: { ...req.attested.identifier }, facts: { ...req.attested.facts }, identityProven: req.attested.identity === "attested" } } : {}),
    ...(req.renewalOf ? { renewalOf: req.renewalOf } : {}),
  };
}

/** `sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>`: what a receiver recomputes to know it is us. */
export function signatureFor(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")}`;
}

const CRITICALITY = new Set<string>(CRITICALITIES);

/**
 * The plan's classification refined by the webhook's attributes (owner, application, environment,
 * criticality): the webhook is asked last, so it wins over the profile and the requester. A
 * criticality outside low/medium/high/critical is ignored rather than failing the issuance.
 */
export function classificationWith(base: Classification, attributes: Record<string, string>): Classification {
  const c: Classification = { ...base };
  for (const k of ["owner", "application", "environment"] as const) if (attributes[k]) c[k] = attributes[k].slice(0, 200);
  if (attributes.criticality && CRITICALITY.has(attributes.criticality)) c.criticality = attributes.criticality as Classification["criticality"];
  return c;
}

/** Reads at most `cap` bytes of the body; more is an unusable answer (the stream is cancelled). */
async function readCapped(res: Response, cap: number): Promise<string> {
  if (Number(res.headers.get("content-length") ?? 0) > cap) {
    await res.body?.cancel().catch(() => undefined);
    throw new Unusable("answer too large", `answer larger than ${cap} bytes`);
  }
  if (!res.body) return "";
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > cap) {
      await reader.cancel().catch(() => undefined);
      throw new Unusable("answer too large", `answer larger than ${cap} bytes`);
    }
    parts.push(value);
  }
  return Buffer.concat(parts).toString("utf8");
}

/** Control characters out, length capped: the reason reaches HTTP bodies, JSON and CMP statusText. */
function cleanReason(s: string | undefined): string | undefined {
  const t = s?.replace(/[\u0000-\u001f\u007f]+/g, " ").trim();
  return t ? t.slice(0, MAX_REASON) : undefined;
}

/** The audited cause and the category shown to clients. */
function causeOf(e: unknown): { cause: string; category: string } {
  if (e instanceof Unusable) return { cause: e.message, category: e.category };
  const err = e as { name?: string; cause?: { code?: string } } | undefined;
  if (err?.name === "TimeoutError" || err?.name === "AbortError") return { cause: "timeout", category: "timeout" };
  return { cause: `unreachable (${err?.cause?.code ?? err?.name ?? "error"})`, category: "unreachable" };
}

type Webhook = NonNullable<Profile["authorization"]>["webhook"];

/**
 * For start-up and `check-config`: every webhook's hmacSecret must be readable. Throws readSecret's
 * RA_ERR_CONFIG naming the profile. (Enrollment reads lazily and fails closed on a missing secret.)
 */
export function checkWebhookSecrets(profiles: readonly Profile[]): void {
  for (const p of profiles) {
    const secret = p.authorization?.webhook.hmacSecret;
    if (secret) readSecret(secret, `profile ${p.name}: authorization.webhook.hmacSecret`);
  }
}
type Answer = z.infer<typeof answerSchema>;

export class AuthorizationHook {
  /** Secrets resolved once per profile (env / file reads are not repeated per enrollment). */
  private readonly secrets = new Map<string, string>();
  constructor(private readonly deps: AuthorizationHookDeps) {}

  /**
   * Asks the profile's webhook, if it has one. Resolves with the grant; throws
   * RA_ERR_AUTHORIZATION_DENIED (its reason) or RA_ERR_AUTHORIZATION_UNAVAILABLE (fail closed).
   */
  async authorize(req: EnrollmentRequest, plan: IssuancePlan, phase: AuthorizationPhase = "enroll"): Promise<AuthorizationGrant> {
    const hook = plan.profile.authorization?.webhook;
    if (!hook) return { attributes: {} };
    const actor = `${req.requester.kind}:${req.requester.id}`;
    const failed = (cause: string) => this.deps.audit.record({
      type: "authorization.webhook_failed", actor, target: req.requestId,
      data: { protocol: req.protocol, profile: plan.profile.name, phase, cause, onError: hook.onError },
    });
    const unavailable = (category: string, cause: string) => new GatewayError("RA_ERR_AUTHORIZATION_UNAVAILABLE",
      `the authorization service for profile ${plan.profile.name} could not be asked (${category})`, { cause }, { retryAfterSeconds: RETRY_AFTER_SECONDS });
    let secret: string | undefined;
    try {
      secret = this.secretFor(plan.profile.name, hook);
    } catch {
      // A secret that cannot be read is a configuration error: fail closed whatever onError says,
      // since failing open would quietly issue for as long as the configuration stays broken.
      await failed("hmacSecret unreadable");
      throw unavailable("configuration error", "hmacSecret unreadable");
    }
    const body = JSON.stringify(buildAuthorizationBody(req, plan, phase));
    let answer: Answer;
    try {
      answer = await this.ask(hook, body, secret);
    } catch (e) {
      const { cause, category } = causeOf(e);
      await failed(cause);
      // A device identity the attestation did not prove rests on this answer alone: never fail open for it.
      if (hook.onError === "allow" && req.attested?.identity !== "delegated") return { attributes: {}, failedOpen: cause };
      throw unavailable(category, cause);
    }
    if (answer.decision === "deny") {
      throw new GatewayError("RA_ERR_AUTHORIZATION_DENIED", cleanReason(answer.reason) ?? "the authorization service denied the enrollment");
    }
    return { attributes: answer.attributes ?? {} };
  }

  /** Throws (readSecret's configuration error) when the secret's env variable or file is missing. */
  private secretFor(profile: string, hook: Webhook): string | undefined {
    if (!hook.hmacSecret) return undefined;
    let s = this.secrets.get(profile);
    if (s === undefined) {
      s = readSecret(hook.hmacSecret, `profile ${profile}: authorization.webhook.hmacSecret`);
      this.secrets.set(profile, s);
    }
    return s;
  }

  /** One POST bounded by timeoutMs (connect, headers and body) and MAX_ANSWER_BYTES. */
  private async ask(hook: Webhook, body: string, secret: string | undefined): Promise<Answer> {
    const headers: Record<string, string> = { "Content-Type": "application/json", Accept: "application/json" };
    if (secret !== undefined) {
      const timestamp = String(Math.floor((this.deps.now?.() ?? new Date()).getTime() / 1000));
      headers["X-Gateway-Timestamp"] = timestamp;
      headers["X-Gateway-Signature"] = signatureFor(secret, timestamp, body);
    }
    const res = await (this.deps.fetch ?? fetch)(hook.url, { method: "POST", headers, body, signal: AbortSignal.timeout(hook.timeoutMs), redirect: "manual" });
    // A redirect is not followed (the signed body would go elsewhere): like any non-2xx, unusable.
    if (res.status < 200 || res.status > 299) {
      await res.body?.cancel().catch(() => undefined);
      throw new Unusable(`HTTP ${res.status}`);
    }
    const text = await readCapped(res, MAX_ANSWER_BYTES);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new Unusable("unusable answer", "the answer is not JSON");
    }
    const parsed = answerSchema.safeParse(json);
    if (!parsed.success) throw new Unusable("unusable answer", `unusable answer: ${parsed.error.issues.map((i) => `${i.path.join(".") || "(top)"} ${i.message}`).join("; ").slice(0, 300)}`);
    return parsed.data;
  }
}
