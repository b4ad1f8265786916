// The pending-approval queue. A decision here is what the waiting client's next poll (EST 202,
// SCEP PENDING, CMP pollReq, ACME processing) picks up.
import { useEffect, useState } from "preact/hooks";
import { admin } from "./api.js";
import { certHref, Facts, fmtTime, html, Loading, Names, PageTitle, Short } from "./ui.js";

function Request({ a, onDecided, notify }) {
  const [comment, setComment] = useState("");
  const [busy, setBusy] = useState(false);
  const s = a.summary ?? {};
  const id = `c-${a.id}`;
  const title = s.subject || s.names?.[0] || a.id;

  const decide = async (action) => {
    if (action === "reject" && !comment.trim()) {
      notify("error", "Give a reason to reject the request (the client is told).");
      document.getElementById(id)?.focus();
      return;
    }
    setBusy(true);
    try {
      const enc = encodeURIComponent(a.id);
      if (action === "approve") {
        const r = await admin.post(`/approvals/${enc}/approve`, comment.trim() ? { comment: comment.trim() } : {});
        onDecided(`Approved ${title}: certificate ${r.serial} issued. The client receives it on its next poll.`, r.serial);
      } else {
        await admin.post(`/approvals/${enc}/reject`, { reason: comment.trim() });
        onDecided(`Rejected ${title}.`);
      }
    } catch (err) {
      notify("error", err.message);
      setBusy(false);
    }
  };

  return html`
    <article class="card request" aria-labelledby=${`t-${a.id}`}>
      <h2 id=${`t-${a.id}`}>${title}</h2>
      <${Facts} rows=${[
        ["Identity", html`<code>${a.requesterKind}:${a.requesterId}</code>`],
        ["Protocol", a.protocol],
        ["Profile", a.profile],
        ["Subject", s.subject],
        ["Names", html`<${Names} names=${s.names} />`],
        ["Key", s.key],
        ["Received", fmtTime(a.createdAt)],
        ["Why it waits", a.reason],
        ["Request", html`<${Short} value=${a.id} label="request id" />`],
      ]} />
      <form class="decision" onSubmit=${(e) => (e.preventDefault(), decide("approve"))}>
        <div class="field grow">
          <label for=${id}>Comment (required to reject: it is the reason the client gets)</label>
          <input id=${id} type="text" value=${comment} onInput=${(e) => setComment(e.currentTarget.value)} maxlength="500" />
        </div>
        <div class="actions">
          <button type="submit" disabled=${busy}>Approve</button>
          <button type="button" class="danger" disabled=${busy} onClick=${() => decide("reject")}>Reject</button>
        </div>
      </form>
    </article>`;
}

export function ApprovalsPage({ notify }) {
  const [list, setList] = useState(undefined);
  const [issued, setIssued] = useState(undefined);
  const load = () =>
    admin.get("/approvals", { status: "pending" }).then(
      (r) => setList(r.approvals),
      (err) => {
        setList([]);
        notify("error", err.message);
      },
    );
  useEffect(() => {
    load();
  }, []);
  const decided = (text, serial) => {
    notify("ok", text);
    setIssued(serial);
    load();
    // The decided card is gone; keep focus somewhere sensible.
    document.querySelector("main h1")?.focus();
  };

  return html`
    <${PageTitle}>Approvals<//>
    <div class="toolbar">
      <p class="muted grow">Requests for profiles with <code>approval: true</code> wait here, oldest first.</p>
      <button type="button" class="secondary" onClick=${() => (setList(undefined), load())}>Refresh</button>
    </div>
    ${issued ? html`<p>Last issued: <${Short} value=${issued} label="serial" href=${certHref(issued)} /></p>` : ""}
    ${list === undefined ? html`<${Loading} />`
      : list.length === 0 ? html`<p>No request is waiting for approval.</p>`
      : html`<p aria-live="polite">${list.length} pending</p>${list.map((a) => html`<${Request} key=${a.id} a=${a} onDecided=${decided} notify=${notify} />`)}`}`;
}
