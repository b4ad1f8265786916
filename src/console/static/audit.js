// The audit trail: paged events (the API pages forward from a sequence number) and whether the
// hash chain over all of them still verifies.
import { useEffect, useState } from "preact/hooks";
import { admin } from "./api.js";
import { certHref, EventData, fmtTime, html, Loading, PageTitle } from "./ui.js";

const PAGE = 50;

function ChainStatus({ v }) {
  if (!v) return html`<p class="chain" aria-busy="true">Verifying the hash chain…</p>`;
  if (v.ok) return html`<p class="chain chain-ok" id="chain-status"><strong>Chain intact</strong>: ${v.events} events verified.</p>`;
  return html`<p class="chain chain-broken" id="chain-status"><strong>Chain broken</strong> at event ${v.brokenAt ?? "?"}${v.why ? `: ${v.why}` : ""}. ${v.events} events checked.</p>`;
}

/** Certificate events name a serial as their target: link it. */
function Target({ e }) {
  if (!e.target) return "";
  if (e.type.startsWith("certificate.")) return html`<a href=${certHref(e.target)} class="mono break">${e.target}</a>`;
  return html`<span class="mono break">${e.target}</span>`;
}

export function AuditPage({ notify }) {
  const [filters, setFilters] = useState({ type: "", target: "" });
  const [form, setForm] = useState(filters);
  // Sequence numbers the pages start after; the last one is the page shown.
  const [trail, setTrail] = useState([0]);
  const [events, setEvents] = useState(undefined);
  const [verify, setVerify] = useState(undefined);
  const after = trail[trail.length - 1];

  useEffect(() => {
    admin.get("/audit/verify").then(setVerify, (err) => notify("error", err.message));
  }, []);
  useEffect(() => {
    setEvents(undefined);
    admin.get("/audit", { ...filters, after, limit: PAGE + 1 }).then(
      (r) => setEvents(r.events),
      (err) => {
        setEvents([]);
        notify("error", err.message);
      },
    );
  }, [filters, after]);

  const submit = (e) => {
    e.preventDefault();
    setFilters({ type: form.type.trim(), target: form.target.trim() });
    setTrail([0]);
  };
  const shown = events?.slice(0, PAGE) ?? [];
  const more = (events?.length ?? 0) > PAGE;

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
    </form>
    ${events === undefined ? html`<${Loading} />` : !shown.length ? html`<p>No events${after ? " after this point" : ""}.</p>` : html`
      <div class="table-wrap">
        <table>
          <caption class="visually-hidden">Audit events</caption>
          <thead><tr>
            <th scope="col">#</th><th scope="col">Time</th><th scope="col">Type</th><th scope="col">Actor</th><th scope="col">Target</th><th scope="col">Details</th><th scope="col">Hash</th>
          </tr></thead>
          <tbody>${shown.map((e) => html`
            <tr key=${e.seq}>
              <td>${e.seq}</td><td class="nowrap">${fmtTime(e.ts)}</td><th scope="row">${e.type}</th><td>${e.actor}</td>
              <td><${Target} e=${e} /></td><td class="data-col"><${EventData} data=${e.data} /></td>
              <td><code class="small" title=${`${e.hash} (previous ${e.prevHash})`}>${e.hash?.slice(0, 12)}…</code></td>
            </tr>`)}
          </tbody>
        </table>
      </div>`}
    <nav class="pager" aria-label="Audit pages">
      ${trail.length > 1 ? html`<button type="button" class="secondary" onClick=${() => setTrail(trail.slice(0, -1))}>Previous page</button>` : ""}
      ${more ? html`<button type="button" class="secondary" onClick=${() => setTrail([...trail, shown[shown.length - 1].seq])}>Next page</button>` : ""}
    </nav>`;
}
