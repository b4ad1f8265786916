// The two store engines the conformance suite (test/store/conformance/) runs against, with the same expectations.
// SQLite: a fresh temp file per store. PostgreSQL: a fresh database on the run's throw-away cluster
// (test/helpers/postgres.ts); when PostgreSQL cannot start, open() throws and every PostgreSQL test FAILS with the
// reason (stores are opened inside the tests, never in beforeAll, which would count them as skipped).
import { join } from "node:path";
import type { Store } from "../../src/store/types.js";
import { SqliteStore } from "../../src/store/sqlite/store.js";
import { tempDir } from "../helpers/openssl.js";
import { testDatabase, type TestDatabase } from "../helpers/postgres.js";

export interface Engine {
  readonly name: "sqlite" | "postgres";
  /** The suite file's store (one per file and engine, opened on first call): tests sharing it use their own keys. */
  open(): Promise<Store>;
  /** A second store (another instance: its own connection or pool) on the same database as open()'s. */
  openSecond(): Promise<Store>;
  /** A new, empty store of its own: for what is counted or ordered over a whole table. */
  fresh(): Promise<Store>;
  /** Two stores (two instances) on one new, empty database. */
  freshPair(): Promise<[Store, Store]>;
  /** Closes every store this engine opened and drops its databases (afterAll). */
  close(): Promise<void>;
}

// Imported on first use: the SQLite half loads and runs even when the PostgreSQL store does not (it was written at
// the same time as this suite); then every PostgreSQL test fails at this import.
let pgModule: Promise<typeof import("../../src/store/postgres/store.js")> | undefined;
const loadPg = () => (pgModule ??= import("../../src/store/postgres/store.js"));

function engine(name: Engine["name"], create: () => Promise<{ location: string; drop?: () => Promise<void> }>, connect: (location: string) => Promise<Store>): Engine {
  const stores: Store[] = [];
  const drops: Array<() => Promise<void>> = [];
  let main: Promise<{ store: Store; location: string }> | undefined;
  const mainDb = () => (main ??= newDatabase().then(async (location) => ({ location, store: await openAt(location) })));
  const openAt = async (location: string) => {
    const s = await connect(location);
    stores.push(s);
    return s;
  };
  const newDatabase = async () => {
    const d = await create();
    if (d.drop) drops.push(d.drop);
    return d.location;
  };
  return {
    name,
    open: async () => (await mainDb()).store,
    openSecond: async () => openAt((await mainDb()).location),
    fresh: async () => openAt(await newDatabase()),
    freshPair: async () => {
      const location = await newDatabase();
      return [await openAt(location), await openAt(location)];
    },
    close: async () => {
      main = undefined; // a later describe block of the same file starts on a new database
      await Promise.allSettled(stores.splice(0).map((s) => s.close()));
      await Promise.allSettled(drops.splice(0).map((d) => d()));
    },
  };
}

export const ENGINES: Engine[] = [
  engine("sqlite", async () => ({ location: join(tempDir("conformance-"), "gateway.db") }), async (file) => new SqliteStore(file)),
  engine("postgres", async () => {
    const db: TestDatabase = await testDatabase();
    return { location: db.url, drop: () => db.drop() };
  }, async (url) => (await loadPg()).openPostgresStore({ url })),
];
