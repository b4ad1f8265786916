// Minting one-time enrollment secrets (SCEP/EST/CMP) and ACME EAB keys. The gateway keeps only
// hashes (or a sealed copy for CMP), so a minted value lives in this page's memory until it is
// dismissed or the page is left: shown once, by design.
import { useEffect, useRef, useState } from "preact/hooks";
import { admin } from "./api.js";
import { CopyButton, Facts, fmtTime, html, PageTitle } from "./ui.js";

const SECRET_PROTOCOLS = ["est", "scep", "cmp"];

/** The one-time answer; focus moves to it so keyboard and screen-reader users find it at once. */
function Once({ id, title, rows, hint, onDismiss }) {
  const ref = useRef(null);
  useEffect(() => ref.current?.focus(), []);
  return html`
    <div class="card once" role="region" aria-labelledby=${id}>
      <h3 id=${id} tabindex="-1" ref=${ref}>${title}</h3>
      <p class="warning">Copy it now: it is shown only once and cannot be retrieved later.</p>
      <${Facts} rows=${rows} />
      ${hint ? html`<pre class="hint-cmd">${hint}</pre>` : ""}
      <button type="button" class="secondary" onClick=${onDismiss}>I have copied it (hide)</button>
    </div>`;
}

/** `refused` options are shown muted, with a tooltip saying what ticking them does (`refusedTip`). */
function Checkboxes({ legend, name, options, value, onChange, describedBy, refused = [], refusedTip, children }) {
  const toggle = (o) => onChange(value.includes(o) ? value.filter((x) => x !== o) : [...value, o]);
  return html`
    <fieldset class="checks" aria-describedby=${describedBy}>
      <legend>${legend}</legend>
      ${options.length ? "" : html`<p class="muted">None available.</p>`}
      ${options.map((o) => html`
        <label key=${o} class=${`check${refused.includes(o) ? " refused" : ""}`} title=${refused.includes(o) ? refusedTip?.(o) : undefined}>
          <input type="checkbox" name=${name} value=${o} checked=${value.includes(o)} onChange=${() => toggle(o)} /> ${o}</label>`)}
      ${children}
    </fieldset>`;
}

/** The secret protocols `p` allows. */
const allows = (p) => SECRET_PROTOCOLS.filter((x) => p?.protocols?.includes(x));

/**
 * The profile for `wanted` protocols: the first that allows them all, else the one allowing most of them
 * (the first `preferred` wins ties, so a change of ticks keeps the chosen profile when it still fits).
 */
function profileFor(usable, wanted, preferred) {
  const score = (p) => wanted.filter((x) => allows(p).includes(x)).length;
  const ranked = [...usable].sort((a, b) => score(b) - score(a) || (b.name === preferred) - (a.name === preferred));
  return ranked[0];
}

/**
 * The profile and the ticked protocols move together, so the form never sends a protocol its profile refuses:
 * choosing a profile unticks what it refuses (and ticks all it allows when nothing would be left); ticking a
 * protocol the profile refuses moves to a profile that allows every ticked one.
 */
function SecretForm({ profiles, notify }) {
  const usable = profiles.filter((p) => allows(p).length);
  const offered = SECRET_PROTOCOLS.filter((x) => usable.some((p) => allows(p).includes(x)));
  // Until the operator chooses, the form follows the default: every protocol some profile offers, on the best profile.
  const [choice, setChoice] = useState(undefined);
  const [f, setF] = useState({ subject: "", ttlMinutes: "60" });
  const [minted, setMinted] = useState(undefined);
  const fallback = profileFor(usable, offered);
  const current = choice ?? { profile: fallback?.name ?? "", protocols: offered.filter((x) => allows(fallback).includes(x)) };
  const profile = usable.find((p) => p.name === current.profile);

  const chooseProfile = (name) => {
    const p = usable.find((x) => x.name === name);
    const kept = current.protocols.filter((x) => allows(p).includes(x));
    setChoice({ profile: name, protocols: kept.length ? kept : allows(p) });
  };
  const chooseProtocols = (protocols) => {
    if (protocols.every((x) => allows(profile).includes(x))) return setChoice({ profile: current.profile, protocols });
    const p = profileFor(usable, protocols, current.profile);
    const kept = protocols.filter((x) => allows(p).includes(x));
    setChoice({ profile: p.name, protocols: kept });
    notify("ok", `Profile ${current.profile} does not allow ${protocols.filter((x) => !allows(profile).includes(x)).join(", ")}: switched to profile ${p.name} (${allows(p).join(", ")}).`);
  };

  const submit = async (e) => {
    e.preventDefault();
    if (!current.protocols.length) return notify("error", "Choose at least one protocol.");
    try {
      const body = { profile: current.profile, protocols: current.protocols, ttlMinutes: Number(f.ttlMinutes) || 60, ...(f.subject.trim() ? { subject: f.subject.trim() } : {}) };
      setMinted(await admin.post("/enrollment-secrets", body));
      notify("ok", `One-time secret minted for profile ${current.profile}.`);
    } catch (err) {
      notify("error", err.message);
    }
  };
  return html`
    <section class="card" aria-labelledby="s-secret">
      <h2 id="s-secret">One-time enrollment secret (EST, SCEP, CMP)</h2>
      <form onSubmit=${submit} class="stack">
        <div class="field">
          <label for="sec-profile">Profile</label>
          <select id="sec-profile" value=${current.profile} onChange=${(e) => chooseProfile(e.currentTarget.value)}>
            ${usable.map((p) => html`<option key=${p.name} value=${p.name}>${p.name} (${allows(p).join(", ")})</option>`)}
          </select>
        </div>
        <div class="field">
          <label for="sec-subject">Bound to name (optional)</label>
          <input id="sec-subject" type="text" value=${f.subject} placeholder="router7.example.com" aria-describedby="sec-subject-hint"
            onInput=${(e) => setF({ ...f, subject: e.currentTarget.value })} />
          <p id="sec-subject-hint" class="hint">When set, the request must carry this name.</p>
        </div>
        <${Checkboxes} legend="Protocols" name="sec-protocols" options=${offered} value=${current.protocols} onChange=${chooseProtocols} describedBy="sec-protocols-hint"
          refused=${offered.filter((x) => !allows(profile).includes(x))} refusedTip=${(x) => `Profile ${current.profile} does not allow ${x}: ticking it switches to a profile that does.`}>
          <p id="sec-protocols-hint" class="hint">${profile
            ? `Profile ${profile.name} allows ${allows(profile).join(", ")}${allows(profile).length < offered.length ? "; ticking another protocol switches to a profile that allows it" : ""}.`
            : ""}</p>
        <//>
        <div class="field">
          <label for="sec-ttl">Valid for (minutes)</label>
          <input id="sec-ttl" type="number" min="1" max="10080" value=${f.ttlMinutes} onInput=${(e) => setF({ ...f, ttlMinutes: e.currentTarget.value })} />
        </div>
        <div class="actions"><button type="submit" disabled=${!profile}>Mint secret</button></div>
      </form>
      ${minted ? html`<${Once} key=${minted.id} id="sec-once" title="New enrollment secret" onDismiss=${() => setMinted(undefined)}
        rows=${[
          ["ID", html`<code id="secret-id">${minted.id}</code> <${CopyButton} value=${minted.id} label="secret id" />`],
          ["Secret", html`<code id="secret-value" class="break">${minted.secret}</code> <${CopyButton} value=${minted.secret} label="secret" />`],
          ["Profile", minted.profile], ["Bound to", minted.subject], ["Protocols", minted.protocols?.join(", ")], ["Expires", fmtTime(minted.expiresAt)],
        ]}
        hint=${[
          minted.protocols?.includes("est") ? `EST:  curl -u '${minted.id}:<secret>' …/.well-known/est/simpleenroll` : "",
          minted.protocols?.includes("scep") ? "SCEP: the secret is the CSR's challengePassword" : "",
          minted.protocols?.includes("cmp") ? `CMP:  openssl cmp -ref ${minted.id} -secret pass:<secret> …` : "",
        ].filter(Boolean).join("\n")} />` : ""}
    </section>`;
}

function EabForm({ profiles, notify }) {
  const usable = profiles.filter((p) => p.protocols?.includes("acme")).map((p) => p.name);
  const [f, setF] = useState({ profiles: [], suffixes: "", endpoint: "", ttlHours: "" });
  const [minted, setMinted] = useState(undefined);
  const submit = async (e) => {
    e.preventDefault();
    if (!f.profiles.length) return notify("error", "Choose at least one profile for the EAB key.");
    try {
      const nameSuffixes = f.suffixes.split(/[\s,]+/).filter(Boolean);
      const body = {
        profiles: f.profiles, ...(nameSuffixes.length ? { nameSuffixes } : {}), ...(f.endpoint.trim() ? { endpoint: f.endpoint.trim() } : {}),
        ...(f.ttlHours ? { ttlHours: Number(f.ttlHours) } : {}),
      };
      setMinted(await admin.post("/acme/eab-keys", body));
      notify("ok", `ACME EAB key minted for ${f.profiles.join(", ")}.`);
    } catch (err) {
      notify("error", err.message);
    }
  };
  return html`
    <section class="card" aria-labelledby="s-eab">
      <h2 id="s-eab">ACME external account binding key</h2>
      <form onSubmit=${submit} class="stack">
        <${Checkboxes} legend="Profiles" name="eab-profiles" options=${usable} value=${f.profiles} onChange=${(v) => setF({ ...f, profiles: v })} />
        <div class="field">
          <label for="eab-suffixes">DNS name suffixes (optional, comma-separated)</label>
          <input id="eab-suffixes" type="text" value=${f.suffixes} placeholder="example.com" onInput=${(e) => setF({ ...f, suffixes: e.currentTarget.value })} />
        </div>
        <div class="field">
          <label for="eab-endpoint">ACME endpoint (optional)</label>
          <input id="eab-endpoint" type="text" value=${f.endpoint} placeholder="default" onInput=${(e) => setF({ ...f, endpoint: e.currentTarget.value })} />
        </div>
        <div class="field">
          <label for="eab-ttl">Valid for (hours, optional)</label>
          <input id="eab-ttl" type="number" min="1" value=${f.ttlHours} onInput=${(e) => setF({ ...f, ttlHours: e.currentTarget.value })} />
        </div>
        <div class="actions"><button type="submit">Mint EAB key</button></div>
      </form>
      ${minted ? html`<${Once} key=${minted.kid} id="eab-once" title="New EAB key" onDismiss=${() => setMinted(undefined)}
        rows=${[
          ["Key ID (kid)", html`<code id="eab-kid">${minted.kid}</code> <${CopyButton} value=${minted.kid} label="key id" />`],
          ["HMAC key", html`<code id="eab-hmac" class="break">${minted.hmacKey}</code> <${CopyButton} value=${minted.hmacKey} label="HMAC key" />`],
          ["Profiles", minted.profiles?.join(", ")], ["Name suffixes", minted.nameSuffixes?.join(", ")], ["Endpoint", minted.endpoint],
          ["Expires", fmtTime(minted.expiresAt)],
        ]}
        hint=${`certbot register --eab-kid ${minted.kid} --eab-hmac-key <HMAC key> --server https://<gateway>:8443/acme/directory`} />` : ""}
    </section>`;
}

export function SecretsPage({ notify }) {
  const [profiles, setProfiles] = useState([]);
  useEffect(() => {
    admin.get("/profiles").then((r) => setProfiles(r.profiles), (err) => notify("error", err.message));
  }, []);
  return html`
    <${PageTitle}>Enrollment secrets<//>
    <p class="muted">Secrets authenticate one enrollment for one profile and are used up by it. Leaving this page forgets them.</p>
    <div class="grid2">
      <${SecretForm} profiles=${profiles} notify=${notify} />
      <${EabForm} profiles=${profiles} notify=${notify} />
    </div>`;
}
