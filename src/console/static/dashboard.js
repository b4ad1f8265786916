// The expiry dashboard: what expires when, what was missed, and who owns it.
import { useEffect, useState } from "preact/hooks";
import { admin } from "./api.js";
import { BarChart } from "./chart.js";
import { certHref, fmtDate, fmtTime, html, Loading, PageTitle, Short } from "./ui.js";

const TOTALS = [
  ["valid", "Valid"],
  ["revoked", "Revoked"],
  ["expired", "Expired"],
  ["pendingApprovals", "Pending approvals"],
  ["renewalDue", "Renewal due"],
  ["renewalMissed", "Renewal missed"],
];

function Totals({ totals }) {
  return html`
    <dl class="totals">
      ${TOTALS.map(([k, label]) => html`
        <div key=${k} class=${`total total-${k}${totals[k] ? " nonzero" : ""}`}>
          <dt>${label}</dt>
          <dd id=${`total-${k}`}>${totals[k] ?? 0}</dd>
        </div>`)}
    </dl>`;
}

function CountTable({ id, caption, first, rows, name }) {
  if (!rows.length) return html`<h2 id=${id}>${caption}</h2><p class="muted">No valid certificates.</p>`;
  return html`
    <h2 id=${id}>${caption}</h2>
    <div class="table-wrap">
      <table aria-labelledby=${id}>
        <thead><tr><th scope="col">${first}</th><th scope="col">Valid</th><th scope="col">Expiring soon</th></tr></thead>
        <tbody>${rows.map((r) => html`
          <tr key=${name(r)}><th scope="row">${name(r) || html`<span class="muted">(no owner)</span>`}</th><td>${r.valid}</td><td>${r.expiringSoon}</td></tr>`)}
        </tbody>
      </table>
    </div>`;
}

function Missed({ list }) {
  if (!list.length) return html`<p>No missed renewals.</p>`;
  return html`
    <div class="table-wrap">
      <table aria-labelledby="d-missed">
        <thead><tr><th scope="col">Serial</th><th scope="col">Subject</th><th scope="col">Profile</th><th scope="col">Owner</th><th scope="col">Expired</th></tr></thead>
        <tbody>${list.map((c) => html`
          <tr key=${c.serial}>
            <th scope="row"><${Short} value=${c.serial} label="serial" href=${certHref(c.serial)} /></th>
            <td>${c.subject}</td><td>${c.profile}</td><td>${c.owner ?? ""}</td><td>${fmtDate(c.notAfter)}</td>
          </tr>`)}
        </tbody>
      </table>
    </div>`;
}

const weekLabel = (iso) => new Date(iso).toLocaleDateString("en-GB", { day: "2-digit", month: "short", timeZone: "UTC" });

export function DashboardPage({ params, notify }) {
  const weeks = Number(params.get("weeks") ?? 12) || 12;
  const [data, setData] = useState(undefined);
  useEffect(() => {
    setData(undefined);
    admin.get("/dashboard", { weeks }).then(setData, (err) => notify("error", err.message));
  }, [weeks]);

  return html`
    <${PageTitle}>Expiry dashboard<//>
    <form class="toolbar" onSubmit=${(e) => e.preventDefault()}>
      <div class="field">
        <label for="d-weeks">Weeks ahead</label>
        <select id="d-weeks" value=${String(weeks)} onChange=${(e) => (location.hash = `#/dashboard?weeks=${e.currentTarget.value}`)}>
          ${[4, 12, 26, 52].map((w) => html`<option key=${w} value=${String(w)}>${w}</option>`)}
        </select>
      </div>
      ${data ? html`<p class="muted grow">As of ${fmtTime(data.generatedAt)}</p>` : ""}
    </form>
    ${!data ? html`<${Loading} />` : html`
      <section aria-labelledby="d-totals"><h2 id="d-totals" class="visually-hidden">Totals</h2><${Totals} totals=${data.totals} /></section>
      <section class="card" aria-labelledby="d-chart">
        <h2 id="d-chart">Expiring per week</h2>
        <${BarChart} id="expiry-chart" title=${`Valid certificates expiring per week, next ${weeks} weeks`}
          data=${data.expiringByWeek.map((w) => ({ label: weekLabel(w.weekStart), title: `Week of ${fmtDate(w.weekStart)}`, value: w.count }))} />
      </section>
      <div class="grid2">
        <section class="card" aria-labelledby="d-profile">
          <${CountTable} id="d-profile" caption="By profile" first="Profile" rows=${data.byProfile} name=${(r) => r.profile} />
        </section>
        <section class="card" aria-labelledby="d-owner">
          <${CountTable} id="d-owner" caption="By owner" first="Owner" rows=${data.byOwner} name=${(r) => r.owner} />
        </section>
      </div>
      <section class="card" aria-labelledby="d-missed">
        <h2 id="d-missed">Missed renewals</h2>
        <p class="muted">Expired without a replacement. <a href="#/inventory?status=expired">All expired certificates</a></p>
        <${Missed} list=${data.missedRenewals} />
      </section>`}`;
}
