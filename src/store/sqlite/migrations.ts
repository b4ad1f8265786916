/** Versioned schema migrations; index + 1 is the version stored in PRAGMA user_version. Append only. */
export const MIGRATIONS: string[] = [
  `
  CREATE TABLE certificates (
    serial TEXT PRIMARY KEY,
    ca_name TEXT NOT NULL,
    profile TEXT NOT NULL,
    protocol TEXT NOT NULL,
    request_id TEXT NOT NULL,
    requester_kind TEXT NOT NULL,
    requester_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    sans TEXT NOT NULL,
    not_before TEXT NOT NULL,
    not_after TEXT NOT NULL,
    key_algorithm TEXT NOT NULL,
    stage TEXT NOT NULL CHECK (stage IN ('intent','issued','failed')),
    stage_detail TEXT,
    tbs_sha256 TEXT NOT NULL,
    der BLOB,
    renewal_of TEXT,
    replaced_by TEXT,
    revoked_at TEXT,
    revocation_reason INTEGER,
    created_at TEXT NOT NULL
  );
  CREATE INDEX certificates_not_after ON certificates(not_after);
  CREATE INDEX certificates_profile ON certificates(profile);
  CREATE INDEX certificates_ca_revoked ON certificates(ca_name, revoked_at);

  CREATE TABLE requests (
    id TEXT PRIMARY KEY,
    protocol TEXT NOT NULL,
    requester_kind TEXT NOT NULL,
    requester_id TEXT NOT NULL,
    profile TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    error_code TEXT,
    payload TEXT NOT NULL,
    certificate_serial TEXT,
    decided_by TEXT,
    created_at TEXT NOT NULL,
    decided_at TEXT
  );
  CREATE INDEX requests_status ON requests(status);

  CREATE TABLE audit_events (
    seq INTEGER PRIMARY KEY,
    ts TEXT NOT NULL,
    type TEXT NOT NULL,
    actor TEXT NOT NULL,
    target TEXT,
    data TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
  );
  CREATE INDEX audit_type ON audit_events(type);
  CREATE INDEX audit_target ON audit_events(target);
  -- Append-only: the database refuses edits; tampering needs deliberate schema changes and is caught by the hash chain.
  CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit_events BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
  CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit_events BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;

  CREATE TABLE enrollment_secrets (
    id TEXT PRIMARY KEY,
    profile TEXT NOT NULL,
    subject TEXT,
    protocols TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT
  );

  CREATE TABLE admin_tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
  );

  CREATE TABLE crls (
    ca_name TEXT NOT NULL,
    number INTEGER NOT NULL,
    this_update TEXT NOT NULL,
    next_update TEXT NOT NULL,
    der BLOB NOT NULL,
    PRIMARY KEY (ca_name, number)
  );
  `,
  // 2: ACME front-end state (nonces are process-local, in the ACME store: see src/store/acme-sqlite.ts).
  `
  CREATE TABLE acme_accounts (
    id TEXT PRIMARY KEY,
    endpoint TEXT NOT NULL,
    thumbprint TEXT NOT NULL UNIQUE,
    jwk TEXT NOT NULL,
    status TEXT NOT NULL,
    contact TEXT NOT NULL,
    eab_key_id TEXT,
    created_at TEXT NOT NULL
  );
  CREATE TABLE acme_orders (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES acme_accounts(id),
    endpoint TEXT NOT NULL,
    status TEXT NOT NULL,
    identifiers TEXT NOT NULL,
    authz_ids TEXT NOT NULL,
    profile TEXT NOT NULL,
    not_before TEXT,
    not_after TEXT,
    expires TEXT NOT NULL,
    error TEXT,
    request_id TEXT,
    cert_serial TEXT,
    replaces TEXT,
    created_at TEXT NOT NULL
  );
  CREATE INDEX acme_orders_account ON acme_orders(account_id, created_at);
  CREATE TABLE acme_authzs (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES acme_accounts(id),
    identifier_type TEXT NOT NULL,
    identifier_value TEXT NOT NULL,
    wildcard INTEGER NOT NULL,
    status TEXT NOT NULL,
    expires TEXT NOT NULL,
    token TEXT NOT NULL,
    challenges TEXT NOT NULL,
    updated_at TEXT NOT NULL
  );
  CREATE INDEX acme_authzs_reuse ON acme_authzs(account_id, identifier_type, identifier_value, status);
  CREATE TABLE acme_eab_keys (
    id TEXT PRIMARY KEY,
    hmac_key TEXT NOT NULL,
    endpoint TEXT,
    profiles TEXT NOT NULL,
    name_suffixes TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT,
    account_id TEXT
  );
  `,
  // 3: a protocol's retry key (EST: identity + CSR; SCEP: transactionID) so a repeated request finds its first answer.
  `
  ALTER TABLE requests ADD COLUMN lookup_key TEXT;
  CREATE UNIQUE INDEX requests_lookup_key ON requests(lookup_key) WHERE lookup_key IS NOT NULL;
  `,
  // 4: SCEP challenges are the secret alone (no id), found by hash; dynamic challenges are recorded once used.
  `
  CREATE INDEX enrollment_secrets_hash ON enrollment_secrets(secret_hash);
  CREATE TABLE used_challenges (
    hash TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    used_at TEXT NOT NULL
  ) WITHOUT ROWID;
  `,
  // 5: CMP MACs need the secret itself: one-time secrets for CMP keep it sealed (AES-256-GCM) besides the hash.
  `
  ALTER TABLE enrollment_secrets ADD COLUMN secret_sealed TEXT;
  `,
  // 6: certificate lifecycle: classification, lifecycle notices raised once, the event outbox, discovered certificates.
  `
  ALTER TABLE certificates ADD COLUMN owner TEXT;
  ALTER TABLE certificates ADD COLUMN application TEXT;
  ALTER TABLE certificates ADD COLUMN environment TEXT;
  ALTER TABLE certificates ADD COLUMN criticality TEXT;
  CREATE INDEX certificates_owner ON certificates(owner);
  CREATE INDEX certificates_requester ON certificates(requester_kind, requester_id);
  CREATE TABLE lifecycle_notices (
    serial TEXT NOT NULL,
    kind TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (serial, kind)
  ) WITHOUT ROWID;
  CREATE TABLE event_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sink TEXT NOT NULL,
    audit_seq INTEGER NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error TEXT,
    created_at TEXT NOT NULL,
    delivered_at TEXT
  );
  CREATE INDEX event_outbox_due ON event_outbox(status, next_attempt_at);
  CREATE TABLE discovered_certificates (
    fingerprint TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    issuer TEXT NOT NULL,
    serial TEXT NOT NULL,
    not_before TEXT NOT NULL,
    not_after TEXT NOT NULL,
    key_algorithm TEXT NOT NULL,
    key_size INTEGER,
    signature_algorithm TEXT NOT NULL,
    sans TEXT NOT NULL,
    der BLOB NOT NULL,
    locations TEXT NOT NULL,
    managed_serial TEXT,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX discovered_not_after ON discovered_certificates(not_after);
  `,
  // 7: inventory at fleet scale (src/store/inventory-sqlite.ts): per-issuance lookups by index whatever the
  // inventory size, names indexed for device orders, and an archive for certificates long expired.
  // gw_names_key() is registered on the connection before migrating (the canonical key of a SAN list).
  `
  ALTER TABLE certificates ADD COLUMN names_key TEXT;
  UPDATE certificates SET names_key = gw_names_key(sans);
  CREATE INDEX certificates_implicit_renewal ON certificates(requester_kind, requester_id, profile, names_key, not_after)
    WHERE stage = 'issued' AND revoked_at IS NULL AND replaced_by IS NULL;
  CREATE INDEX certificates_unreplaced ON certificates(not_after, profile, owner)
    WHERE stage = 'issued' AND revoked_at IS NULL AND replaced_by IS NULL;
  CREATE TABLE certificate_names (
    value TEXT NOT NULL,
    kind TEXT NOT NULL,
    serial TEXT NOT NULL,
    PRIMARY KEY (value, kind, serial)
  ) WITHOUT ROWID;
  INSERT OR IGNORE INTO certificate_names (value, kind, serial)
    SELECT substr(j.value, instr(j.value, ':') + 1), substr(j.value, 1, instr(j.value, ':') - 1), c.serial FROM certificates c, json_each(c.sans) j;
  CREATE TRIGGER certificate_names_insert AFTER INSERT ON certificates BEGIN
    INSERT OR IGNORE INTO certificate_names (value, kind, serial)
      SELECT substr(value, instr(value, ':') + 1), substr(value, 1, instr(value, ':') - 1), NEW.serial FROM json_each(NEW.sans);
  END;
  CREATE TRIGGER certificate_names_delete AFTER DELETE ON certificates BEGIN
    DELETE FROM certificate_names WHERE serial = OLD.serial AND value IN (SELECT substr(value, instr(value, ':') + 1) FROM json_each(OLD.sans));
  END;
  CREATE TABLE certificates_archive (
    serial TEXT PRIMARY KEY,
    ca_name TEXT NOT NULL,
    profile TEXT NOT NULL,
    protocol TEXT NOT NULL,
    request_id TEXT NOT NULL,
    requester_kind TEXT NOT NULL,
    requester_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    sans TEXT NOT NULL,
    not_before TEXT NOT NULL,
    not_after TEXT NOT NULL,
    key_algorithm TEXT NOT NULL,
    stage TEXT NOT NULL,
    stage_detail TEXT,
    tbs_sha256 TEXT NOT NULL,
    der BLOB,
    renewal_of TEXT,
    replaced_by TEXT,
    revoked_at TEXT,
    revocation_reason INTEGER,
    created_at TEXT NOT NULL,
    owner TEXT,
    application TEXT,
    environment TEXT,
    criticality TEXT,
    names_key TEXT,
    archived_at TEXT NOT NULL
  );
  `,
  // CRLs at fleet scale (src/store/crl-sqlite.ts): a per-CA "rebuild pending" marker written with each revocation,
  // a build lease across instances, and a covering index so a CRL build reads revoked rows without the table.
  `
  CREATE TABLE crl_state (
    ca_name TEXT PRIMARY KEY,
    generation INTEGER NOT NULL DEFAULT 0,
    dirty_since TEXT,
    lease_owner TEXT,
    lease_until TEXT
  );
  CREATE INDEX certificates_crl ON certificates(ca_name, revoked_at, serial, revocation_reason) WHERE revoked_at IS NOT NULL;
  `,
  // 9: fewer index entries written per issuance. (ca_name, revoked_at) is covered for revoked rows by certificates_crl;
  // owner and request status are looked up by value only when set / pending, so their indexes hold just those rows.
  `
  DROP INDEX certificates_ca_revoked;
  DROP INDEX certificates_owner;
  CREATE INDEX certificates_owner ON certificates(owner) WHERE owner IS NOT NULL;
  DROP INDEX requests_status;
  CREATE INDEX requests_pending ON requests(created_at) WHERE status = 'pending';
  `,
  // 10: (issue 16) ACME nonces in the store. Nonces are MAC'd with one key all instances share (a single row, created
  // once with ON CONFLICT DO NOTHING); a redeemed nonce is claimed by inserting it, keyed by its expiry first so the
  // purge of expired ones is a range scan of the one B-tree.
  `
  CREATE TABLE acme_nonce_keys (id INTEGER PRIMARY KEY, mac_key BLOB NOT NULL, created_at TEXT NOT NULL);
  CREATE TABLE acme_used_nonces (expires_at INTEGER NOT NULL, nonce BLOB NOT NULL, PRIMARY KEY (expires_at, nonce)) WITHOUT ROWID;
  `,
  // 11: (issue 16) CMP transactions in the store
  `
  CREATE TABLE cmp_transactions (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    remember_until TEXT NOT NULL,
    label TEXT,
    last_nonce BLOB,
    protection_kind TEXT,
    mac_kid TEXT,
    signer_cert BLOB,
    cert_req_id TEXT,
    body_type TEXT,
    cert_der BLOB,
    serial TEXT,
    request_id TEXT,
    expires_at TEXT
  );
  CREATE INDEX cmp_transactions_open ON cmp_transactions(expires_at) WHERE state IN ('waitingConfirm', 'pending', 'settling');
  CREATE INDEX cmp_transactions_remembered ON cmp_transactions(remember_until) WHERE state IN ('claimed', 'finished');
  `,
  // 12: (issue 16) console sessions and job leases in the store.
  // Sessions are keyed by the SHA-256 of the cookie value (the token is never stored; the CSRF token is derived
  // from it); job_leases holds one row per job that must run on one instance at a time (src/store/lease-sqlite.ts).
  `
  CREATE TABLE console_sessions (
    id_hash TEXT PRIMARY KEY,
    admin_id TEXT NOT NULL,
    admin_name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    expires_at TEXT NOT NULL
  );
  CREATE INDEX console_sessions_expires ON console_sessions(expires_at);
  CREATE INDEX console_sessions_last_seen ON console_sessions(last_seen);
  CREATE TABLE job_leases (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    until TEXT NOT NULL
  );
  `,
  // 13: (issue 16) job leases renewed by a heartbeat: when the job last ran (ISO-8601 UTC; NULL: never), so a new
  // holder runs it on its own interval instead of at once, and kept across a release.
  `
  ALTER TABLE job_leases ADD COLUMN last_run TEXT;
  `,
  // 14: ACME finalize across instance deaths and exact order paging. finalize_started_at is when finalize claimed the
  // order: one unsettled long after is abandoned (protocols/acme/orders.ts). Orders already processing count from the
  // upgrade. The account's orders page by (created_at, id), so the index carries id for the row comparison.
  `
  ALTER TABLE acme_orders ADD COLUMN finalize_started_at TEXT;
  UPDATE acme_orders SET finalize_started_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE status = 'processing';
  DROP INDEX acme_orders_account;
  CREATE INDEX acme_orders_account ON acme_orders(account_id, created_at, id);
  `,
];
