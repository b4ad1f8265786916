// The console shell: session restore and login, hash routing, navigation and the status messages.
import { render } from "preact";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { onSessionLost, session as sessionApi, setSession } from "./api.js";
import { ApprovalsPage } from "./approvals.js";
import { AuditPage } from "./audit.js";
import { CertificatePage } from "./certificate.js";
import { DashboardPage } from "./dashboard.js";
import { InventoryPage } from "./inventory.js";
import { SecretsPage } from "./secrets.js";
import { html, Loading } from "./ui.js";

const NAV = [
  ["/inventory", "Inventory"],
  ["/approvals", "Approvals"],
  ["/dashboard", "Expiry dashboard"],
  ["/audit", "Audit trail"],
  ["/secrets", "Enrollment secrets"],
];

/** "#/certificates/ab12?x=1" → { path: "/certificates/ab12", parts: ["certificates", "ab12"], params } */
function parseHash() {
  const raw = decodeURI(location.hash.replace(/^#/, "")) || "/inventory";
  const [path, query = ""] = raw.split("?");
  return { path, parts: path.split("/").filter(Boolean), params: new URLSearchParams(query), key: raw };
}

function Page({ route, notify }) {
  const [first, second] = route.parts;
  const props = { params: route.params, notify };
  switch (first) {
    case "inventory": return html`<${InventoryPage} ...${props} />`;
    case "certificates": return html`<${CertificatePage} key=${second} serial=${decodeURIComponent(second ?? "")} ...${props} />`;
    case "approvals": return html`<${ApprovalsPage} ...${props} />`;
    case "dashboard": return html`<${DashboardPage} ...${props} />`;
    case "audit": return html`<${AuditPage} ...${props} />`;
    case "secrets": return html`<${SecretsPage} ...${props} />`;
    default: return html`<h1 tabindex="-1">Not found</h1><p>No page at <code>${route.path}</code>. <a href="#/inventory">Go to the inventory</a>.</p>`;
  }
}

/** Both live regions are always in the DOM, so assistive technology announces every change. */
function StatusRegions({ status, onDismiss }) {
  return html`
    <div class=${`status-regions${status ? ` is-${status.kind}` : ""}`}>
      <p class="status status-ok" role="status" aria-live="polite">${status?.kind === "ok" ? status.text : ""}</p>
      <p class="status status-error" role="alert">${status?.kind === "error" ? status.text : ""}</p>
      ${status ? html`<button type="button" class="secondary dismiss" onClick=${onDismiss}>Dismiss</button>` : ""}
    </div>`;
}

function Login({ onLogin, notify }) {
  const [token, setToken] = useState("");
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    try {
      const s = await sessionApi.login(token.trim());
      setToken("");
      onLogin(s);
    } catch (err) {
      notify("error", err.status === 401 ? "That token was not accepted." : err.message);
    } finally {
      setBusy(false);
    }
  };
  return html`
    <main id="main" class="login" tabindex="-1">
      <h1>Enrollment Gateway console</h1>
      <form onSubmit=${submit} class="card">
        <label for="login-token">Admin token</label>
        <input id="login-token" name="token" type="password" autocomplete="current-password" required
          value=${token} onInput=${(e) => setToken(e.currentTarget.value)} aria-describedby="login-hint" />
        <p id="login-hint" class="hint">The token in <code>data/admin-token</code>, or one made with <code>gateway token create</code>. It is exchanged for a session cookie and not kept by the browser.</p>
        <button type="submit" disabled=${busy}>${busy ? "Signing in…" : "Sign in"}</button>
      </form>
    </main>`;
}

/**
 * Who is signed in: sessions carry the admin token's name, and "bootstrap" alone would puzzle anyone who did
 * not read gateway.ts, so say what it is and why one token per person is better.
 */
function SignedIn({ name }) {
  const first = name === "bootstrap";
  const ref = useRef(null);
  // A popover should go away like one: on Escape (focus back on its "?") and on a click elsewhere.
  useEffect(() => {
    const close = (e) => {
      const d = ref.current;
      if (!d?.open) return;
      if (e.type === "keydown" && e.key === "Escape") {
        d.open = false;
        d.querySelector("summary")?.focus();
      } else if (e.type === "click" && !d.contains(e.target)) d.open = false;
    };
    addEventListener("keydown", close);
    addEventListener("click", close);
    return () => {
      removeEventListener("keydown", close);
      removeEventListener("click", close);
    };
  }, []);
  return html`
    <div class="user">
      <span id="signed-in">Signed in with admin token <strong>“${name}”</strong>${first ? html` <span class="what">(the token created at first start)</span>` : ""}</span>
      <details class="help" ref=${ref}>
        <summary title="About this token" aria-describedby="signed-in"><span aria-hidden="true">?</span><span class="visually-hidden">About this token</span></summary>
        <div class="help-body" id="signed-in-help">
          ${first
            ? html`<p><strong>bootstrap</strong> is the admin token the gateway made at its first start and keeps in <code>admin-token</code> in its data directory.</p>
              <p>Give each operator a token of their own (<code>gateway token create --name alice</code>): the audit trail then names who did what.</p>`
            : html`<p><strong>${name}</strong> is the name of the admin token you signed in with: made with <code>gateway token create --name ${name}</code> or listed under <code>admin.tokens</code> in the configuration.</p>`}
          <p>Your actions are recorded in the audit trail as <code>admin:${name}</code>.</p>
        </div>
      </details>
    </div>`;
}

function Shell({ user, route, notify, onLogout }) {
  const section = `/${route.parts[0] === "certificates" ? "inventory" : route.parts[0] ?? ""}`;
  const skip = (e) => {
    // A plain #main link would be taken for a route.
    e.preventDefault();
    document.getElementById("main")?.focus();
  };
  return html`
    <a class="skip" href="#main" onClick=${skip}>Skip to content</a>
    <header class="top">
      <span class="brand">Enrollment Gateway</span>
      <nav aria-label="Console">
        <ul>${NAV.map(([path, label]) => html`<li key=${path}><a href=${`#${path}`} aria-current=${section === path ? "page" : undefined}>${label}</a></li>`)}</ul>
      </nav>
      <${SignedIn} name=${user.name} />
      <button type="button" class="secondary" onClick=${onLogout}>Log out</button>
    </header>
    <main id="main" tabindex="-1">
      <${Page} key=${route.path} route=${route} notify=${notify} />
    </main>`;
}

function App() {
  const [user, setUser] = useState(undefined); // undefined: asking the gateway; null: signed out
  const [route, setRoute] = useState(parseHash);
  const [status, setStatus] = useState(null);
  const lastPath = useRef(route.path);

  const notify = useCallback((kind, text) => setStatus({ kind, text, at: Date.now() }), []);

  useEffect(() => {
    const onHash = () => setRoute(parseHash());
    addEventListener("hashchange", onHash);
    onSessionLost(() => {
      setSession(null);
      setUser(null);
      notify("error", "Your session has ended. Sign in again.");
    });
    // Restores the session after a reload; 401 just means "show the login".
    sessionApi.current().then((s) => {
      setSession(s);
      setUser(s);
    }, () => setUser(null));
    return () => removeEventListener("hashchange", onHash);
  }, []);

  // A new page: clear the old page's messages and put focus on its heading.
  useEffect(() => {
    if (lastPath.current === route.path) return;
    lastPath.current = route.path;
    setStatus(null);
    document.querySelector("main h1")?.focus();
  }, [route.path]);

  const onLogin = (s) => {
    setSession(s);
    setUser(s);
    notify("ok", `Signed in with admin token “${s.name}”.`);
  };
  const onLogout = async () => {
    try {
      await sessionApi.logout();
    } catch (err) {
      if (err.status !== 401) return notify("error", err.message);
    }
    setSession(null);
    setUser(null);
    notify("ok", "Signed out.");
  };

  let body;
  if (user === undefined) body = html`<main id="main" tabindex="-1"><${Loading} what="Checking the session" /></main>`;
  else if (user === null) body = html`<${Login} onLogin=${onLogin} notify=${notify} />`;
  else body = html`<${Shell} user=${user} route=${route} notify=${notify} onLogout=${onLogout} />`;
  // The messages come first in the document so the bar can stick to the top of the viewport.
  return html`<${StatusRegions} status=${status} onDismiss=${() => setStatus(null)} />${body}`;
}

const root = document.getElementById("app");
root.textContent = ""; // the "Loading" placeholder of index.html
render(html`<${App} />`, root);
