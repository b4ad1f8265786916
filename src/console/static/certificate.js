// One certificate: what the gateway knows (inventory, request, audit) and what the certificate says
// (decoded fields and extensions), with download and a confirmed revoke.
import { useEffect, useRef, useState } from "preact/hooks";
import { admin } from "./api.js";
import { certHref, EventData, Facts, fmtTime, html, Loading, Names, PageTitle, RevokedAt, REVOCATION_REASONS, Short, shorten, StatusBadge } from "./ui.js";

/** Key identifiers and other digests: one token of hex. */
const HEXISH = /^[0-9a-f:]{24,}$/i;

function ExtensionValue({ value }) {
  if (value === undefined || value === null) return "";
  if (typeof value === "string" && HEXISH.test(value)) return html`<${Short} value=${value} label="identifier" />`;
  if (typeof value === "string") return html`<span class="pre-line">${value}</span>`;
  if (Array.isArray(value) && value.every((v) => typeof v === "string")) return value.join(", ");
  return html`<code class="data">${JSON.stringify(value)}</code>`;
}

function Extensions({ extensions }) {
  if (!extensions?.length) return html`<p class="muted">No extensions.</p>`;
  return html`
    <div class="table-wrap">
      <table>
        <thead><tr><th scope="col">Extension</th><th scope="col">Critical</th><th scope="col">Value</th></tr></thead>
        <tbody>${extensions.map((x) => html`
          <tr key=${x.oid}>
            <th scope="row">${x.name || x.oid}<div class="muted small mono">${x.oid}</div></th>
            <td>${x.critical ? "yes" : "no"}</td>
            <td><${ExtensionValue} value=${x.value} /></td>
          </tr>`)}
        </tbody>
      </table>
    </div>`;
}

function AuditHistory({ events }) {
  if (!events?.length) return html`<p class="muted">No audit events.</p>`;
  return html`
    <div class="table-wrap">
      <table>
        <thead><tr><th scope="col">#</th><th scope="col">Time</th><th scope="col">Event</th><th scope="col">Actor</th><th scope="col">Details</th></tr></thead>
        <tbody>${events.map((e) => html`
          <tr key=${e.seq}>
            <td>${e.seq}</td><td class="nowrap">${fmtTime(e.ts)}</td><th scope="row">${e.type}</th><td>${e.actor}</td><td class="data-col"><${EventData} data=${e.data} /></td>
          </tr>`)}
        </tbody>
      </table>
    </div>`;
}

/** A modal <dialog>: focus stays inside, Escape cancels, and focus returns to the Revoke button. */
function RevokeDialog({ serial, open, onClose, onRevoked, notify }) {
  const ref = useRef(null);
  const [reason, setReason] = useState("keyCompromise");
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    const d = ref.current;
    if (open && !d.open) d.showModal();
    if (!open && d.open) d.close();
  }, [open]);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    try {
      await admin.post(`/certificates/${encodeURIComponent(serial)}/revoke`, { reason });
      onClose();
      onRevoked(reason);
    } catch (err) {
      notify("error", err.message);
    } finally {
      setBusy(false);
    }
  };
  return html`
    <dialog ref=${ref} aria-labelledby="revoke-title" aria-describedby="revoke-desc" onClose=${onClose}>
      <form onSubmit=${submit}>
        <h2 id="revoke-title">Revoke this certificate?</h2>
        <p id="revoke-desc">Serial <code class="break">${serial}</code>. Revocation cannot be undone (except a certificate hold): the CRL and OCSP report it at once.</p>
        <label for="revoke-reason">Reason</label>
        <select id="revoke-reason" value=${reason} onChange=${(e) => setReason(e.currentTarget.value)}>
          ${REVOCATION_REASONS.map((r) => html`<option key=${r} value=${r}>${r}</option>`)}
        </select>
        <div class="actions">
          <button type="button" class="secondary" onClick=${onClose}>Cancel</button>
          <button type="submit" class="danger" disabled=${busy}>${busy ? "Revoking…" : "Revoke certificate"}</button>
        </div>
      </form>
    </dialog>`;
}

function Overview({ c }) {
  return html`<${Facts} rows=${[
    ["Status", html`<${StatusBadge} status=${c.status} /> <${RevokedAt} c=${c} time=${fmtTime} />`],
    ["Subject", c.subject],
    ["Names", html`<${Names} names=${c.sans} />`],
    ["Profile", c.profile],
    ["Issuing CA", c.caName],
    ["Valid from", fmtTime(c.notBefore)],
    ["Valid until", fmtTime(c.notAfter)],
    ["Key", c.keyAlgorithm],
    ["Replaced by", c.replacedBy ? html`<${Short} value=${c.replacedBy} label="serial" href=${certHref(c.replacedBy)} />` : undefined],
    ["Renewal of", c.renewalOf ? html`<${Short} value=${c.renewalOf} label="serial" href=${certHref(c.renewalOf)} />` : undefined],
    ["Owner", c.owner], ["Application", c.application], ["Environment", c.environment], ["Criticality", c.criticality],
  ]} />`;
}

function Decoded({ d }) {
  // The algorithm may already name the curve or size ("EC P-256"): say each thing once.
  const pk = d.publicKey;
  const alg = pk?.algorithm ?? "";
  const key = pk ? [alg, pk.curve && !alg.includes(pk.curve) ? pk.curve : "", pk.size && !alg.includes(String(pk.size)) && !pk.curve ? `${pk.size} bits` : ""].filter(Boolean).join(" ") : undefined;
  return html`<${Facts} rows=${[
    ["Subject", d.subject], ["Issuer", d.issuer], ["Serial number", d.serialNumber ? html`<${Short} value=${d.serialNumber} label="serial" />` : undefined],
    ["Not before", fmtTime(d.notBefore)], ["Not after", fmtTime(d.notAfter)], ["Signature algorithm", d.signatureAlgorithm],
    ["Public key", key], ["SHA-256 fingerprint", d.fingerprintSha256 ? html`<${Short} value=${d.fingerprintSha256} label="fingerprint" />` : undefined],
  ]} />`;
}

function RequestFacts({ r, certificate: c }) {
  if (!r) {
    return html`<${Facts} rows=${[["Protocol", c.protocol], ["Requester", `${c.requesterKind}:${c.requesterId}`], ["Request", html`<${Short} value=${c.requestId} label="request id" />`]]} />`;
  }
  return html`<${Facts} rows=${[
    ["Protocol", r.protocol], ["Requester", `${r.requesterKind}:${r.requesterId}`], ["Request", html`<${Short} value=${r.id} label="request id" />`],
    ["Profile asked for", r.profile], ["Request status", r.status], ["Received", fmtTime(r.createdAt)],
    ["Decided by", r.decidedBy], ["Decided", fmtTime(r.decidedAt)], ["Reason", r.reason],
  ]} />`;
}

export function CertificatePage({ serial, notify }) {
  const [details, setDetails] = useState(undefined);
  const [failed, setFailed] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const revokeButton = useRef(null);
  const path = `/certificates/${encodeURIComponent(serial)}`;

  const load = () =>
    admin.get(`${path}/details`).then(setDetails, (err) => {
      setFailed(true);
      notify("error", err.message);
    });
  useEffect(() => {
    load();
  }, [serial]);

  const close = () => {
    setConfirming(false);
    revokeButton.current?.focus();
  };
  const revoked = (reason) => {
    notify("ok", `Certificate ${serial} revoked (${reason}).`);
    load();
  };

  if (failed && !details) return html`<${PageTitle}>Certificate<//><p>Could not load certificate <code>${serial}</code>. <a href="#/inventory">Back to the inventory</a>.</p>`;
  if (!details) return html`<${PageTitle}>Certificate<//><${Loading} />`;
  const c = details.certificate;
  const d = details.decoded ?? {};
  return html`
    <p class="crumbs"><a href="#/inventory">← Inventory</a></p>
    <${PageTitle}>Certificate <span class="mono" title=${c.serial}>${shorten(c.serial)}</span><//>
    <div class="toolbar">
      <a class="button secondary" href=${admin.url(path, { format: "pem" })} download=${`${c.serial}.pem`}>Download PEM</a>
      <a class="button secondary" href=${admin.url(path, { format: "der" })} download=${`${c.serial}.cer`}>Download DER</a>
      <button type="button" class="danger" ref=${revokeButton} disabled=${c.status !== "valid"} onClick=${() => setConfirming(true)}>Revoke…</button>
    </div>
    <div class="grid2">
      <section class="card" aria-labelledby="s-overview"><h2 id="s-overview">Inventory</h2><${Overview} c=${c} /></section>
      <section class="card" aria-labelledby="s-request"><h2 id="s-request">Where it was requested from</h2><${RequestFacts} r=${details.request} certificate=${c} /></section>
    </div>
    <section class="card" aria-labelledby="s-decoded"><h2 id="s-decoded">Decoded certificate</h2><${Decoded} d=${d} /></section>
    <section class="card" aria-labelledby="s-ext"><h2 id="s-ext">Extensions</h2><${Extensions} extensions=${d.extensions} /></section>
    <section class="card" aria-labelledby="s-chain">
      <h2 id="s-chain">Certificate and chain</h2>
      <details><summary>Show PEM</summary><pre class="pem">${details.pem ?? ""}${details.chainPem ?? ""}</pre></details>
    </section>
    <section class="card" aria-labelledby="s-audit"><h2 id="s-audit">Audit history</h2><${AuditHistory} events=${details.audit} /></section>
    <${RevokeDialog} serial=${c.serial} open=${confirming} onClose=${close} onRevoked=${revoked} notify=${notify} />`;
}
