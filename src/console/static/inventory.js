// Inventory search. The filters live in the URL (#/inventory?name=…), so a search can be bookmarked
// and the browser's back button returns to it from a certificate's details.
import { useEffect, useState } from "preact/hooks";
import { admin, qs } from "./api.js";
import { certHref, daysUntil, fmtDate, html, Loading, PageTitle, PROTOCOLS, StatusBadge } from "./ui.js";

const PAGE = 50;
const FILTERS = ["name", "status", "profile", "protocol", "owner", "ca", "expiringWithinDays"];

function fromParams(params) {
  return Object.fromEntries(FILTERS.map((k) => [k, params.get(k) ?? ""]));
}

function Select({ id, label, value, onChange, options }) {
  return html`
    <div class="field">
      <label for=${id}>${label}</label>
      <select id=${id} value=${value} onChange=${(e) => onChange(e.currentTarget.value)}>
        <option value="">Any</option>
        ${options.map((o) => html`<option key=${o} value=${o}>${o}</option>`)}
      </select>
    </div>`;
}

function Filters({ initial, profiles, cas }) {
  const [f, setF] = useState(initial);
  const set = (k) => (v) => setF({ ...f, [k]: v });
  const submit = (e) => {
    e.preventDefault();
    location.hash = `#/inventory${qs(f)}`;
  };
  const clear = () => {
    setF(fromParams(new URLSearchParams()));
    location.hash = "#/inventory";
  };
  return html`
    <form class="filters card" role="search" aria-label="Certificates" onSubmit=${submit}>
      <div class="field grow">
        <label for="f-name">Name contains</label>
        <input id="f-name" type="search" value=${f.name} onInput=${(e) => set("name")(e.currentTarget.value)} placeholder="www.example.com" />
      </div>
      <${Select} id="f-status" label="Status" value=${f.status} onChange=${set("status")} options=${["valid", "revoked", "expired"]} />
      <${Select} id="f-profile" label="Profile" value=${f.profile} onChange=${set("profile")} options=${profiles} />
      <${Select} id="f-protocol" label="Protocol" value=${f.protocol} onChange=${set("protocol")} options=${PROTOCOLS} />
      <div class="field">
        <label for="f-owner">Owner</label>
        <input id="f-owner" type="text" value=${f.owner} onInput=${(e) => set("owner")(e.currentTarget.value)} />
      </div>
      <${Select} id="f-ca" label="Issuer" value=${f.ca} onChange=${set("ca")} options=${cas} />
      <div class="field">
        <label for="f-expiring">Expiring within (days)</label>
        <input id="f-expiring" type="number" min="1" max="3650" inputmode="numeric" value=${f.expiringWithinDays}
          onInput=${(e) => set("expiringWithinDays")(e.currentTarget.value)} />
      </div>
      <div class="actions">
        <button type="submit">Search</button>
        <button type="button" class="secondary" onClick=${clear}>Clear</button>
      </div>
    </form>`;
}

function Results({ certificates }) {
  if (!certificates.length) return html`<p>No certificate matches these filters.</p>`;
  return html`
    <div class="table-wrap">
      <table>
        <caption class="visually-hidden">Certificates</caption>
        <thead><tr>
          <th scope="col">Serial</th><th scope="col">Subject and names</th><th scope="col">Profile</th><th scope="col">Protocol</th>
          <th scope="col">Owner</th><th scope="col">Issuer</th><th scope="col">Expires</th><th scope="col">Status</th>
        </tr></thead>
        <tbody>
          ${certificates.map((c) => html`
            <tr key=${c.serial}>
              <th scope="row"><a href=${certHref(c.serial)} class="mono">${c.serial}</a></th>
              <td><div>${c.subject}</div><div class="muted small">${(c.sans ?? []).join(", ")}</div></td>
              <td>${c.profile}</td>
              <td>${c.protocol}</td>
              <td>${c.owner ?? html`<span class="muted">none</span>`}</td>
              <td>${c.caName}</td>
              <td>${fmtDate(c.notAfter)}${c.status === "valid" ? html`<div class="muted small">in ${daysUntil(c.notAfter)} days</div>` : ""}</td>
              <td><${StatusBadge} status=${c.status} /></td>
            </tr>`)}
        </tbody>
      </table>
    </div>`;
}

function countText(n, offset, more) {
  if (!offset && !more) return `${n} certificate${n === 1 ? "" : "s"}`;
  return n ? `Certificates ${offset + 1} to ${offset + n}` : "No more certificates";
}

export function InventoryPage({ params, notify }) {
  const filters = fromParams(params);
  const offset = Math.max(0, Number(params.get("offset") ?? 0) || 0);
  const key = qs({ ...filters, offset });
  const [lists, setLists] = useState({ profiles: [], cas: [] });
  const [result, setResult] = useState(undefined);

  useEffect(() => {
    Promise.all([admin.get("/profiles"), admin.get("/cas")]).then(
      ([p, c]) => setLists({ profiles: p.profiles.map((x) => x.name), cas: c.cas.map((x) => x.name) }),
      (err) => notify("error", err.message),
    );
  }, []);

  useEffect(() => {
    setResult(undefined);
    // One more than a page tells whether there is a next page.
    admin.get("/certificates", { ...filters, limit: PAGE + 1, offset }).then(
      (r) => setResult({ certificates: r.certificates.slice(0, PAGE), more: r.certificates.length > PAGE }),
      (err) => {
        setResult({ certificates: [], more: false });
        notify("error", err.message);
      },
    );
  }, [key]);

  const page = (to) => `#/inventory${qs({ ...filters, offset: to || "" })}`;
  return html`
    <${PageTitle}>Inventory<//>
    <${Filters} key=${key} initial=${filters} profiles=${lists.profiles} cas=${lists.cas} />
    <section aria-labelledby="results-title">
      <h2 id="results-title">Certificates</h2>
      <p class="muted" aria-live="polite">${result ? countText(result.certificates.length, offset, result.more) : ""}</p>
      ${result ? html`<${Results} certificates=${result.certificates} />` : html`<${Loading} what="Searching" />`}
      <nav class="pager" aria-label="Result pages">
        ${offset > 0 ? html`<a href=${page(Math.max(0, offset - PAGE))}>Previous page</a>` : ""}
        ${result?.more ? html`<a href=${page(offset + PAGE)}>Next page</a>` : ""}
      </nav>
    </section>`;
}
