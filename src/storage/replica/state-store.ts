/**
 * The key-value space a partition's state machine keeps its state in. Applying a batch of
 * log entries happens inside one store transaction, together with the last applied index, so
 * a crash leaves either all of a batch or none of it.
 */
export interface StateStore {
  get(key: string): unknown;
  /** `undefined` deletes the key. */
  put(key: string, value: unknown): void;
  /** Keys starting with `prefix`, in key order, with their values; with `from`, only keys at or after it. */
  range(prefix: string, from?: string): Iterable<readonly [string, unknown]>;
  /** Keys starting with `prefix`, from `from` up to but not including `end`, in key order, without reading their values. */
  keys(prefix: string, from: string, end: string): Iterable<string>;
}

/** The keys of `map` that pass `test`, in key order. */
function sortedKeys(map: ReadonlyMap<string, unknown>, test: (key: string) => boolean): string[] {
  return [...map.keys()].filter(test).sort();
}

/** Whether `key` is one of those `keys(prefix, from, end)` lists. */
function inKeyRange(key: string, prefix: string, from: string, end: string): boolean {
  return key.startsWith(prefix) && key >= from && key < end;
}

/** A StateStore in memory, for tests and the deterministic simulator. */
export class MemoryStateStore implements StateStore {
  private readonly map = new Map<string, unknown>();

  get(key: string): unknown {
    return this.map.get(key);
  }

  put(key: string, value: unknown): void {
    if (value === undefined) this.map.delete(key);
    else this.map.set(key, structuredClone(value));
  }

  *range(prefix: string, from = prefix): Iterable<readonly [string, unknown]> {
    for (const key of sortedKeys(this.map, (k) => k.startsWith(prefix) && k >= from)) yield [key, this.map.get(key)];
  }

  keys(prefix: string, from: string, end: string): Iterable<string> {
    return sortedKeys(this.map, (k) => inKeyRange(k, prefix, from, end));
  }

  get size(): number {
    return this.map.size;
  }
}

/** Passes everything through and notes which records (`r/` keys) were written, for change announcements. */
export class RecordingStateStore implements StateStore {
  readonly changedRecords = new Set<string>();

  constructor(private readonly inner: StateStore) {}

  get(key: string): unknown {
    return this.inner.get(key);
  }

  put(key: string, value: unknown): void {
    // A client's order index is never cached (it is read by pages), so its writes go unannounced.
    if (key.startsWith('r/') && !key.startsWith('r/clientOrder/')) this.changedRecords.add(key.slice(2));
    this.inner.put(key, value);
  }

  range(prefix: string, from?: string): Iterable<readonly [string, unknown]> {
    return this.inner.range(prefix, from);
  }

  keys(prefix: string, from: string, end: string): Iterable<string> {
    return this.inner.keys(prefix, from, end);
  }
}

/** The store itself failed (a disk error): not a property of the entry, so never a deterministic refusal. */
export class StoreFailure extends Error {
  override readonly name = 'StoreFailure';
}

/** What a failure of the store beneath (a disk error) is thrown as: told apart from the entry's own. */
function storeFailure(what: string, err: unknown): StoreFailure {
  // A staged store over another one: the failure was told apart already.
  if (err instanceof StoreFailure) return err;
  return new StoreFailure(`state store ${what} failed: ${(err as Error).message}`);
}

/**
 * Holds one entry's writes until it has applied without error, so that an entry that cannot
 * be applied (a forged transaction step, a session number already acknowledged) leaves the
 * state exactly as it was, on every replica alike: applying is total, and a refusal is a result.
 *
 * The replica also stages a whole batch of entries this way, under the entries' own staging:
 * every entry reads and writes the log time and its client's session, so within a batch those
 * stay in memory and reach LMDB once, at the batch's end, instead of once per entry.
 */
export class StagedStateStore implements StateStore {
  /** Writes of the entry being applied; `undefined` marks a deletion. */
  private readonly staged = new Map<string, unknown>();

  constructor(private readonly inner: StateStore) {}

  get(key: string): unknown {
    if (this.staged.has(key)) return this.staged.get(key);
    // A try here rather than a helper taking a closure: this runs several times per entry applied.
    try {
      return this.inner.get(key);
    } catch (err) {
      throw storeFailure('read', err);
    }
  }

  put(key: string, value: unknown): void {
    this.staged.set(key, value);
  }

  /**
   * The staged keys merged into the store's range as the caller reads, so that a scan which stops
   * early reads only what it needs. (It used to read the store's whole range first: a session's
   * scan for acknowledged results read every result the session still held, for every entry,
   * which under a deep backlog took a fifth of a replica's CPU.) A staged key always hides the
   * stored one, whatever the two orders make of unusual characters.
   */
  range(prefix: string, from = prefix): Iterable<readonly [string, unknown]> {
    const mine = sortedKeys(this.staged, (k) => k.startsWith(prefix) && k >= from);
    return this.merge(
      this.beneath('range', () => this.inner.range(prefix, from)),
      ([key]) => key,
      mine,
      (key, value) => [key, value] as const,
    );
  }

  /** As `range`, for the keys alone. */
  keys(prefix: string, from: string, end: string): Iterable<string> {
    const mine = sortedKeys(this.staged, (k) => inKeyRange(k, prefix, from, end));
    return this.merge(
      this.beneath('range', () => this.inner.keys(prefix, from, end)),
      (key) => key,
      mine,
      (key) => key,
    );
  }

  /** `stored` (in key order) with the staged keys `mine` (sorted) merged in: a staged key hides the stored one, and one staged for deletion is left out. */
  private *merge<T>(stored: Iterable<T>, keyOf: (item: T) => string, mine: readonly string[], itemOf: (key: string, value: unknown) => T): Generator<T> {
    if (mine.length === 0) {
      yield* stored;
      return;
    }
    const cursor = { next: 0 };
    for (const item of stored) {
      const key = keyOf(item);
      yield* this.stagedBefore(key, mine, cursor, itemOf);
      if (!this.staged.has(key)) yield item;
    }
    yield* this.stagedBefore(undefined, mine, cursor, itemOf);
  }

  /** The staged items of `mine` from `cursor` on, up to `bound` (all of them without one). */
  private *stagedBefore<T>(bound: string | undefined, mine: readonly string[], cursor: { next: number }, itemOf: (key: string, value: unknown) => T): Generator<T> {
    for (; cursor.next < mine.length && (bound === undefined || mine[cursor.next]! < bound); cursor.next++) {
      const key = mine[cursor.next]!;
      const value = this.staged.get(key);
      if (value !== undefined) yield itemOf(key, value);
    }
  }

  /** A scan of the store beneath, lazily, with its failures told apart from the entry's. */
  private *beneath<T>(what: string, open: () => Iterable<T>): Generator<T> {
    let items: Iterator<T>;
    try {
      items = open()[Symbol.iterator]();
    } catch (err) {
      throw storeFailure(what, err);
    }
    for (;;) {
      let next: IteratorResult<T>;
      try {
        next = items.next();
      } catch (err) {
        throw storeFailure(what, err);
      }
      if (next.done === true) return;
      yield next.value;
    }
  }

  /** The entry applied: its writes go to the store. */
  commit(): void {
    try {
      // forEach, not for-of: the Map's iterator makes a [key, value] array for every write.
      this.staged.forEach((value, key) => this.inner.put(key, value));
    } catch (err) {
      throw storeFailure('write', err);
    }
    this.staged.clear();
  }

  /** The entry was refused: nothing of it is kept. */
  discard(): void {
    this.staged.clear();
  }
}
