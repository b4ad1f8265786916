/**
 * PostgreSQL schema version 3: the audit append in one round trip. gw_audit_head() (version 1) takes the chain lock
 * and reads the head; the gateway then hashed and inserted in a second statement. gw_audit_append() does all of it
 * on the server: the gateway sends the event's canonical text split around the sequence number (eventHashParts),
 * the function links it to the head under the same lock, hashes it exactly as eventHash does and inserts it. The
 * gateway re-checks the returned hash with eventHash, so the chain format has one definition. gw_audit_head stays
 * for gateways of the previous version during a rolling upgrade: both take the same lock, so they form one chain.
 */
export const AUDIT_APPEND_SCHEMA = `
CREATE FUNCTION gw_audit_append(p_ts text, p_type text, p_actor text, p_target text, p_data text, p_head text, p_tail text,
  OUT o_seq bigint, OUT o_prev text, OUT o_hash text) LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(1735876981);
  SELECT a.seq, a.hash INTO o_seq, o_prev FROM audit_events a ORDER BY a.seq DESC LIMIT 1;
  o_seq := coalesce(o_seq, 0) + 1;
  o_prev := coalesce(o_prev, repeat('0', 64));
  o_hash := encode(sha256(convert_to(o_prev || p_head || o_seq::text || p_tail, 'UTF8')), 'hex');
  INSERT INTO audit_events (seq, ts, type, actor, target, data, prev_hash, hash)
    VALUES (o_seq, p_ts, p_type, p_actor, p_target, p_data, o_prev, o_hash);
END $$;
`;
