// Inventory search. The filters live in the URL (#/inventory?name=…), so a search can be bookmarked
// and the browser's back button returns to it from a certificate's details.
import { useEffect, useState } from "preact/hooks";
import { admin, qs } from "./api.js";
import { certHref, daysUntil, fmtDate, html, Loading, PageTitle, PROTOCOLS, RevokedAt, Short, StatusBadge } from "./ui.js";

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
          <th scope="col">Owner</th><th scope="col">Issuer</th><th scope="col">Key</th><th scope="col">Expires</th><th scope="col">Status</th>
        </tr></thead>
        <tbody>
          ${certificates.map((c) => html`
            <tr key=${c.serial}>
              <th scope="row"><${Short} value=${c.serial} label="serial" href=${certHref(c.serial)} /></th>
              <td><div>${c.subject}</div><div class="muted small">${(c.sans ?? []).join(", ")}</div></td>
              <td>${c.profile}</td>
              <td>${c.protocol}</td>
              <td>${c.owner ?? html`<span class="muted">none</span>`}</td>
              <td>${c.caName}</td>
              <td class="nowrap">${c.keyAlgorithm}</td>
              <td>${fmtDate(c.notAfter)}${c.status === "valid" ? html`<div class="muted small">in ${daysUntil(c.notAfter)} days</div>` : ""}</td>
              <td><${StatusBadge} status=${c.status} />${c.status === "revoked" ? html`<div class="small"><${RevokedAt} c=${c} /></div>` : ""}</td>
            </tr>`)}
        </tbody>
      </table>
    </div>`;
}

function countText(n, cursor, more) {
  if (!cursor && !more) return `${n} certificate${n === 1 ? "" : "s"}`;
  return n ? `${n} certificate${n === 1 ? "" : "s"} on this page` : "No more certificates";
}

export function InventoryPage({ params, notify }) {
  const filters = fromParams(params);
  // Keyset pages (the API's opaque cursor): certificates issued while paging never shift a page.
  const cursor = params.get("cursor") ?? "";
  const key = qs({ ...filters, cursor });
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
    admin.get("/certificates", { ...filters, limit: PAGE, ...(cursor ? { cursor } : {}) }).then(
      (r) => setResult({ certificates: r.certificates, next: r.next }),
      (err) => {
        setResult({ certificates: [], next: undefined });
        notify("error", err.message);
      },
    );
  }, [key]);

  const page = (to) => `#/inventory${qs({ ...filters, cursor: to || "" })}`;
  return html`
    <${PageTitle}>Inventory<//>
    <${Filters} key=${key} initial=${filters} profiles=${lists.profiles} cas=${lists.cas} />
    <section aria-labelledby="results-title">
      <h2 id="results-title">Certificates</h2>
      <p class="muted" aria-live="polite">${result ? countText(result.certificates.length, cursor, Boolean(result.next)) : ""}</p>
      ${result ? html`<${Results} certificates=${result.certificates} />` : html`<${Loading} what="Searching" />`}
      <nav class="pager" aria-label="Result pages">
        ${cursor ? html`<a href=${page("")}>First page</a>` : ""}
        ${result?.next ? html`<a href=${page(result.next)}>Next page</a>` : ""}
      </nav>
    </section>`;
}
