/**
 * PostgreSQL schema of the protocol tables (migration 2 of the PostgreSQL engine): ACME, CMP transactions, console
 * sessions, job leases, the event outbox and discovered certificates. Columns are SQLite's (sqlite/migrations.ts),
 * same names and meanings, so the shared row mappers (rows-acme.ts, rows-protocols.ts) read both: times are ISO
 * text compared as text, JSON lists are text, DER and keys bytea, flags integer 0/1, counters bigint (the pool
 * parses int8 to a JS number). Text is COLLATE "C": byte order as in SQLite whatever the database's locale, and
 * cheaper comparisons. Indexes are SQLite's, plus the one the outbox's per-sink head lookup needs.
 */
export const PROTOCOL_SCHEMA = `
CREATE TABLE acme_accounts (
  id text COLLATE "C" PRIMARY KEY,
  endpoint text COLLATE "C" NOT NULL,
  thumbprint text COLLATE "C" NOT NULL UNIQUE,
  jwk text COLLATE "C" NOT NULL,
  status text COLLATE "C" NOT NULL,
  contact text COLLATE "C" NOT NULL,
  eab_key_id text COLLATE "C",
  created_at text COLLATE "C" NOT NULL
);
CREATE TABLE acme_orders (
  id text COLLATE "C" PRIMARY KEY,
  account_id text COLLATE "C" NOT NULL REFERENCES acme_accounts(id),
  endpoint text COLLATE "C" NOT NULL,
  status text COLLATE "C" NOT NULL,
  identifiers text COLLATE "C" NOT NULL,
  authz_ids text COLLATE "C" NOT NULL,
  profile text COLLATE "C" NOT NULL,
  not_before text COLLATE "C",
  not_after text COLLATE "C",
  expires text COLLATE "C" NOT NULL,
  error text COLLATE "C",
  request_id text COLLATE "C",
  cert_serial text COLLATE "C",
  replaces text COLLATE "C",
  created_at text COLLATE "C" NOT NULL
);
-- id too: the account's order list pages on (created_at, id).
CREATE INDEX acme_orders_account ON acme_orders(account_id, created_at, id);
CREATE TABLE acme_authzs (
  id text COLLATE "C" PRIMARY KEY,
  account_id text COLLATE "C" NOT NULL REFERENCES acme_accounts(id),
  identifier_type text COLLATE "C" NOT NULL,
  identifier_value text COLLATE "C" NOT NULL,
  wildcard integer NOT NULL,
  status text COLLATE "C" NOT NULL,
  expires text COLLATE "C" NOT NULL,
  token text COLLATE "C" NOT NULL,
  challenges text COLLATE "C" NOT NULL,
  updated_at text COLLATE "C" NOT NULL
);
CREATE INDEX acme_authzs_reuse ON acme_authzs(account_id, identifier_type, identifier_value, status);
CREATE TABLE acme_eab_keys (
  id text COLLATE "C" PRIMARY KEY,
  hmac_key text COLLATE "C" NOT NULL,
  endpoint text COLLATE "C",
  profiles text COLLATE "C" NOT NULL,
  name_suffixes text COLLATE "C" NOT NULL,
  created_by text COLLATE "C" NOT NULL,
  created_at text COLLATE "C" NOT NULL,
  expires_at text COLLATE "C",
  account_id text COLLATE "C"
);
-- One row: the nonce MAC key every instance shares. A redeemed nonce is claimed by inserting it (the primary key
-- is the single-use check); expiry first, so purging expired ones is a range scan of the primary key.
CREATE TABLE acme_nonce_keys (id integer PRIMARY KEY, mac_key bytea NOT NULL, created_at text COLLATE "C" NOT NULL);
CREATE TABLE acme_used_nonces (expires_at bigint NOT NULL, nonce bytea NOT NULL, PRIMARY KEY (expires_at, nonce));

CREATE TABLE cmp_transactions (
  id text COLLATE "C" PRIMARY KEY,
  state text COLLATE "C" NOT NULL,
  remember_until text COLLATE "C" NOT NULL,
  label text COLLATE "C",
  last_nonce bytea,
  protection_kind text COLLATE "C",
  mac_kid text COLLATE "C",
  signer_cert bytea,
  cert_req_id text COLLATE "C",
  body_type text COLLATE "C",
  cert_der bytea,
  serial text COLLATE "C",
  request_id text COLLATE "C",
  expires_at text COLLATE "C"
);
CREATE INDEX cmp_transactions_open ON cmp_transactions(expires_at) WHERE state IN ('waitingConfirm', 'pending', 'settling');
CREATE INDEX cmp_transactions_remembered ON cmp_transactions(remember_until) WHERE state IN ('claimed', 'finished');

CREATE TABLE console_sessions (
  id_hash text COLLATE "C" PRIMARY KEY,
  admin_id text COLLATE "C" NOT NULL,
  admin_name text COLLATE "C" NOT NULL,
  created_at text COLLATE "C" NOT NULL,
  last_seen text COLLATE "C" NOT NULL,
  expires_at text COLLATE "C" NOT NULL
);
CREATE INDEX console_sessions_expires ON console_sessions(expires_at);
CREATE INDEX console_sessions_last_seen ON console_sessions(last_seen);

CREATE TABLE job_leases (
  name text COLLATE "C" PRIMARY KEY,
  owner text COLLATE "C" NOT NULL,
  until text COLLATE "C" NOT NULL,
  last_run text COLLATE "C"
);

CREATE TABLE event_outbox (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  sink text COLLATE "C" NOT NULL,
  audit_seq bigint NOT NULL,
  payload text COLLATE "C" NOT NULL,
  status text COLLATE "C" NOT NULL DEFAULT 'pending',
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at text COLLATE "C" NOT NULL,
  last_error text COLLATE "C",
  created_at text COLLATE "C" NOT NULL,
  delivered_at text COLLATE "C"
);
CREATE INDEX event_outbox_due ON event_outbox(status, next_attempt_at);
-- A sink's head (its oldest undelivered row) is one index probe: every dispatcher poll looks it up.
CREATE INDEX event_outbox_head ON event_outbox(sink, audit_seq, id) WHERE status IN ('pending', 'sending');

CREATE TABLE discovered_certificates (
  fingerprint text COLLATE "C" PRIMARY KEY,
  subject text COLLATE "C" NOT NULL,
  issuer text COLLATE "C" NOT NULL,
  serial text COLLATE "C" NOT NULL,
  not_before text COLLATE "C" NOT NULL,
  not_after text COLLATE "C" NOT NULL,
  key_algorithm text COLLATE "C" NOT NULL,
  key_size integer,
  signature_algorithm text COLLATE "C" NOT NULL,
  sans text COLLATE "C" NOT NULL,
  der bytea NOT NULL,
  locations text COLLATE "C" NOT NULL,
  managed_serial text COLLATE "C",
  first_seen text COLLATE "C" NOT NULL,
  last_seen text COLLATE "C" NOT NULL
);
CREATE INDEX discovered_not_after ON discovered_certificates(not_after);
`;
