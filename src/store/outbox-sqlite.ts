import type Database from "better-sqlite3";

/** The event outbox (migration 6, table event_outbox): what each sink still has to deliver. */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface OutboxStore {}

export class SqliteOutboxStore implements OutboxStore {
  constructor(private readonly db: Database.Database) {
    void this.db;
  }
}
