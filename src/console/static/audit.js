// The audit trail: paged events, newest first unless asked otherwise (the API pages by sequence number
// either way), and whether the hash chain over all of them still verifies.
import { useEffect, useState } from "preact/hooks";
import { admin } from "./api.js";
import { certHref, EventData, fmtTime, html, Loading, PageTitle, Short } from "./ui.js";

const PAGE = 50;

function ChainStatus({ v }) {
  if (!v) return html`<p class="chain" aria-busy="true">Verifying the hash chain…</p>`;
  if (v.ok) return html`<p class="chain chain-ok" id="chain-status"><strong>Chain intact</strong>: ${v.events} events verified.</p>`;
  return html`<p class="chain chain-broken" id="chain-status"><strong>Chain broken</strong> at event ${v.brokenAt ?? "?"}${v.why ? `: ${v.why}` : ""}. ${v.events} events checked.</p>`;
}

/** Certificate events name a serial as their target: link it. */
function Target({ e }) {
  if (!e.target) return "";
  const serial = e.type.startsWith("certificate.");
  return html`<${Short} value=${e.target} label=${serial ? "serial" : "target"} href=${serial ? certHref(e.target) : undefined} />`;
}

const ORDERS = [["desc", "Newest first"], ["asc", "Oldest first"]];

/** Applies at once: a new order starts again from the first page. */
function OrderToggle({ order, onChange }) {
  return html`
    <fieldset class="checks order" aria-describedby="a-order-hint">
      <legend>Order</legend>
      ${ORDERS.map(([v, label]) => html`
        <label key=${v} class="check"><input type="radio" name="a-order" value=${v} checked=${order === v} onChange=${() => onChange(v)} /> ${label}</label>`)}
      <p id="a-order-hint" class="visually-hidden">Changing the order goes back to the first page.</p>
    </fieldset>`;
}

export function AuditPage({ params, notify }) {
  const [filters, setFilters] = useState({ type: "", target: "" });
  const [form, setForm] = useState(filters);
  // In the URL, so a bookmark or a reload keeps it; newest first unless asked.
  const order = params.get("order") === "asc" ? "asc" : "desc";
  // Cursors the pages start from ("" for the first); the last one is the page shown, so Previous pops it.
  const [trail, setTrail] = useState([""]);
  const [result, setResult] = useState(undefined);
  const [verify, setVerify] = useState(undefined);
  const cursor = trail[trail.length - 1];

  useEffect(() => {
    admin.get("/audit/verify").then(setVerify, (err) => notify("error", err.message));
  }, []);
  useEffect(() => {
    // A slower answer to an earlier page or order must not replace the one asked for last.
    let current = true;
    setResult(undefined);
    admin.get("/audit", { ...filters, order, cursor, limit: PAGE }).then(
      (r) => current && setResult({ events: r.events, next: r.next }),
      (err) => {
        if (!current) return;
        setResult({ events: [], next: undefined });
        notify("error", err.message);
      },
    );
    return () => {
      current = false;
    };
  }, [filters, order, cursor]);

  const submit = (e) => {
    e.preventDefault();
    setFilters({ type: form.type.trim(), target: form.target.trim() });
    setTrail([""]);
  };
  const reorder = (o) => {
    setTrail([""]);
    location.hash = o === "asc" ? "#/audit?order=asc" : "#/audit";
  };
  const shown = result?.events ?? [];

  return html`
    <${PageTitle}>Audit trail<//>
    <div aria-live="polite"><${ChainStatus} v=${verify} /></div>
    <form class="filters card" role="search" aria-label="Audit events" onSubmit=${submit}>
      <div class="field">
        <label for="a-type">Event type</label>
        <input id="a-type" type="text" value=${form.type} onInput=${(e) => setForm({ ...form, type: e.currentTarget.value })} placeholder="certificate.issued" />
      </div>
      <div class="field grow">
        <label for="a-target">Target (serial, request id, …)</label>
        <input id="a-target" type="text" value=${form.target} onInput=${(e) => setForm({ ...form, target: e.currentTarget.value })} />
      </div>
      <div class="actions"><button type="submit">Filter</button></div>
      <${OrderToggle} order=${order} onChange=${reorder} />
    </form>
    ${result === undefined ? html`<${Loading} />` : !shown.length ? html`<p>No events${cursor ? " beyond this point" : ""}.</p>` : html`
      <div class="table-wrap">
        <table class="audit">
          <caption class="visually-hidden">Audit events, ${order === "desc" ? "newest" : "oldest"} first</caption>
          <thead><tr>
            <th scope="col">#</th><th scope="col">Time</th><th scope="col">Type</th><th scope="col">Actor</th><th scope="col">Target</th><th scope="col">Details</th><th scope="col">Hash</th>
          </tr></thead>
          <tbody>${shown.map((e) => html`
            <tr key=${e.seq} data-seq=${e.seq}>
              <td>${e.seq}</td><td class="nowrap">${fmtTime(e.ts)}</td><th scope="row">${e.type}</th><td>${e.actor}</td>
              <td><${Target} e=${e} /></td><td class="data-col"><${EventData} data=${e.data} /></td>
              <td><${Short} value=${e.hash} label="hash" title=${`${e.hash} (previous ${e.prevHash})`} /></td>
            </tr>`)}
          </tbody>
        </table>
      </div>`}
    <nav class="pager" aria-label="Audit pages">
      ${trail.length > 1 ? html`<button type="button" class="secondary" onClick=${() => setTrail(trail.slice(0, -1))}>Previous page</button>` : ""}
      ${result?.next ? html`<button type="button" class="secondary" onClick=${() => setTrail([...trail, result.next])}>Next page</button>` : ""}
    </nav>`;
}
