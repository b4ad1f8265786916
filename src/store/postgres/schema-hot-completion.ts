/**
 * PostgreSQL schema version 4: completing an issuance rewrites no index. The completion sets `stage` and `der`; while
 * `stage` sat in the predicates of the two partial indexes (implicit renewal, unreplaced), every completion was a
 * non-HOT update that inserted a new entry into each of the table's nine indexes, a cost that grows with the
 * inventory (one B-tree level per index). The predicates now leave `stage` out: every query that uses these indexes
 * says `stage = 'issued'` and re-checks it on the row, and an intent lives for milliseconds. With no indexed column
 * changed and room kept on each page (fillfactor 85, for pages written from now on), the completion is a heap-only
 * tuple update. `replaced_by` stays in the predicates: the missed-renewal listings walk the unreplaced index and
 * would otherwise visit every replaced certificate. The rebuild locks the table against writes for the time it
 * takes (seconds per million rows).
 */
export const HOT_COMPLETION_SCHEMA = `
ALTER TABLE certificates SET (fillfactor = 85);
DROP INDEX certificates_implicit_renewal;
CREATE INDEX certificates_implicit_renewal ON certificates(requester_kind, requester_id, profile, names_key, not_after)
  WHERE revoked_at IS NULL AND replaced_by IS NULL;
DROP INDEX certificates_unreplaced;
CREATE INDEX certificates_unreplaced ON certificates(not_after, profile, owner)
  WHERE revoked_at IS NULL AND replaced_by IS NULL;
`;
