export interface ArchiveBatch {
  count: number;
  /** not_after of the first and last certificate moved (the batch walks not_after upwards). */
  from?: string;
  to?: string;
}

export interface InventoryStats {
  /** Issued, unrevoked, unexpired. */
  valid: number;
  revoked: number;
  /** Expired in the hot inventory (archived certificates are not counted). */
  expired: number;
  /** Valid certificates by profile and owner ("" for none), with those expiring by `soon`. */
  groups: Array<{ profile: string; owner: string; valid: number; expiringSoon: number }>;
  /** Valid certificates expiring in [weekStarts[i], weekStarts[i+1]). */
  expiringByWeek: number[];
}
