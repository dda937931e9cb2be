import { describe, expect, it } from 'vitest';
import type { Command } from '../../src/domain/commands.js';
import { INDEXED, MAX_FORGET_PER_ENTRY } from '../../src/storage/common/entries.js';
import { partitionOpProblem } from '../../src/storage/common/validate.js';
import { partitionOf } from '../../src/storage/common/partitioning.js';
import { EntryRefused, PartitionMachine } from '../../src/storage/replica/partition-machine.js';
import { MemoryStateStore, StagedStateStore, StoreFailure } from '../../src/storage/replica/state-store.js';
import { Prng } from '../../src/util/random.js';
import { testSeed } from '../helpers/seed.js';

describe('partitioning', () => {
  it('puts numeric IDs of any length at ID mod P, and other IDs by a stable hash', () => {
    expect([0, 1, 2, 3, 44, 13].map((n) => partitionOf(String(n), 2))).toEqual([0, 1, 0, 1, 0, 1]);
    expect(partitionOf('123456789012345678901234567890', 7)).toBe(Number(123456789012345678901234567890n % 7n));
    expect(partitionOf('-5', 2)).toBe(partitionOf('-5', 2));
    const spread = new Set(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].map((id) => partitionOf(id, 3)));
    expect(spread.size).toBe(3);
    // Pinned (values from an independent FNV-1a in Python) so a change of hash, which would strand stored data, cannot pass unnoticed.
    expect(['ana', 'caneta', 'ç'].map((id) => partitionOf(id, 5))).toEqual([1, 2, 3]);
  });

  it('places a numeric ID where its exact remainder says, at every length (seeded)', () => {
    const rng = new Prng(testSeed('numeric ID placement'));
    for (let i = 0; i < 5_000; i++) {
      const length = 1 + rng.int(30);
      let id = '';
      for (let d = 0; d < length; d++) id += String(rng.int(10));
      const partitions = rng.int(4) === 0 ? 1 + rng.int(2 ** 31) : 1 + rng.int(9);
      expect(partitionOf(id, partitions), `${id} over ${partitions}`).toBe(Number(BigInt(id) % BigInt(partitions)));
    }
    // Around the edge of a double's exact integers, with and without leading zeros, and with
    // partition counts at and past where a remainder taken digit by digit stays exact.
    for (const id of ['999999999999999', '1000000000000000', '9007199254740993', '000000000000007', '0000000000000000000001', '99999999999999999999999999999999999999']) {
      for (const partitions of [2, 3, 7, 2 ** 31 - 1, 2 ** 31, 2 ** 31 + 1, 2 ** 40 + 15, 2 ** 50 + 3]) expect(partitionOf(id, partitions), `${id} over ${partitions}`).toBe(Number(BigInt(id) % BigInt(partitions)));
    }
  });
});

describe('partition machine sessions', () => {
  const create = (seq: number, ackBelow = 0) => ({
    time_ms: 1_000 + seq,
    op: { t: 'exec' as const, session: { client: 'portal-a', seq, ackBelow }, command: { op: 'CreateClient' as const, cid: '2', data: '{"name": "Ana"}' } },
  });

  it('applies a retried request once and answers it the same way', () => {
    const store = new MemoryStateStore();
    const machine = new PartitionMachine(store, { partition: 0, partitions: 2 });
    const first = machine.apply(create(0));
    expect(first).toEqual({ t: 'reply', reply: { code: 0 } });
    // Without the session the same command would now be a duplicate (400).
    expect(machine.apply(create(0))).toEqual(first);
    expect(machine.apply(create(1))).toMatchObject({ t: 'reply', reply: { code: 400 } });
  });

  it('a new seq is not looked up among the remembered results; retries, in any order, still are', () => {
    const store = new MemoryStateStore();
    const machine = new PartitionMachine(store, { partition: 0, partitions: 2 });
    const lookups: string[] = [];
    const get = store.get.bind(store);
    store.get = (key: string) => {
      if (/^s\/portal-a\/\d+$/.test(key)) lookups.push(key);
      return get(key);
    };
    const product = (seq: number, pid: string) => ({ time_ms: 1_000 + seq, op: { t: 'exec' as const, session: { client: 'portal-a', seq }, command: { op: 'CreateProduct' as const, pid, data: '{"name": "P", "price": "1", "quantity": 1}' } } });
    // Pipelined requests reach the log out of order: 5 before 3.
    expect(machine.apply(product(5, '10'))).toEqual({ t: 'reply', reply: { code: 0 } });
    expect(machine.apply(product(3, '12'))).toEqual({ t: 'reply', reply: { code: 0 } });
    expect(lookups, 'seq 5 began the session; seq 3 is below what it ran, so it is looked up').toEqual(['s/portal-a/0000000000000003']);
    // Retries of both answer their first result, not a duplicate's 400.
    expect(machine.apply(product(5, '10'))).toEqual({ t: 'reply', reply: { code: 0 } });
    expect(machine.apply(product(3, '12'))).toEqual({ t: 'reply', reply: { code: 0 } });
    lookups.length = 0;
    expect(machine.apply(product(6, '14'))).toEqual({ t: 'reply', reply: { code: 0 } });
    expect(lookups).toEqual([]);
  });

  it('a session record of an older build (no next seq) has every seq looked up, and still answers retries', () => {
    const store = new MemoryStateStore();
    const machine = new PartitionMachine(store, { partition: 0, partitions: 2 });
    // As an older build left them: seq 7 ran (its result remembered), the record says nothing of it.
    store.put('s/portal-a', { seen_ms: 1_000, ackBelow: 0, results: 1 });
    store.put('s/portal-a/0000000000000007', { t: 'reply', reply: { code: 0 } });
    expect(machine.apply(create(4))).toEqual({ t: 'reply', reply: { code: 0 } });
    expect(machine.apply(create(7))).toEqual({ t: 'reply', reply: { code: 0 } });
    expect(store.get('s/portal-a')).not.toHaveProperty('next');
  });

  it('forgets results the client has acknowledged, and whole sessions idle past their TTL', () => {
    const store = new MemoryStateStore();
    const machine = new PartitionMachine(store, { partition: 0, partitions: 2, sessionTtl_ms: 10_000 });
    machine.apply(create(0));
    machine.apply(create(1));
    expect([...store.range('s/portal-a/')]).toHaveLength(2);
    machine.apply(create(2, 2));
    expect([...store.range('s/portal-a/')]).toHaveLength(1);
    expect(() => machine.apply(create(1, 2))).toThrow(EntryRefused);
    expect(() => machine.apply(create(1, 2))).toThrow(/retried seq 1, below 2 which it has acknowledged/);
    for (let i = 0; i < 1100; i++) machine.apply({ time_ms: 100_000 + i, op: { t: 'noop' } });
    expect([...store.range('s/')]).toHaveLength(0);
  });

  it('a jump of ackBelow by billions costs the results it frees, not the numbers it skips', () => {
    const store = new MemoryStateStore();
    const machine = new PartitionMachine(store, { partition: 0, partitions: 2 });
    machine.apply(create(0));
    machine.apply(create(1));
    const started = performance.now();
    machine.apply(create(4_000_000_000, 4_000_000_000));
    expect(performance.now() - started, 'no loop over four billion numbers').toBeLessThan(1_000);
    expect([...store.range('s/portal-a/')].map(([key]) => key)).toEqual([`s/portal-a/${String(4_000_000_000).padStart(16, '0')}`]);
  });

  it('refuses to run a command that reads a record of another partition', () => {
    const machine = new PartitionMachine(new MemoryStateStore(), { partition: 0, partitions: 2 });
    const result = machine.apply({
      time_ms: 1,
      op: { t: 'exec', session: { client: 'p', seq: 0 }, command: { op: 'CreateOrder', oid: '2', cid: '1', data: '[]' } },
    });
    expect(result).toEqual({ t: 'cross-partition' });
  });

  it('never lets log time go backwards when a new leader has a slower clock', () => {
    const machine = new PartitionMachine(new MemoryStateStore(), { partition: 0, partitions: 1 });
    machine.apply({ time_ms: 5_000, op: { t: 'noop' } });
    machine.apply({ time_ms: 4_000, op: { t: 'noop' } });
    expect(machine.now_ms).toBe(5_000);
  });
});

describe('staged state store: an entry applies whole or not at all', () => {
  it('keeps nothing of a discarded entry, everything of a committed one, and ranges over both', () => {
    const inner = new MemoryStateStore();
    inner.put('a/1', 1);
    inner.put('a/3', 3);
    const staged = new StagedStateStore(inner);
    staged.put('a/2', 2);
    staged.put('a/3', undefined);
    expect([...staged.range('a/')]).toEqual([
      ['a/1', 1],
      ['a/2', 2],
    ]);
    expect(staged.get('a/3')).toBeUndefined();
    staged.discard();
    expect([...staged.range('a/')]).toEqual([
      ['a/1', 1],
      ['a/3', 3],
    ]);
    staged.put('a/2', 2);
    staged.commit();
    expect([...inner.range('a/')]).toHaveLength(3);
  });

  it('a refused entry leaves the state as it was: the forged commit after a real lock', () => {
    const inner = new MemoryStateStore();
    const staged = new StagedStateStore(inner);
    const machine = new PartitionMachine(staged, { partition: 0, partitions: 2 });
    machine.apply({ time_ms: 1, op: { t: 'lock', txid: 'tx', home: 0, keys: [{ kind: 'client', id: '2' }], deadline_ms: 10_000 } });
    staged.commit();
    const before = [...inner.range('')];
    const forged = { t: 'commit' as const, txid: 'tx', writes: [{ key: { kind: 'client' as const, id: '2' }, value: null }, { key: { kind: 'client' as const, id: '4' }, value: null }] };
    expect(() => machine.apply({ time_ms: 2, op: forged })).toThrow(EntryRefused);
    staged.discard();
    expect([...inner.range('')]).toEqual(before);
  });

  it('a batch staged under the entries: a refused entry in the middle keeps nothing, the others reach the store once, at the end', () => {
    const inner = new MemoryStateStore();
    const batch = new StagedStateStore(inner);
    const staged = new StagedStateStore(batch);
    const machine = new PartitionMachine(staged, { partition: 0, partitions: 2 });
    const create = (seq: number, cid: string) => ({ time_ms: 1_000 + seq, op: { t: 'exec' as const, session: { client: 'p', seq, ackBelow: seq }, command: { op: 'CreateClient' as const, cid, data: '{"name": "Ana"}' } } });
    machine.apply(create(0, '2'));
    staged.commit();
    // seq 0 is acknowledged by seq 1: retrying it now is refused, and nothing of the retry is kept.
    machine.apply(create(1, '4'));
    staged.commit();
    expect(() => machine.apply(create(0, '6'))).toThrow(EntryRefused);
    staged.discard();
    expect(inner.size, 'nothing reaches the store before the batch ends').toBe(0);
    expect(machine.read('client', '4')).toBeDefined();
    batch.commit();
    const alone = new MemoryStateStore();
    const one = new PartitionMachine(alone, { partition: 0, partitions: 2 });
    one.apply(create(0, '2'));
    one.apply(create(1, '4'));
    expect([...inner.range('')], 'the same state as applying the entries one by one').toEqual([...alone.range('')]);
    expect(machine.read('client', '6')).toBeUndefined();
  });
});

describe('staged state store: ranges merged as they are read', () => {
  /** A store that counts the keys its ranges hand out. */
  class CountingStore extends MemoryStateStore {
    read = 0;
    override *range(prefix: string, from?: string): Iterable<readonly [string, unknown]> {
      for (const pair of super.range(prefix, from)) {
        this.read++;
        yield pair;
      }
    }
  }

  it('a scan that stops early reads only what it needs of the store beneath', () => {
    const inner = new CountingStore();
    for (let i = 0; i < 1_000; i++) inner.put(`s/p/${String(i).padStart(4, '0')}`, i);
    const staged = new StagedStateStore(new StagedStateStore(inner));
    staged.put('s/p/0002', 'new');
    const firstThree = [];
    for (const pair of staged.range('s/p/')) {
      firstThree.push(pair);
      if (firstThree.length === 3) break;
    }
    expect(firstThree).toEqual([['s/p/0000', 0], ['s/p/0001', 1], ['s/p/0002', 'new']]);
    expect(inner.read, 'keys read beneath').toBeLessThan(10);
  });

  it('staged range merge, seeded: yields what a sorted copy of both would, staged values winning', () => {
    const seed = testSeed('staged range merge');
    const r = new Prng(seed);
    for (let round = 0; round < 300; round++) {
      const inner = new MemoryStateStore();
      const batch = new StagedStateStore(inner);
      const entry = new StagedStateStore(batch);
      const model = new Map<string, unknown>();
      const key = () => `${r.pick(['a/', 'b/', 'a/x/'])}${r.int(30)}`;
      for (const [store, writes] of [[inner, 40], [batch, 15], [entry, 8]] as const) {
        for (let i = 0; i < r.int(writes); i++) {
          const k = key();
          const value = r.chance(0.25) && store !== inner ? undefined : r.int(1000);
          store.put(k, value);
          if (value === undefined) model.delete(k);
          else model.set(k, value);
        }
      }
      const prefix = r.pick(['a/', 'b/', 'a/x/', '']);
      const from = r.chance(0.5) ? prefix : `${prefix}${r.int(30)}`;
      const expected = [...model].filter(([k]) => k.startsWith(prefix) && k >= from).sort(([x], [y]) => (x < y ? -1 : 1));
      expect([...entry.range(prefix, from)], `seed ${seed}, round ${round}`).toEqual(expected);
    }
  });
});

describe('staged state store: a failing store beneath', () => {
  /** A store whose every read and write fails, as a disk that has gone does. */
  class BrokenStore extends MemoryStateStore {
    override get(): unknown {
      throw new Error('EIO: i/o error');
    }
    override put(): void {
      throw new Error('ENOSPC: no space left');
    }
    override range(): Iterable<readonly [string, unknown]> {
      throw new Error('EIO: i/o error');
    }
    override *keys(): Iterable<string> {
      yield 'a/1';
      throw new Error('EIO: i/o error');
    }
  }

  it('throws a StoreFailure naming what failed, through two staged layers, never the entry\'s own error', () => {
    const entry = new StagedStateStore(new StagedStateStore(new BrokenStore()));
    const failure = (run: () => unknown) => {
      try {
        run();
      } catch (err) {
        return err;
      }
      return undefined;
    };
    for (const [run, text] of [
      [() => entry.get('a/1'), 'state store read failed: EIO: i/o error'],
      [() => [...entry.range('a/')], 'state store range failed: EIO: i/o error'],
      [() => [...entry.keys('a/', 'a/', 'a/\uffff')], 'state store range failed: EIO: i/o error'],
    ] as const) {
      const err = failure(run);
      expect(err).toBeInstanceOf(StoreFailure);
      expect((err as Error).message).toBe(text);
    }
    const batch = new StagedStateStore(new BrokenStore());
    batch.put('a/1', 1);
    expect(() => batch.commit()).toThrow(new StoreFailure('state store write failed: ENOSPC: no space left'));
  });
});

describe('session sweep', () => {
  const exec = (client: string, seq: number, cid: string, time_ms = 1_000) => ({ time_ms, op: { t: 'exec' as const, session: { client, seq }, command: { op: 'CreateClient' as const, cid, data: '{"name": "Ana"}' } } });

  it('drops idle sessions with every result they hold, past runs of results and odd client names alike', () => {
    const store = new MemoryStateStore();
    const machine = new PartitionMachine(store, { partition: 0, partitions: 1, sessionTtl_ms: 10_000 });
    // Names that sort inside or past another session's results: none may stall the sweep or escape it.
    const clients = ['p', 'p-1', 'p/9', 'p/\uffff', 'q'];
    let cid = 0;
    for (const client of clients) for (let seq = 0; seq < 50; seq++) machine.apply(exec(client, seq, String(cid++)));
    // A session still in use keeps everything.
    for (let i = 0; i < 1_100; i++) machine.apply(exec('live', i, String(cid++), 5_000 + i * 10));
    const left = [...store.range('s/')].map(([k]) => k);
    // 'p/9' and 'p/\uffff' are not sessions of the form s/<client> to the sweep, but they lie
    // under s/p/, which goes with session 'p': only the live session is left.
    expect(left).toHaveLength(1 + 1_100);
    expect(left.filter((k) => !k.startsWith('s/live'))).toEqual([]);
  });
});

describe('session sweep under hostile client names', () => {
  it('session sweep, seeded: removes what a full scan would, whatever the names, and always ends', () => {
    const seed = testSeed('session sweep');
    const r = new Prng(seed);
    const letters = ['a', 'p', '-', '/', '.', '0', 'z', '\uffff', '\u{1F600}'];
    for (let round = 0; round < 50; round++) {
      const store = new MemoryStateStore();
      for (let s = 0; s < 1 + r.int(12); s++) {
        const name = Array.from({ length: 1 + r.int(4) }, () => r.pick(letters)).join('');
        const seen_ms = r.chance(0.5) ? 0 : 99_000;
        const results = r.int(5);
        store.put(`s/${name}`, { seen_ms, ackBelow: 0, results });
        for (let seq = 0; seq < results; seq++) store.put(`s/${name}/${String(seq).padStart(16, '0')}`, { t: 'done' });
      }
      // What the sweep did before it skipped runs of results: read every key under s/.
      const expired = [...store.range('s/')].filter(([key, value]) => key.split('/').length === 2 && (value as { seen_ms: number }).seen_ms + 10_000 < 100_000).map(([key]) => key);
      const doomed = new Set(expired.flatMap((key) => [key, ...[...store.range(`${key}/`)].map(([k]) => k)]));
      const expected = [...store.range('s/')].map(([key]) => key).filter((key) => !doomed.has(key));
      const machine = new PartitionMachine(store, { partition: 0, partitions: 1, sessionTtl_ms: 10_000 });
      // The sweep runs once every 1,024 entries applied.
      for (let i = 0; i < 1_024; i++) machine.apply({ time_ms: 100_000, op: { t: 'noop' } });
      expect([...store.range('s/')].map(([key]) => key), `seed ${seed}, round ${round}`).toEqual(expected);
    }
  });
});

describe('partition machine: a log written before the order index (docs/spec.md R-FMT-9)', () => {
  const exec = (seq: number, command: Command, format?: typeof INDEXED) => ({
    time_ms: 1_000 + seq,
    op: { t: 'exec' as const, session: { client: 'p', seq }, command, ...(format === undefined ? {} : { format }) },
  });
  const order = (oid: string): Command => ({ op: 'CreateOrder', oid, cid: '1', data: '[]' });

  it('applies old entries exactly as the old build did, and new entries of the same client to its index', () => {
    const machine = new PartitionMachine(new MemoryStateStore(), { partition: 0, partitions: 1 });
    // A replica replaying the old log now must reach the records one that applied it then holds.
    machine.apply(exec(0, { op: 'CreateClient', cid: '1', data: '{"name": "Ana"}' }));
    machine.apply(exec(1, order('a')));
    expect(machine.read('client', '1')).toEqual({ kind: 'client', name: 'Ana', orders: ['a'] });
    expect(machine.read('order', 'a')).toEqual({ kind: 'order', cid: '1', items: [] });
    // After the upgrade: the old list stays as it is and new orders go to the index.
    machine.apply(exec(2, order('b'), INDEXED));
    expect(machine.read('client', '1')).toEqual({ kind: 'client', name: 'Ana', orders: ['a'], orderCount: 1, lastSeq: 1 });
    expect(machine.read('order', 'b')).toEqual({ kind: 'order', cid: '1', seq: 1, items: [] });
    expect(machine.clientOrders('1', 0, 10)).toEqual({ entries: [{ seq: 1, oid: 'b' }], next: null });
    // A client created by a new entry never goes back to the old format, whatever entry comes.
    machine.apply(exec(3, { op: 'CreateClient', cid: '2', data: '{"name": "Bia"}' }, INDEXED));
    machine.apply(exec(4, { op: 'CreateOrder', oid: 'c', cid: '2', data: '[]' }));
    expect(machine.clientOrders('2', 0, 10)).toEqual({ entries: [{ seq: 1, oid: 'c' }], next: null });
  });

  it('pages through a client\'s index in creation order, bounded by the limit', () => {
    const machine = new PartitionMachine(new MemoryStateStore(), { partition: 0, partitions: 1 });
    machine.apply(exec(0, { op: 'CreateClient', cid: '1', data: '{"name": "Ana"}' }, INDEXED));
    machine.apply(exec(1, { op: 'CreateClient', cid: '1x', data: '{"name": "Bia"}' }, INDEXED));
    for (let i = 0; i < 25; i++) machine.apply(exec(2 + i, order(`o${i}`), INDEXED));
    machine.apply(exec(100, { op: 'CreateOrder', oid: 'other', cid: '1x', data: '[]' }, INDEXED));
    machine.apply(exec(101, { op: 'DeleteOrder', oid: 'o3' }, INDEXED));
    const seen: string[] = [];
    for (let after: number | null = 0; after !== null; ) {
      const page = machine.clientOrders('1', after, 10);
      expect(page.entries.length).toBeLessThanOrEqual(10);
      seen.push(...page.entries.map((e) => e.oid));
      after = page.next;
    }
    expect(seen).toEqual(Array.from({ length: 25 }, (_, i) => `o${i}`).filter((oid) => oid !== 'o3'));
  });
});

describe('partition machine: a decide entry whose home applies its own records', () => {
  // Partition 0 of 2 is the home: order 2, product 4 and client 6 live here, product 3 on partition 1.
  const setUp = () => {
    const machine = new PartitionMachine(new MemoryStateStore(), { partition: 0, partitions: 2 });
    const exec = (seq: number, command: Command) => machine.apply({ time_ms: seq, op: { t: 'exec', session: { client: 'p', seq }, command, format: INDEXED } });
    exec(0, { op: 'CreateClient', cid: '6', data: '{"name": "Ana"}' });
    exec(1, { op: 'CreateProduct', pid: '4', data: '{"name": "Lapis", "price": "1", "quantity": 10}' });
    return machine;
  };
  const remoteProduct = [{ kind: 'product' as const, id: '3' }, { kind: 'product' as const, name: 'Caneta', price: '2', quantity: 10, orderRefs: 0 }] as const;
  const decide = (txid: string, forget?: string[]) => ({
    time_ms: 10,
    op: {
      t: 'decide' as const,
      txid,
      format: INDEXED,
      homeApplies: true as const,
      commands: [{ op: 'CreateOrder' as const, oid: '2', cid: '6', data: '[{"id": "3", "quantity": 2}, {"id": "4", "quantity": 3}]' }],
      values: [remoteProduct],
      participants: [0, 1],
      ...(forget === undefined ? {} : { forget }),
    },
  });

  it('reads and writes the home records in the same entry as the verdict', () => {
    const machine = setUp();
    const result = machine.apply(decide('tx1'));
    expect(result).toMatchObject({ t: 'decision', decision: { outcome: 'commit', replies: [{ code: 0 }] } });
    expect(machine.read('product', '4')?.quantity).toBe(7);
    expect(machine.read('order', '2')?.items.map((i) => i.quantity)).toEqual([2, 3]);
    expect(machine.clientOrders('6', 0, 10).entries).toEqual([{ seq: 1, oid: '2' }]);
    // A retried decide answers the same verdict and writes nothing twice.
    expect(machine.apply(decide('tx1'))).toEqual(result);
    expect(machine.read('product', '4')?.quantity).toBe(7);
    // The next decide to this home drops the verdict.
    machine.apply({ time_ms: 11, op: { t: 'exec', session: { client: 'p', seq: 2 }, command: { op: 'DeleteOrder', oid: '2' }, format: INDEXED } });
    machine.apply({ ...decide('tx2', ['tx1']), op: { ...decide('tx2').op, forget: ['tx1'], commands: [] } });
    expect(machine.decision('tx1')).toBeUndefined();
  });

  it('answers "locked" and changes nothing when another transaction holds a home record', () => {
    const machine = setUp();
    machine.apply({ time_ms: 5, op: { t: 'lock', txid: 'other', home: 1, keys: [{ kind: 'product', id: '4' }], deadline_ms: 10_000 } });
    expect(machine.apply(decide('tx1'))).toMatchObject({ t: 'locked', key: { kind: 'product', id: '4' }, holder: { txid: 'other' } });
    expect(machine.decision('tx1')).toBeUndefined();
    expect(machine.read('order', '2')).toBeUndefined();
    expect(machine.read('product', '4')?.quantity).toBe(10);
  });

  it('refuses at the door a decide that sends values for the home\'s own records, and over-long forget lists', () => {
    const own = { ...decide('tx1').op, values: [remoteProduct, [{ kind: 'product', id: '4' }, null]] };
    expect(partitionOpProblem(own, 0, 2)).toMatch(/only other partitions' records, not product\/4/);
    expect(partitionOpProblem(decide('tx1').op, 0, 2)).toBeUndefined();
    const many = Array.from({ length: MAX_FORGET_PER_ENTRY + 1 }, (_, i) => `tx${i}`);
    expect(partitionOpProblem({ t: 'forget', txid: 'a', more: many }, 0, 2)).toMatch(/at most 256/);
    expect(partitionOpProblem({ ...decide('tx1').op, forget: [7] }, 0, 2)).toMatch(/forget txid/);
  });
});
