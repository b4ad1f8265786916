import type Database from "better-sqlite3";

/** Certificates found by `gateway discover` (migration 6, table discovered_certificates): unmanaged inventory. */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface DiscoveryStore {}

export class SqliteDiscoveryStore implements DiscoveryStore {
  constructor(private readonly db: Database.Database) {
    void this.db;
  }
}
