/**
 * The key-value space a partition's state machine keeps its state in. Applying a batch of
 * log entries happens inside one store transaction, together with the last applied index, so
 * a crash leaves either all of a batch or none of it.
 */
export interface StateStore {
  get(key: string): unknown;
  /** `undefined` deletes the key. */
  put(key: string, value: unknown): void;
  /** Keys starting with `prefix`, in key order, with their values. */
  range(prefix: string): Iterable<readonly [string, unknown]>;
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

  *range(prefix: string): Iterable<readonly [string, unknown]> {
    const keys = [...this.map.keys()].filter((k) => k.startsWith(prefix)).sort();
    for (const key of keys) yield [key, this.map.get(key)];
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
    if (key.startsWith('r/')) this.changedRecords.add(key.slice(2));
    this.inner.put(key, value);
  }

  range(prefix: string): Iterable<readonly [string, unknown]> {
    return this.inner.range(prefix);
  }
}
