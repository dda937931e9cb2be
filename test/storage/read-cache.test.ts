import { describe, expect, it } from 'vitest';
import type { Command, Reply } from '../../src/domain/commands.js';
import type { RecordKind, RecordOfKind } from '../../src/domain/records.js';
import type { Backend } from '../../src/portal/backend.js';
import { CachedBackend } from '../../src/storage/read-cache.js';

class CountingBackend implements Backend {
  reads = 0;
  name = 'Ana';
  execute(_command: Command): Promise<Reply> {
    return Promise.resolve({ code: 0 });
  }
  read<K extends RecordKind>(_kind: K, _id: string): Promise<RecordOfKind<K> | undefined> {
    this.reads++;
    return Promise.resolve({ kind: 'client', name: this.name, orders: [] } as unknown as RecordOfKind<K>);
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

  it('stays within its size bound', async () => {
    const cache = new CachedBackend(new CountingBackend(), { bound_ms: 60_000, maxEntries: 10 });
    for (let i = 0; i < 50; i++) await cache.read('client', String(i));
    expect(cache.size).toBe(10);
  });
});
