// Small pieces every page shares: the htm binding, formatting and a few components.
import { h } from "preact";
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
