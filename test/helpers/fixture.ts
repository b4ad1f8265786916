import { afterAll } from "vitest";

/** A per-file fixture made on first use (so a setup error fails every test instead of skipping them) and closed after the file. */
export function fixture<T extends { close(): Promise<void> | void }>(make: () => Promise<T>): () => Promise<T> {
  let made: Promise<T> | undefined;
  afterAll(async () => {
    const v = await made?.catch(() => undefined);
    await v?.close();
  });
  return () => (made ??= make());
}
