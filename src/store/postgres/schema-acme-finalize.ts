/**
 * PostgreSQL schema version 5: when finalize claimed an ACME order. A finalization still unsettled long after the
 * claim is abandoned (protocols/acme/orders.ts: the instance that ran it died); orders already processing count from
 * the upgrade. The account's orders already page on acme_orders_account (account_id, created_at, id).
 */
export const ACME_FINALIZE_SCHEMA = `
ALTER TABLE acme_orders ADD COLUMN finalize_started_at text COLLATE "C";
UPDATE acme_orders SET finalize_started_at = to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') WHERE status = 'processing';
`;
