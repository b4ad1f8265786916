// Small pieces every page shares: the htm binding, formatting and a few components.
import { h } from "preact";
import { useState } from "preact/hooks";
import htm from "htm";

export const html = htm.bind(h);

export const REVOCATION_REASONS = ["unspecified", "keyCompromise", "affiliationChanged", "superseded", "cessationOfOperation", "certificateHold", "privilegeWithdrawn"];
/** RFC 5280 CRLReason codes, as the inventory stores them. */
const REASON_NAMES = { 0: "unspecified", 1: "keyCompromise", 2: "cACompromise", 3: "affiliationChanged", 4: "superseded", 5: "cessationOfOperation", 6: "certificateHold", 8: "removeFromCRL", 9: "privilegeWithdrawn", 10: "aACompromise" };
export const reasonName = (r) => (r === undefined || r === null ? "unspecified" : REASON_NAMES[r] ?? String(r));
export const PROTOCOLS = ["acme", "est", "scep", "cmp", "admin"];

/** "2026-03-01 14:05 UTC": operators compare times across sites, so UTC everywhere. */
export function fmtTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return `${d.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

export function fmtDate(iso) {
  return iso ? new Date(iso).toISOString().slice(0, 10) : "";
}

/** Whole days from now until iso (negative when past). */
export function daysUntil(iso) {
  return Math.floor((new Date(iso).getTime() - Date.now()) / 86_400_000);
}

export const certHref = (serial) => `#/certificates/${encodeURIComponent(serial)}`;

export function StatusBadge({ status }) {
  return html`<span class=${`badge badge-${status}`}>${status}</span>`;
}

/** "revoked" with its date (and reason) next to it: when matters as much as whether. */
export function RevokedAt({ c, time = fmtDate }) {
  if (c.status !== "revoked" || !c.revokedAt) return "";
  return html`<span class="revoked-at">on <time datetime=${c.revokedAt} title=${fmtTime(c.revokedAt)}>${time(c.revokedAt)}</time> (${reasonName(c.revocationReason)})</span>`;
}

/** Says `text` to screen readers through index.html's one polite live region (outside the app, so always present). */
export function announce(text) {
  const el = document.getElementById("announcer");
  if (!el) return;
  el.textContent = "";
  // A new text node after clearing: some screen readers skip an unchanged string.
  setTimeout(() => (el.textContent = text), 50);
}

/**
 * Copies text: the asynchronous Clipboard API where the page may use it (a secure context), else a selected
 * off-screen textarea and execCommand (plain-http test set-ups, older browsers). True when it worked.
 */
export async function copyText(text) {
  if (navigator.clipboard?.writeText && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      // refused (permissions, no focus): try the old way
    }
  }
  const back = document.activeElement;
  const ta = document.createElement("textarea");
  ta.value = text;
  ta.setAttribute("readonly", "");
  ta.className = "copy-buffer";
  document.body.append(ta);
  ta.select();
  let ok = false;
  try {
    ok = document.execCommand("copy");
  } catch {
    ok = false;
  }
  ta.remove();
  back?.focus?.();
  return ok;
}

/** Two sheets (copy) or a tick (copied): icons keep the button narrow enough for a table cell. */
const icon = (d) => html`<svg class="icon" viewBox="0 0 16 16" width="14" height="14" aria-hidden="true" focusable="false"><path d=${d} /></svg>`;
const SHEETS = "M6 5.5h7a.5.5 0 0 1 .5.5v7.5a.5.5 0 0 1-.5.5H6a.5.5 0 0 1-.5-.5V6a.5.5 0 0 1 .5-.5zM3.5 10.5H3a.5.5 0 0 1-.5-.5V3a.5.5 0 0 1 .5-.5h7a.5.5 0 0 1 .5.5v.5";
const TICK = "M3 8.5l3.2 3.2L13 4.8";

/** A small button that copies `value`; a tick and "Copied" (for screen readers, also announced) for a moment. */
export function CopyButton({ value, label }) {
  const [state, setState] = useState("");
  const click = async () => {
    const ok = await copyText(value);
    setState(ok ? "Copied" : "Copy failed");
    announce(ok ? `The full ${label} is copied to the clipboard.` : `Could not copy the ${label}: select it and copy by hand.`);
    setTimeout(() => setState(""), 2000);
  };
  return html`
    <button type="button" class=${`copy${state ? ` is-${state === "Copied" ? "done" : "failed"}` : ""}`} title=${`Copy the full ${label}`} onClick=${click}>
      ${state === "Copy failed" ? "!" : icon(state ? TICK : SHEETS)}<span class="visually-hidden">${state || "Copy"} ${label}</span>
    </button>`;
}

/** First `head` … last `tail` characters of a long identifier; short ones stay whole. */
export function shorten(value, head = 8, tail = 6) {
  return value.length > head + tail + 3 ? `${value.slice(0, head)}…${value.slice(-tail)}` : value;
}

/**
 * A long identifier (serial, hash, request id, fingerprint) on one line, shortened, with a copy button for the
 * whole value. The full value is in the tooltip and in data-full (for tools and tests); `href` makes it a link.
 */
export function Short({ value, label = "value", href, title }) {
  if (!value) return "";
  const text = shorten(String(value));
  const tip = title ?? String(value);
  return html`<span class="short" data-full=${value}>${href
    ? html`<a href=${href} class="mono" title=${tip}>${text}</a>`
    : html`<code title=${tip}>${text}</code>`}<${CopyButton} value=${String(value)} label=${label} /></span>`;
}

/** A list of SANs as given by the API ("dns:x"). */
export function Names({ names }) {
  if (!names?.length) return html`<span class="muted">none</span>`;
  return html`<ul class="names">${names.map((n) => html`<li key=${n}><code>${n}</code></li>`)}</ul>`;
}

/** A definition list from [label, value] pairs, skipping empty values. */
export function Facts({ rows }) {
  const shown = rows.filter(([, v]) => v !== undefined && v !== null && v !== "");
  return html`<dl class="facts">${shown.map(([k, v]) => html`<div key=${k}><dt>${k}</dt><dd>${v}</dd></div>`)}</dl>`;
}

/** The page heading; the app moves focus here on navigation so screen readers announce the page. */
export function PageTitle({ children }) {
  return html`<h1 tabindex="-1">${children}</h1>`;
}

export function Loading({ what = "Loading" }) {
  return html`<p class="muted" aria-busy="true">${what}…</p>`;
}

/** An audit event's data: one truncated line, the whole of it (pretty-printed) on demand. */
export function EventData({ data }) {
  if (data === undefined || data === null) return "";
  const text = typeof data === "string" ? data : JSON.stringify(data);
  if (text.length <= 80) return html`<code class="data">${text}</code>`;
  return html`
    <details class="data">
      <summary><code>${text.slice(0, 80)}…</code></summary>
      <pre>${typeof data === "string" ? data : JSON.stringify(data, null, 2)}</pre>
    </details>`;
}
