import { GatewayError } from "../../src/errors.js";
import type { AcmeAccountRecord, AcmeOrderCursor } from "../../src/store/acme-types.js";
import { newId, type AcmeContext, type AcmeUrls } from "./context.js";
import { importAccountJwk } from "./jwk.js";
import { parseJws, verifyJws } from "./jws.js";
import { accountJson } from "./render.js";
import type { AcmeReply } from "./reply.js";
import { accountOf, objectPayload, type SignedRequest } from "./signed-request.js";

const MAILTO = /^mailto:[^@\s,;:<>()[\]\\"]{1,64}@[A-Za-z0-9.-]{1,253}$/;

function checkContacts(raw: unknown): string[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw) || raw.length > 10) throw new GatewayError("RA_ERR_MALFORMED", "contact must be an array of at most 10 URLs");
  for (const c of raw) {
    if (typeof c !== "string" || !MAILTO.test(c)) throw new GatewayError("RA_ERR_MALFORMED", `contact ${JSON.stringify(c)} is not a mailto: URL with one address`);
  }
  return raw as string[];
}

/** newAccount (RFC 8555 §7.3): returns the existing account for a known key, creates one otherwise. */
export async function newAccount(ctx: AcmeContext, urls: AcmeUrls, r: SignedRequest): Promise<AcmeReply> {
  if (r.auth.via !== "jwk") throw new GatewayError("RA_ERR_MALFORMED", "newAccount must be signed with jwk");
  const key = r.auth.key;
  const p = objectPayload(r);
  const existing = await ctx.store.accountByThumbprint(key.thumbprint);
  if (existing) return existingAccount(existing, urls);
  if (p.onlyReturnExisting === true) throw new GatewayError("RA_ERR_ACCOUNT_NOT_FOUND", "no account exists for this key");
  const contact = checkContacts(p.contact);
  if (urls.endpoint.termsOfService && p.termsOfServiceAgreed !== true) {
    throw new GatewayError("RA_ERR_MALFORMED", "the terms of service must be agreed to (termsOfServiceAgreed: true)");
  }
  const eab = p.externalAccountBinding === undefined ? undefined : await ctx.eab.verify(p.externalAccountBinding, key.thumbprint, urls.newAccount, urls.endpoint.name);
  if (!eab && urls.endpoint.externalAccountRequired) throw new GatewayError("RA_ERR_EAB_REQUIRED", "this ACME endpoint requires external account binding");

  const account: AcmeAccountRecord = {
    id: newId(), endpoint: urls.endpoint.name, thumbprint: key.thumbprint, jwk: JSON.stringify(key.jwk), status: "valid",
    contact, eabKeyId: eab?.id, createdAt: new Date().toISOString(),
  };
  try {
    await ctx.gw.store.transaction(async (tx) => {
      await tx.acme.insertAccount(account);
      // Binding in the same transaction: two racing newAccount calls cannot both use one EAB key.
      if (eab && !(await tx.acme.bindEabKey(eab.id, account.id))) throw new GatewayError("RA_ERR_EAB_INVALID", "externalAccountBinding key was already used");
      await ctx.gw.audit.record({ type: "acme.account.created", actor: `acme-account:${account.id}`, target: account.id, data: { endpoint: account.endpoint, eab: eab?.id, thumbprint: key.thumbprint } }, tx);
    });
  } catch (e) {
    // The thumbprint is unique: a newAccount with the same key (on this instance or another) may have been
    // created between the look-up above and this insert. Then the answer is that account, as for a known key.
    const winner = await ctx.store.accountByThumbprint(key.thumbprint);
    if (winner) return existingAccount(winner, urls);
    throw e;
  }
  return { status: 201, json: accountJson(account, urls), location: urls.account(account.id) };
}

/** newAccount for a key that already has an account: that account (200), if it is on this endpoint and valid. */
function existingAccount(existing: AcmeAccountRecord, urls: AcmeUrls): AcmeReply {
  if (existing.endpoint !== urls.endpoint.name) throw new GatewayError("RA_ERR_KEY_IN_USE", "this key belongs to an account on another ACME endpoint");
  if (existing.status !== "valid") throw new GatewayError("RA_ERR_ACCOUNT_DEACTIVATED", `the account is ${existing.status}`);
  return { status: 200, json: accountJson(existing, urls), location: urls.account(existing.id) };
}

/** POST to the account URL: read (POST-as-GET), update contact, or deactivate (§7.3.2, §7.3.6). */
export async function updateAccount(ctx: AcmeContext, urls: AcmeUrls, r: SignedRequest, id: string): Promise<AcmeReply> {
  const account = accountOf(r);
  if (account.id !== id) throw new GatewayError("RA_ERR_UNAUTHORIZED", "the account URL does not match the signing account");
  if (r.payload === undefined) return { json: accountJson(account, urls), location: urls.account(id) };
  const p = objectPayload(r);
  if (p.status !== undefined && p.status !== "deactivated") throw new GatewayError("RA_ERR_MALFORMED", "an account's status can only be set to deactivated");
  const contact = p.contact !== undefined ? checkContacts(p.contact) : undefined;
  const status = p.status === "deactivated" ? ("deactivated" as const) : undefined;
  await ctx.gw.store.transaction(async (tx) => {
    await tx.acme.updateAccount(id, { contact, status });
    await ctx.gw.audit.record({ type: status ? "acme.account.deactivated" : "acme.account.updated", actor: `acme-account:${id}`, target: id, data: { contactChanged: contact !== undefined } }, tx);
  });
  return { json: accountJson((await ctx.store.getAccount(id))!, urls), location: urls.account(id) };
}

/**
 * keyChange (§7.3.5): the outer JWS is signed by the old key (kid), the inner by the new
 * key (jwk) over {account, oldKey}; both name the same URL; the new key must be unused.
 */
export async function keyChange(ctx: AcmeContext, urls: AcmeUrls, r: SignedRequest): Promise<AcmeReply> {
  const account = accountOf(r);
  const inner = parseJws(Buffer.from(JSON.stringify(objectPayload(r))));
  if (inner.header.jwk === undefined || inner.header.kid !== undefined) throw new GatewayError("RA_ERR_MALFORMED", "the inner JWS must carry the new key as jwk");
  if ("nonce" in inner.header) throw new GatewayError("RA_ERR_MALFORMED", "the inner JWS must not carry a nonce");
  if (inner.header.url !== r.url) throw new GatewayError("RA_ERR_MALFORMED", "the inner JWS url must equal the outer url");
  const newKey = importAccountJwk(inner.header.jwk);
  verifyJws(inner, newKey.key);
  const p = inner.payload as Record<string, unknown> | undefined;
  if (!p || typeof p !== "object") throw new GatewayError("RA_ERR_MALFORMED", "the inner payload must be {account, oldKey}");
  if (p.account !== urls.account(account.id)) throw new GatewayError("RA_ERR_UNAUTHORIZED", "the inner payload names another account");
  if (importAccountJwk(p.oldKey).thumbprint !== account.thumbprint) throw new GatewayError("RA_ERR_UNAUTHORIZED", "oldKey is not the account's current key");
  const keyInUse = (holder: AcmeAccountRecord) => {
    const location = holder.endpoint === account.endpoint ? urls.account(holder.id) : undefined;
    return new GatewayError("RA_ERR_KEY_IN_USE", "the new key already belongs to an account", undefined, { location });
  };
  const holder = await ctx.store.accountByThumbprint(newKey.thumbprint);
  if (holder) throw keyInUse(holder);
  try {
    await ctx.gw.store.transaction(async (tx) => {
      await tx.acme.updateAccount(account.id, { jwk: JSON.stringify(newKey.jwk), thumbprint: newKey.thumbprint });
      await ctx.gw.audit.record({ type: "acme.account.keyChanged", actor: `acme-account:${account.id}`, target: account.id, data: { from: account.thumbprint, to: newKey.thumbprint } }, tx);
    });
  } catch (e) {
    // The thumbprint is unique: another account may have taken the key since the look-up above.
    const winner = await ctx.store.accountByThumbprint(newKey.thumbprint);
    if (winner && winner.id !== account.id) throw keyInUse(winner);
    throw e;
  }
  return { json: accountJson((await ctx.store.getAccount(account.id))!, urls), location: urls.account(account.id) };
}

/** Orders listed per page of the account's orders. */
export const ORDERS_PAGE_SIZE = 100;

/** The account's orders (§7.1.2.1), paged by (creation time, id) with Link rel="next". */
export async function listOrders(ctx: AcmeContext, urls: AcmeUrls, r: SignedRequest, id: string, after: string | undefined): Promise<AcmeReply> {
  if (accountOf(r).id !== id) throw new GatewayError("RA_ERR_UNAUTHORIZED", "the orders URL belongs to another account");
  const page = await ctx.store.orderIdsForAccount(id, after === undefined ? undefined : parseOrderCursor(after), ORDERS_PAGE_SIZE + 1);
  const more = page.length > ORDERS_PAGE_SIZE;
  const shown = page.slice(0, ORDERS_PAGE_SIZE);
  const last = shown[shown.length - 1];
  const links = more ? [{ url: `${urls.orders(id)}?after=${encodeURIComponent(`${last.createdAt}~${last.id}`)}`, rel: "next" }] : [];
  return { json: { orders: shown.map((o) => urls.order(o.id)) }, links };
}

const CURSOR = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z)(?:~([A-Za-z0-9_-]{1,128}))?$/;

/**
 * `after` of a next link: "<createdAt>~<order id>", the last order of the page before, so a page that ends inside a
 * run of orders created in the same millisecond continues inside it. A bare time (links before the id was added)
 * means after every order of that time: "~" sorts above every id character.
 */
function parseOrderCursor(after: string): AcmeOrderCursor {
  const m = CURSOR.exec(after);
  if (!m) throw new GatewayError("RA_ERR_MALFORMED", "after must be the position given in a next link of this list");
  return { createdAt: m[1], id: m[2] ?? "~" };
}
