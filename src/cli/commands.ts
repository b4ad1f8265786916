import type { CommandSpec } from "./args.js";

/*
 * Every command: its words, synopsis, options and checks. The handlers are imported when the command runs, so
 * `--help` and light commands never load the protocols, the ASN.1 stack or the PostgreSQL driver.
 */

const s = { type: "string" } as const;
const b = { type: "boolean" } as const;
const PAGING = { limit: s, all: b, cursor: s };
const CERT_STATUSES = ["valid", "revoked", "expired", "intent", "failed"] as const;
const REQUEST_STATUSES = ["pending", "approved", "rejected", "issued", "failed", "all"] as const;
// src/revocation/reasons.ts: names and their RFC 5280 codes (a code is accepted as well).
const REASONS = ["unspecified", "keyCompromise", "affiliationChanged", "superseded", "cessationOfOperation", "certificateHold", "privilegeWithdrawn", "0", "1", "3", "4", "5", "6", "9"] as const;
const PKCS11 = { pkcs11: b, module: s, token: s, "pin-file": s, "pin-env": s };

const admin = () => import("./admin-commands.js");
const lifecycle = () => import("./lifecycle-commands.js");

/** `ca init` key algorithms (src/ca/init.ts KEY_ALGORITHMS; listed here so that help loads no crypto code). */
const KEY_ALGS = ["ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096", "ml-dsa-44", "ml-dsa-65", "ml-dsa-87"];

export const COMMANDS: readonly CommandSpec[] = [
  {
    path: ["serve"], synopsis: "[--workers N|auto]", summary: "start the gateway (HTTPS 8443, HTTP 8080 by default)",
    details: [
      "checks the whole configuration first (as check-config) and creates nothing when it is refused (exit 2);",
      "says on stderr which data dir it uses, or that it creates a new PKI there; N worker processes share the listeners",
    ],
    options: { workers: s },
    run: async (i) => (await import("./serve.js")).serveCommand(i.config, i.source, i.opts.workers as string | undefined),
  },
  {
    path: ["check-config"], synopsis: "[--json]", summary: "validate the configuration, profiles and every file they name; exit 2 listing all problems",
    json: true,
    run: async (i) => (await import("./check-config.js")).checkConfigCommand(i),
  },
  {
    path: ["ca", "init"], synopsis: "[--key ALG] [--root-key ALG | --under ROOT] [--pss] [--root-name N] [--issuing-name N] [--pkcs11 --module PATH --token LABEL (--pin-file F | --pin-env VAR)]",
    summary: "create a root and an issuing CA, or an issuing CA under an existing root (software keys, or inside a PKCS#11 token)",
    details: [
      `--key ${KEY_ALGS.join("|")} (default devPki.keyAlgorithm); --root-subject DN, --issuing-subject DN`,
      "--root-key ALG: the new root's key when it differs (a mixed chain); --under ROOT: only the issuing CA, signed by that root",
    ],
    options: { key: s, "root-key": s, under: s, pss: b, "root-name": s, "issuing-name": s, "root-subject": s, "issuing-subject": s, ...PKCS11 },
    enums: { key: KEY_ALGS, "root-key": KEY_ALGS },
    run: async (i) => (await import("./ca-commands.js")).caInit(i),
  },
  {
    path: ["ca", "list"], synopsis: "[--json]", summary: "the CAs of the data dir and cas[] (no key is opened)", json: true,
    run: async (i) => (await import("./ca-commands.js")).caList(i),
  },
  {
    path: ["cert", "list"], synopsis: "[--status S] [--profile P] [--name TEXT] [--expiring-days N] [--owner O] [--limit N | --all] [--cursor C] [--json]",
    summary: "certificates, newest first; with rows left, stderr names the --cursor that continues",
    details: [`--status ${CERT_STATUSES.join("|")} (the admin API's status words)`],
    options: { status: s, profile: s, name: s, "expiring-days": s, owner: s, ...PAGING }, enums: { status: CERT_STATUSES }, ints: ["expiring-days"], json: true,
    run: async (i) => (await admin()).certList(i),
  },
  {
    path: ["cert", "show"], synopsis: "SERIAL [--pem | --json]", summary: "one certificate (also archived ones)", positionals: ["SERIAL"],
    options: { pem: b }, json: true,
    run: async (i) => (await admin()).certShow(i),
  },
  {
    path: ["cert", "issue"], synopsis: "--profile P --csr FILE [--out FILE]", summary: "issue from a CSR (PEM or DER); the chain goes to stdout or --out",
    options: { profile: s, csr: s, out: s }, required: { csr: "FILE" },
    run: async (i) => (await admin()).certIssue(i),
  },
  {
    path: ["cert", "revoke"], synopsis: "SERIAL [--reason R]", summary: "revoke (OCSP at once, the CRL within crl.rebuildDelaySeconds)", positionals: ["SERIAL"],
    details: [`--reason ${REASONS.filter((r) => !/^\d/.test(r)).join("|")} (or the RFC 5280 code)`],
    options: { reason: s }, enums: { reason: REASONS },
    run: async (i) => (await admin()).certRevoke(i),
  },
  {
    path: ["cert", "classify"], synopsis: "SERIAL [--owner O] [--application A] [--environment E] [--criticality low|medium|high|critical]",
    summary: "set a certificate's inventory classification", positionals: ["SERIAL"],
    options: { owner: s, application: s, environment: s, criticality: s }, enums: { criticality: ["low", "medium", "high", "critical"] },
    run: async (i) => (await lifecycle()).certClassify(i),
  },
  {
    path: ["approvals", "list"], synopsis: "[--status pending|approved|rejected|issued|failed|all] [--limit N | --all] [--cursor C] [--json]",
    summary: "enrollment requests (pending ones by default), oldest first",
    options: { status: s, ...PAGING }, enums: { status: REQUEST_STATUSES }, json: true,
    run: async (i) => (await admin()).approvalsList(i),
  },
  {
    path: ["approvals", "approve"], synopsis: "ID [--comment C]", summary: "approve a pending request: it is issued now", positionals: ["ID"],
    options: { comment: s },
    run: async (i) => (await admin()).approvalsDecide(i, true),
  },
  {
    path: ["approvals", "reject"], synopsis: "ID [--reason TEXT]", summary: "reject a pending request", positionals: ["ID"],
    options: { reason: s },
    run: async (i) => (await admin()).approvalsDecide(i, false),
  },
  {
    path: ["audit", "verify"], synopsis: "[--json]", summary: "check the audit hash chain (exit 3 when broken); records nothing", json: true,
    run: async (i) => (await admin()).auditVerify(i),
  },
  {
    path: ["audit", "list"], synopsis: "[--type T] [--target T] [--limit N | --all] [--cursor SEQ] [--json]", summary: "audit events, oldest first",
    options: { type: s, target: s, ...PAGING }, json: true,
    run: async (i) => (await admin()).auditList(i),
  },
  {
    path: ["audit", "export"], synopsis: "[--from ISO] [--to ISO] [--out FILE]", summary: "audit events of a period with their verification (recorded as audit.exported)",
    options: { from: s, to: s, out: s },
    run: async (i) => (await lifecycle()).auditExport(i),
  },
  {
    path: ["secret", "create"], synopsis: "--profile P [--subject S] [--protocols est,scep,cmp] [--ttl-minutes N]", summary: "mint a one-time enrollment secret (printed once)",
    options: { profile: s, subject: s, protocols: s, "ttl-minutes": s }, required: { profile: "P" },
    enums: { protocols: ["est", "scep", "cmp"] }, lists: ["protocols"], ints: ["ttl-minutes"],
    run: async (i) => (await admin()).secretCreate(i),
  },
  {
    path: ["acme", "eab", "create"], synopsis: "--profiles P[,P] [--suffixes example.com,...] [--endpoint NAME] [--ttl-hours N]",
    summary: "mint an ACME external account binding key (MAC key printed once)",
    options: { profiles: s, suffixes: s, endpoint: s, "ttl-hours": s }, required: { profiles: "P[,P]" }, ints: ["ttl-hours"],
    run: async (i) => (await admin()).eabCreate(i),
  },
  {
    path: ["acme", "eab", "list"], synopsis: "[--json]", summary: "ACME EAB keys (never their MAC keys)", json: true,
    run: async (i) => (await admin()).eabList(i),
  },
  {
    path: ["token", "create"], synopsis: "--name NAME", summary: "mint another admin API token (printed once)",
    options: { name: s }, required: { name: "NAME" },
    run: async (i) => (await admin()).tokenCreate(i),
  },
  {
    path: ["lifecycle", "renewals"], synopsis: "[--missed] [--profile P] [--owner O] [--json]", summary: "certificates due for renewal (or expired unreplaced)",
    options: { missed: b, profile: s, owner: s }, json: true,
    run: async (i) => (await lifecycle()).lifecycleRenewals(i),
  },
  {
    path: ["lifecycle", "scan"], synopsis: "", summary: "announce renewals due and missed now (audit events, notifications)",
    run: async (i) => (await lifecycle()).lifecycleScan(i),
  },
  {
    path: ["lifecycle", "archive"], synopsis: "", summary: "archive certificates expired longer than retention.archiveExpiredAfterDays now",
    run: async (i) => (await lifecycle()).lifecycleArchive(i),
  },
  {
    path: ["enforce"], synopsis: "(--identity KIND:ID | --device NAME) [--hold | --release] [--reason R] [--comment C]",
    summary: "revoke (or hold, or release) every valid certificate of an identity or device",
    options: { identity: s, device: s, hold: b, release: b, reason: s, comment: s }, enums: { reason: REASONS },
    run: async (i) => (await lifecycle()).enforceCommand(i),
  },
  {
    path: ["backup"], synopsis: "--to FILE [--force]", summary: "online, consistent copy of the database (PostgreSQL: a pg_dump custom-format file)",
    details: ["not the key material: back the data dir's cas/ and secrets up separately (see README)"],
    options: { to: s, force: b }, required: { to: "FILE" },
    run: async (i) => (await import("./backup.js")).backupCommand(i.config, "backup", i.argv),
  },
  {
    path: ["restore"], synopsis: "--from FILE [--keep-unused-secrets]", summary: "replace the database with a backup (stop the gateways first)",
    details: ["unused one-time enrollment secrets and EAB keys in it are expired unless --keep-unused-secrets"],
    options: { from: s, "keep-unused-secrets": b }, required: { from: "FILE" },
    run: async (i) => (await import("./backup.js")).backupCommand(i.config, "restore", i.argv),
  },
  {
    path: ["db", "status"], synopsis: "[--json]", summary: "schema version and the newest this gateway knows; PostgreSQL: buffer cache and huge pages vs. data size", json: true,
    run: async (i) => (await import("./db-commands.js")).dbCommand(i.config, ["status"], i.argv),
  },
  {
    path: ["db", "migrate"], synopsis: "", summary: "apply missing migrations (serve does it at start, under a lock)",
    run: async (i) => (await import("./db-commands.js")).dbCommand(i.config, ["migrate"], i.argv),
  },
  {
    path: ["db", "after-restore"], synopsis: "[--keep-unused-secrets]", summary: "after restoring by other means (PITR, snapshot): verify the chain, clear what must not come back",
    options: { "keep-unused-secrets": b },
    run: async (i) => (await import("./db-commands.js")).dbCommand(i.config, ["after-restore"], i.argv),
  },
  {
    path: ["discover"], synopsis: "[--target host:port ...] [--targets-file FILE] [--path FILE_OR_DIR ...] [--timeout-ms N] [--warn-days N] [--json]",
    summary: "record TLS endpoints' chains and certificate files as unmanaged inventory; list expiring or weak ones",
    options: { target: { type: "string", multiple: true }, "targets-file": s, path: { type: "string", multiple: true }, "timeout-ms": s, "warn-days": s },
    ints: ["timeout-ms", "warn-days"], json: true,
    run: async (i) => (await import("./report-commands.js")).discoverCommand(i),
  },
  {
    path: ["report", "crypto"], synopsis: "[--format json|csv] [--out FILE]", summary: "crypto inventory per issuer and profile, and what to move to post-quantum first",
    options: { format: s, out: s }, enums: { format: ["json", "csv"] },
    run: async (i) => (await import("./report-commands.js")).reportCrypto(i),
  },
  {
    path: ["scep", "ra-init"], synopsis: "[--endpoint NAME] --token LABEL (--pin-file F | --pin-env VAR) [--module PATH] [--label L]",
    summary: "make a SCEP RA key inside a PKCS#11 token and its certificate",
    options: { endpoint: s, module: s, token: s, label: s, "pin-file": s, "pin-env": s },
    run: async (i) => (await import("./scep-commands.js")).scepRaInit(i),
  },
];

/** The longest command whose words start `words`. */
export function findCommand(words: readonly string[]): CommandSpec | undefined {
  let best: CommandSpec | undefined;
  for (const c of COMMANDS) {
    if (c.path.every((w, k) => words[k] === w) && (!best || c.path.length > best.path.length)) best = c;
  }
  return best;
}

/** The commands under a group word (or words): `cert` → cert list, cert show, … */
export function commandsUnder(words: readonly string[]): CommandSpec[] {
  return COMMANDS.filter((c) => c.path.length > words.length && words.every((w, k) => c.path[k] === w));
}
