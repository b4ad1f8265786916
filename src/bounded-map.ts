/**
 * A Map with a size cap that evicts the least recently used entry: the one shape for every in-process
 * cache or table keyed by something clients choose (keys, IDs, addresses), so that no stream of new
 * keys can grow memory without bound. A read (`get`) or a write (`set`) makes an entry the most recent;
 * `has` and iteration do not. Iteration runs from the least to the most recently used.
 */
export class BoundedMap<K, V> {
  // A Map iterates in insertion order; re-inserting on use keeps the least recently used first.
  private readonly map = new Map<K, V>();

  constructor(readonly maxEntries: number, private readonly onEvict?: (key: K, value: V) => void) {
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) throw new RangeError(`maxEntries must be a positive integer, not ${maxEntries}`);
  }

  get size(): number {
    return this.map.size;
  }

  get(key: K): V | undefined {
    if (!this.map.has(key)) return undefined;
    const value = this.map.get(key) as V;
    this.map.delete(key);
    this.map.set(key, value);
    return value;
  }

  has(key: K): boolean {
    return this.map.has(key);
  }

  /** Inserts or replaces as the most recent entry; then evicts the least recent ones beyond the cap. */
  set(key: K, value: V): this {
    this.map.delete(key);
    this.map.set(key, value);
    while (this.map.size > this.maxEntries) {
      const [oldKey, oldValue] = this.map.entries().next().value as [K, V];
      this.map.delete(oldKey);
      this.onEvict?.(oldKey, oldValue);
    }
    return this;
  }

  delete(key: K): boolean {
    return this.map.delete(key);
  }

  clear(): void {
    this.map.clear();
  }

  entries(): IterableIterator<[K, V]> {
    return this.map.entries();
  }

  keys(): IterableIterator<K> {
    return this.map.keys();
  }

  values(): IterableIterator<V> {
    return this.map.values();
  }

  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.map.entries();
  }
}
