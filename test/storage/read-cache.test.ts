import { describe, expect, it } from 'vitest';
import type { Command, Reply } from '../../src/domain/commands.js';
import type { RecordKind, RecordOfKind } from '../../src/domain/records.js';
import type { Backend, ClientOrderPage } from '../../src/domain/backend.js';
import { CachedBackend } from '../../src/storage/client/read-cache.js';

class CountingBackend implements Backend {
  reads = 0;
  name = 'Ana';
  execute(_command: Command): Promise<Reply> {
    return Promise.resolve({ code: 0 });
  }
  read<K extends RecordKind>(_kind: K, _id: string): Promise<RecordOfKind<K> | undefined> {
    this.reads++;
    return Promise.resolve({ kind: 'client', name: this.name, orderCount: 0, lastSeq: 0 } as unknown as RecordOfKind<K>);
  }
  clientOrders(): Promise<ClientOrderPage> {
    return Promise.resolve({ entries: [], next: null });
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

describe('portal read cache', () => {
  it('serves a record for at most the bound, then reads storage again', async () => {
    let now = 0;
    const inner = new CountingBackend();
    const cache = new CachedBackend(inner, { bound_ms: 100, now: () => now });
    await cache.read('client', '1');
    inner.name = 'Bia';
    now = 99;
    expect((await cache.read('client', '1'))?.name).toBe('Ana');
    now = 100;
    expect((await cache.read('client', '1'))?.name).toBe('Bia');
    expect(inner.reads).toBe(2);
  });

  it('drops an entry on an announced change and on its own writes', async () => {
    const inner = new CountingBackend();
    const cache = new CachedBackend(inner, { bound_ms: 60_000 });
    await cache.read('client', '1');
    cache.invalidate('client/1');
    await cache.read('client', '1');
    await cache.execute({ op: 'UpdateClient', cid: '1', data: '{"name": "x"}' });
    await cache.read('client', '1');
    expect(inner.reads).toBe(3);
  });

  it('a change announced while the record is being read keeps that read out of the cache', async () => {
    let release: () => void = () => undefined;
    let reads = 0;
    const inner: Backend = {
      execute: () => Promise.resolve({ code: 0 }),
      read: <K extends RecordKind>() => {
        reads++;
        const name = `v${reads}`;
        // The first read is held until the test lets it go, after the announcement.
        const value = { kind: 'client', name, orderCount: 0, lastSeq: 0 } as unknown as RecordOfKind<K>;
        return reads === 1 ? new Promise<RecordOfKind<K>>((resolve) => (release = () => resolve(value))) : Promise.resolve(value);
      },
      clientOrders: () => Promise.resolve({ entries: [], next: null }),
      close: () => Promise.resolve(),
    };
    const cache = new CachedBackend(inner, { bound_ms: 60_000 });
    const first = cache.read('client', '1');
    cache.invalidate('client/1');
    release();
    // The read that started before the change still answers (it is as new as its start)...
    expect((await first)?.name).toBe('v1');
    // ...but is not kept: the next read goes to storage and sees the change.
    expect((await cache.read('client', '1'))?.name).toBe('v2');
    expect((await cache.read('client', '1'))?.name).toBe('v2');
    expect(reads).toBe(2);
  });

  it('stays within its size bound', async () => {
    const cache = new CachedBackend(new CountingBackend(), { bound_ms: 60_000, maxEntries: 10 });
    for (let i = 0; i < 50; i++) await cache.read('client', String(i));
    expect(cache.size).toBe(10);
  });

  it('with a change feed: serves nothing until the feed is up, nothing while it is down, and starts empty when it is back', async () => {
    const inner = new CountingBackend();
    const cache = new CachedBackend(inner, { bound_ms: 60_000, feed: true });
    await cache.read('client', '1');
    await cache.read('client', '1');
    expect([inner.reads, cache.size]).toEqual([2, 0]);
    cache.feedUp();
    await cache.read('client', '1');
    await cache.read('client', '1');
    expect([inner.reads, cache.size]).toEqual([3, 1]);
    cache.feedDown();
    expect(cache.size).toBe(0);
    await cache.read('client', '1');
    await cache.read('client', '1');
    expect([inner.reads, cache.size]).toEqual([5, 0]);
    cache.feedUp();
    await cache.read('client', '1');
    await cache.read('client', '1');
    expect([inner.reads, cache.size]).toEqual([6, 1]);
  });

  // A read that started before the feed went down (or came back) may hold a change whose
  // announcement was lost: it answers its caller but is not kept.
  it('does not keep a storage read that straddles a gap in the feed', async () => {
    let release: () => void = () => undefined;
    const inner = new CountingBackend();
    const slow: Backend = {
      execute: (c) => inner.execute(c),
      read: async (kind, id) => {
        await new Promise<void>((r) => (release = r));
        return inner.read(kind, id);
      },
      clientOrders: () => inner.clientOrders(),
      close: () => inner.close(),
    };
    const cache = new CachedBackend(slow, { bound_ms: 60_000, feed: true });
    cache.feedUp();
    const pending = cache.read('client', '1');
    cache.feedDown();
    cache.feedUp();
    release();
    expect((await pending)?.name).toBe('Ana');
    expect(cache.size).toBe(0);
  });
});
