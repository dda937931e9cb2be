import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { APPLIED_KEY, LmdbStateStore } from '../../src/storage/replica/lmdb-store.js';
import { MemoryStateStore, StagedStateStore, type StateStore } from '../../src/storage/replica/state-store.js';
import { Prng } from '../../src/util/random.js';
import { testSeed } from '../helpers/seed.js';

const folders: string[] = [];
const stores: LmdbStateStore[] = [];

function freshStore(): LmdbStateStore {
  const dir = mkdtempSync(join(tmpdir(), 'ecom-lmdb-store-'));
  folders.push(dir);
  const store = new LmdbStateStore(join(dir, 'state'));
  stores.push(store);
  return store;
}

afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
  for (const dir of folders.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('LMDB state store: the applied index', () => {
  it('follows each committed batch, and a batch that throws leaves it where it was', () => {
    const store = freshStore();
    expect(store.lastApplied).toBe(0);
    store.applyBatch(7, () => store.put('a/1', 1));
    expect(store.lastApplied).toBe(7);
    expect(() =>
      store.applyBatch(9, () => {
        store.put('a/2', 2);
        throw new Error('the disk');
      }),
    ).toThrow('the disk');
    expect(store.lastApplied).toBe(7);
    expect(store.get('a/2'), 'nothing of the failed batch').toBeUndefined();
  });

  it('is read again from the store after a restore replaces it, and after a reopen', async () => {
    const store = freshStore();
    store.applyBatch(5, () => undefined);
    store.replaceAll((put) => {
      put('a/1', 1);
      return 40;
    });
    expect(store.lastApplied).toBe(40);
    const path = store.path;
    await store.close();
    stores.splice(stores.indexOf(store), 1);
    const reopened = new LmdbStateStore(path);
    stores.push(reopened);
    expect(reopened.lastApplied).toBe(40);
  });

  it('is the new store file\'s once the replica switches to one', async () => {
    const other = freshStore();
    other.applyBatch(123, () => undefined);
    const otherPath = other.path;
    await other.close();
    stores.splice(stores.indexOf(other), 1);
    const store = freshStore();
    store.applyBatch(3, () => undefined);
    expect(store.lastApplied).toBe(3);
    await store.switchTo(otherPath);
    expect(store.lastApplied).toBe(123);
  });

  it('refuses the applied index written as an ordinary key, which would go behind the batch', () => {
    const store = freshStore();
    expect(() => store.applyBatch(1, () => store.put(APPLIED_KEY, 99))).toThrow(/written only with the batch it ends/);
    expect(store.lastApplied).toBe(0);
  });
});

describe('keys without their values', () => {
  /** Every layering a replica reads through: the store alone, a batch over it, an entry over that. */
  function layered(inner: StateStore): { inner: StateStore; batch: StagedStateStore; entry: StagedStateStore } {
    const batch = new StagedStateStore(inner);
    return { inner, batch, entry: new StagedStateStore(batch) };
  }

  it('keys, seeded: what a sorted copy of every layer would list in [from, end), deletions left out, in LMDB and in memory', () => {
    const seed = testSeed('keys without values');
    const r = new Prng(seed);
    for (let round = 0; round < 60; round++) {
      const lmdb = freshStore();
      for (const { inner, batch, entry } of [layered(lmdb), layered(new MemoryStateStore())]) {
        const model = new Map<string, unknown>();
        // Plain keys, as a session's results are: LMDB orders characters past the basic plane
        // otherwise than JavaScript does, for this scan as for range().
        const key = () => `${r.pick(['a/', 'b/', 'a/x/', 'a-'])}${r.int(30)}`;
        const write = (store: StateStore, count: number, deletes: boolean) => {
          for (let i = 0; i < count; i++) {
            const k = key();
            const value = deletes && r.chance(0.3) ? undefined : r.int(1000);
            store.put(k, value);
            if (value === undefined) model.delete(k);
            else model.set(k, value);
          }
        };
        if (inner instanceof LmdbStateStore) inner.applyBatch(1, () => write(inner, r.int(40), false));
        else write(inner, r.int(40), false);
        write(batch, r.int(15), true);
        write(entry, r.int(8), true);
        // Not the empty prefix: under it LMDB also lists the applied index, kept beside the state.
        const prefix = r.pick(['a/', 'b/', 'a/x/', 'a']);
        const from = r.pick([prefix, `${prefix}${r.int(30)}`, '', 'a']);
        const end = r.pick([`${prefix}${r.int(30)}`, `${prefix}\uffff`, '\uffff\uffff', prefix]);
        const expected = [...model.keys()].filter((k) => k.startsWith(prefix) && k >= from && k < end).sort();
        expect([...entry.keys(prefix, from, end)], `seed ${seed}, round ${round}, ${inner.constructor.name}, prefix ${JSON.stringify(prefix)} from ${JSON.stringify(from)} end ${JSON.stringify(end)}`).toEqual(expected);
      }
    }
  });
});
