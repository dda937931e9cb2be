import { namedKeys, type Command, type Reply } from '../domain/commands.js';
import { keyString, type RecordKind, type RecordOfKind } from '../domain/records.js';
import type { Backend } from '../portal/backend.js';

/**
 * An optional read cache in front of a portal's backend (the course asks for one). A cached
 * record is served for at most `bound_ms` after it was read, and dropped sooner when the
 * storage tier announces a change to it. Writes never consult the cache: every rule runs in
 * the storage tier's state machines, so a stale entry can make a read old by at most the
 * bound and can never make a write succeed.
 */
export interface ReadCacheOptions {
  readonly bound_ms: number;
  readonly maxEntries?: number;
  readonly now?: () => number;
}

interface Cached {
  readonly record: unknown;
  readonly at_ms: number;
}

export class CachedBackend implements Backend {
  private readonly entries = new Map<string, Cached>();
  private readonly maxEntries: number;
  private readonly now: () => number;
  hits = 0;
  misses = 0;

  constructor(
    private readonly inner: Backend,
    private readonly options: ReadCacheOptions,
  ) {
    if (!(options.bound_ms > 0)) throw new Error(`cache bound must be positive, got ${options.bound_ms} ms`);
    this.maxEntries = options.maxEntries ?? 100_000;
    this.now = options.now ?? Date.now;
  }

  async execute(command: Command): Promise<Reply> {
    const reply = await this.inner.execute(command);
    // This portal's own writes are visible to its next reads at once; records the command
    // changes without naming them (stock, an order's client) are announced by the tier.
    for (const key of namedKeys(command)) this.entries.delete(keyString(key));
    return reply;
  }

  async read<K extends RecordKind>(kind: K, id: string): Promise<RecordOfKind<K> | undefined> {
    const key = `${kind}/${id}`;
    const cached = this.entries.get(key);
    if (cached !== undefined && this.now() - cached.at_ms < this.options.bound_ms) {
      this.hits++;
      return cached.record as RecordOfKind<K> | undefined;
    }
    this.misses++;
    const at_ms = this.now();
    const record = await this.inner.read(kind, id);
    this.entries.delete(key);
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, { record, at_ms });
    return record;
  }

  /** A change announced by the storage tier (`client/44`): the next read goes to storage. */
  invalidate(key: string): void {
    this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }

  close(): Promise<void> {
    this.entries.clear();
    return this.inner.close();
  }
}
