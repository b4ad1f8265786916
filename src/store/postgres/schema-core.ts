/**
 * The PostgreSQL engine's core tables: the same columns, meanings and indexes as SQLite's (sqlite/migrations.ts,
 * versions 1-9 folded into one), so the row mappers in rows.ts read both. Times are ISO text compared as text,
 * JSON is text, DER is bytea. Where SQLite walks by rowid, a `row_id` identity column (never updated, never
 * reused) carries the keyset listings, and the filter indexes end in row_id so an equality filter keeps its order.
 * Text columns are COLLATE "C": byte order, as SQLite compares, whatever the database's locale (ISO times and hex
 * serials order the same, and the B-trees skip locale-aware comparison).
 */
export const CORE_SCHEMA = `
CREATE TABLE certificates (
  serial text COLLATE "C" PRIMARY KEY,
  row_id bigint GENERATED ALWAYS AS IDENTITY,
  ca_name text COLLATE "C" NOT NULL,
  profile text COLLATE "C" NOT NULL,
  protocol text COLLATE "C" NOT NULL,
  request_id text COLLATE "C" NOT NULL,
  requester_kind text COLLATE "C" NOT NULL,
  requester_id text COLLATE "C" NOT NULL,
  subject text COLLATE "C" NOT NULL,
  sans text COLLATE "C" NOT NULL,
  not_before text COLLATE "C" NOT NULL,
  not_after text COLLATE "C" NOT NULL,
  key_algorithm text COLLATE "C" NOT NULL,
  stage text COLLATE "C" NOT NULL CHECK (stage IN ('intent','issued','failed')),
  stage_detail text COLLATE "C",
  tbs_sha256 text COLLATE "C" NOT NULL,
  der bytea,
  renewal_of text COLLATE "C",
  replaced_by text COLLATE "C",
  revoked_at text COLLATE "C",
  revocation_reason integer,
  created_at text COLLATE "C" NOT NULL,
  owner text COLLATE "C",
  application text COLLATE "C",
  environment text COLLATE "C",
  criticality text COLLATE "C",
  names_key text COLLATE "C"
);
CREATE UNIQUE INDEX certificates_row_id ON certificates(row_id);
CREATE INDEX certificates_not_after ON certificates(not_after);
CREATE INDEX certificates_profile ON certificates(profile, row_id);
CREATE INDEX certificates_owner ON certificates(owner, row_id) WHERE owner IS NOT NULL;
CREATE INDEX certificates_requester ON certificates(requester_kind, requester_id, row_id);
CREATE INDEX certificates_implicit_renewal ON certificates(requester_kind, requester_id, profile, names_key, not_after)
  WHERE stage = 'issued' AND revoked_at IS NULL AND replaced_by IS NULL;
CREATE INDEX certificates_unreplaced ON certificates(not_after, profile, owner)
  WHERE stage = 'issued' AND revoked_at IS NULL AND replaced_by IS NULL;
CREATE INDEX certificates_crl ON certificates(ca_name, revoked_at, serial) INCLUDE (revocation_reason) WHERE revoked_at IS NOT NULL;

-- Every SAN of every hot certificate, for device lookups by name (findValidByName), kept by triggers as in SQLite.
CREATE TABLE certificate_names (
  value text COLLATE "C" NOT NULL,
  kind text COLLATE "C" NOT NULL,
  serial text COLLATE "C" NOT NULL,
  PRIMARY KEY (value, kind, serial)
);
CREATE FUNCTION gw_certificate_names_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO certificate_names (value, kind, serial)
    SELECT substr(e, position(':' in e) + 1), left(e, greatest(position(':' in e) - 1, 0)), NEW.serial
    FROM jsonb_array_elements_text(NEW.sans::jsonb) AS e
    ON CONFLICT DO NOTHING;
  RETURN NULL;
END $$;
CREATE FUNCTION gw_certificate_names_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM certificate_names WHERE serial = OLD.serial
    AND value IN (SELECT substr(e, position(':' in e) + 1) FROM jsonb_array_elements_text(OLD.sans::jsonb) AS e);
  RETURN NULL;
END $$;
CREATE TRIGGER certificate_names_insert AFTER INSERT ON certificates FOR EACH ROW EXECUTE FUNCTION gw_certificate_names_insert();
CREATE TRIGGER certificate_names_delete AFTER DELETE ON certificates FOR EACH ROW EXECUTE FUNCTION gw_certificate_names_delete();

-- Retention moves long-expired certificates here (found by serial only). Same columns as certificates but row_id,
-- plus archived_at: a column added to certificates is added here and to ARCHIVE_COLUMNS in the same migration.
CREATE TABLE certificates_archive (
  serial text COLLATE "C" PRIMARY KEY,
  ca_name text COLLATE "C" NOT NULL,
  profile text COLLATE "C" NOT NULL,
  protocol text COLLATE "C" NOT NULL,
  request_id text COLLATE "C" NOT NULL,
  requester_kind text COLLATE "C" NOT NULL,
  requester_id text COLLATE "C" NOT NULL,
  subject text COLLATE "C" NOT NULL,
  sans text COLLATE "C" NOT NULL,
  not_before text COLLATE "C" NOT NULL,
  not_after text COLLATE "C" NOT NULL,
  key_algorithm text COLLATE "C" NOT NULL,
  stage text COLLATE "C" NOT NULL,
  stage_detail text COLLATE "C",
  tbs_sha256 text COLLATE "C" NOT NULL,
  der bytea,
  renewal_of text COLLATE "C",
  replaced_by text COLLATE "C",
  revoked_at text COLLATE "C",
  revocation_reason integer,
  created_at text COLLATE "C" NOT NULL,
  owner text COLLATE "C",
  application text COLLATE "C",
  environment text COLLATE "C",
  criticality text COLLATE "C",
  names_key text COLLATE "C",
  archived_at text COLLATE "C" NOT NULL
);

CREATE TABLE lifecycle_notices (
  serial text COLLATE "C" NOT NULL,
  kind text COLLATE "C" NOT NULL,
  at text COLLATE "C" NOT NULL,
  PRIMARY KEY (serial, kind)
);

CREATE TABLE requests (
  id text COLLATE "C" PRIMARY KEY,
  row_id bigint GENERATED ALWAYS AS IDENTITY,
  protocol text COLLATE "C" NOT NULL,
  requester_kind text COLLATE "C" NOT NULL,
  requester_id text COLLATE "C" NOT NULL,
  profile text COLLATE "C" NOT NULL,
  status text COLLATE "C" NOT NULL,
  reason text COLLATE "C",
  error_code text COLLATE "C",
  payload text COLLATE "C" NOT NULL,
  certificate_serial text COLLATE "C",
  decided_by text COLLATE "C",
  created_at text COLLATE "C" NOT NULL,
  decided_at text COLLATE "C",
  lookup_key text COLLATE "C"
);
CREATE UNIQUE INDEX requests_row_id ON requests(row_id);
CREATE UNIQUE INDEX requests_lookup_key ON requests(lookup_key) WHERE lookup_key IS NOT NULL;
CREATE INDEX requests_pending ON requests(created_at) WHERE status = 'pending';

CREATE TABLE audit_events (
  seq bigint PRIMARY KEY,
  ts text COLLATE "C" NOT NULL,
  type text COLLATE "C" NOT NULL,
  actor text COLLATE "C" NOT NULL,
  target text COLLATE "C",
  data text COLLATE "C" NOT NULL,
  prev_hash text COLLATE "C" NOT NULL,
  hash text COLLATE "C" NOT NULL
);
CREATE INDEX audit_type ON audit_events(type);
CREATE INDEX audit_target ON audit_events(target);
-- Append-only: the database refuses edits; tampering needs deliberate schema changes and is caught by the hash chain.
CREATE FUNCTION gw_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit events are append-only';
END $$;
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit_events FOR EACH ROW EXECUTE FUNCTION gw_audit_append_only();
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit_events FOR EACH ROW EXECUTE FUNCTION gw_audit_append_only();
-- The chain head is read under one transaction-scoped advisory lock ("gwau"), taken and read in one round trip:
-- a VOLATILE function takes a fresh snapshot per statement, so the head read after the lock sees every commit
-- made before it. Appenders from any instance therefore form one chain, with no fork and no gap.
CREATE FUNCTION gw_audit_head(OUT seq bigint, OUT hash text) LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(1735876981);
  SELECT a.seq, a.hash INTO seq, hash FROM audit_events a ORDER BY a.seq DESC LIMIT 1;
END $$;
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit_events FOR EACH STATEMENT EXECUTE FUNCTION gw_audit_append_only();

CREATE TABLE enrollment_secrets (
  id text COLLATE "C" PRIMARY KEY,
  profile text COLLATE "C" NOT NULL,
  subject text COLLATE "C",
  protocols text COLLATE "C" NOT NULL,
  secret_hash text COLLATE "C" NOT NULL,
  created_at text COLLATE "C" NOT NULL,
  expires_at text COLLATE "C" NOT NULL,
  used_at text COLLATE "C",
  secret_sealed text COLLATE "C"
);
CREATE INDEX enrollment_secrets_hash ON enrollment_secrets(secret_hash);

CREATE TABLE used_challenges (
  hash text COLLATE "C" PRIMARY KEY,
  kind text COLLATE "C" NOT NULL,
  used_at text COLLATE "C" NOT NULL
);

CREATE TABLE admin_tokens (
  id text COLLATE "C" PRIMARY KEY,
  name text COLLATE "C" NOT NULL,
  token_hash text COLLATE "C" NOT NULL UNIQUE,
  created_at text COLLATE "C" NOT NULL
);

CREATE TABLE crls (
  ca_name text COLLATE "C" NOT NULL,
  number bigint NOT NULL,
  this_update text COLLATE "C" NOT NULL,
  next_update text COLLATE "C" NOT NULL,
  der bytea NOT NULL,
  PRIMARY KEY (ca_name, number)
);

CREATE TABLE crl_state (
  ca_name text COLLATE "C" PRIMARY KEY,
  generation bigint NOT NULL DEFAULT 0,
  dirty_since text COLLATE "C",
  lease_owner text COLLATE "C",
  lease_until text COLLATE "C"
);
`;

/** The columns certificates and certificates_archive share (what retention copies), in table order. */
export const ARCHIVE_COLUMNS = [
  "serial", "ca_name", "profile", "protocol", "request_id", "requester_kind", "requester_id", "subject", "sans", "not_before",
  "not_after", "key_algorithm", "stage", "stage_detail", "tbs_sha256", "der", "renewal_of", "replaced_by", "revoked_at",
  "revocation_reason", "created_at", "owner", "application", "environment", "criticality", "names_key",
].join(", ");
