import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EtcdBackend } from '../../src/modes/etcd/backend.js';
import type { LocalEtcdCluster } from '../../src/modes/etcd/cluster.js';
import { StoreUnavailableError } from '../../src/domain/backend.js';
import { etcdMissing, freshPrefix, openBackend, startTestCluster } from './helpers.js';

const run = promisify(execFile);

/** The documented key layout seen from etcdctl, shops isolated by prefix, and the watch-fed read cache. */
describe.skipIf(etcdMissing)('etcd mode key layout and read cache', () => {
  let cluster: LocalEtcdCluster;
  const opened: EtcdBackend[] = [];
  const open = async (...args: Parameters<typeof openBackend> extends [unknown, ...infer R] ? R : never) => {
    const backend = await openBackend(cluster, ...args);
    opened.push(backend);
    return backend;
  };

  beforeAll(async () => {
    cluster = await startTestCluster();
  });
  afterAll(async () => {
    for (const backend of opened) await backend.close();
    await cluster?.stop();
  });

  it('stores {prefix}/{kind}/{id} = JSON record, and shops with different prefixes never see each other', async () => {
    const north = freshPrefix('north');
    const south = `${north}x`; // shares the text of north as a prefix: the "/" separator must keep them apart
    const a = await open(north);
    const b = await open(south);
    expect(await a.execute({ op: 'CreateClient', cid: '7', data: '{"name": "Ana"}' })).toEqual({ code: 0 });
    expect(await a.execute({ op: 'CreateProduct', pid: '1', data: '{"name": "Caneta", "price": "2.50", "quantity": 3}' })).toEqual({ code: 0 });
    expect(await a.execute({ op: 'CreateOrder', oid: '9', cid: '7', data: '[{"id": "1", "quantity": 2}]' })).toEqual({ code: 0 });

    const { stdout } = await run('etcdctl', ['--endpoints', cluster.endpoints.join(','), 'get', '--prefix', `${north}/`], { env: { ...process.env, ETCDCTL_API: '3' } });
    const lines = stdout.trim().split('\n');
    const stored = new Map<string, unknown>();
    for (let i = 0; i + 1 < lines.length; i += 2) stored.set(lines[i]!, JSON.parse(lines[i + 1]!));
    expect(stored).toEqual(
      new Map<string, unknown>([
        [`${north}/client/7`, { kind: 'client', name: 'Ana', orderCount: 1, lastSeq: 1 }],
        // The client's order index: one small record per order, keyed by client and creation sequence.
        [`${north}/clientOrder/7\u001f0000000000000001`, { kind: 'clientOrder', oid: '9', seq: 1 }],
        [`${north}/order/9`, { kind: 'order', cid: '7', seq: 1, items: [{ pid: '1', name: 'Caneta', price: '2.50', quantity: 2 }] }],
        [`${north}/product/1`, { kind: 'product', name: 'Caneta', price: '2.50', quantity: 1, orderRefs: 1 }],
      ]),
    );

    expect(await b.read('client', '7')).toBeUndefined();
    expect(await b.execute({ op: 'CreateClient', cid: '7', data: '{"name": "Bia"}' })).toEqual({ code: 0 });
    expect((await a.read('client', '7'))?.name).toBe('Ana');
  });

  it('serves repeated reads from the cache and hears other portals\' writes through the watch', async () => {
    const prefix = freshPrefix('cache');
    const cached = await open(prefix, { cache_ms: 60_000 });
    const other = await open(prefix);
    const cache = cached.readCache!;
    expect(cache).toBeDefined();
    await cache.ready(5_000);
    expect(await other.execute({ op: 'CreateProduct', pid: '1', data: '{"name": "P", "price": "1", "quantity": 5}' })).toEqual({ code: 0 });

    expect((await cached.read('product', '1'))?.quantity).toBe(5);
    const hitsBefore = cache.hits;
    expect((await cached.read('product', '1'))?.quantity).toBe(5);
    expect(cache.hits, 'the second read is a cache hit').toBe(hitsBefore + 1);

    expect(await other.execute({ op: 'UpdateProduct', pid: '1', data: '{"name": "P", "price": "1", "quantity": 2}' })).toEqual({ code: 0 });
    const { revision } = await other.store.read([], undefined, Date.now() + 5_000);
    await cache.caughtUp(revision, 5_000);
    expect((await cached.read('product', '1'))?.quantity, 'the watch replaced the cached value').toBe(2);
    expect(cache.hits, 'and it was served from the cache').toBe(hitsBefore + 2);

    expect(await other.execute({ op: 'DeleteProduct', pid: '1' })).toEqual({ code: 0 });
    await cache.caughtUp((await other.store.read([], undefined, Date.now() + 5_000)).revision, 5_000);
    expect(await cached.read('product', '1'), 'a watched delete is cached as absent').toBeUndefined();
  });

  it('starts a cached portal while etcd is unreachable, answering 503s until etcd is there', async () => {
    const { freePort } = await import('../helpers/ports.js');
    const nowhere = `http://127.0.0.1:${await freePort()}`;
    const started = Date.now();
    const backend = await openBackend({ endpoints: [nowhere] }, freshPrefix('nowhere'), { cache_ms: 60_000, timeout_ms: 500 });
    opened.push(backend);
    expect(Date.now() - started, 'opening does not wait for etcd').toBeLessThan(1_000);
    await expect(backend.read('client', '1')).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(await backend.execute({ op: 'CreateClient', cid: '1', data: '{"name": "Ana"}' })).toMatchObject({ code: 503 });
  });

  // docs/spec.md: R-CONS-9
  it('never lets a cached value feed a write', async () => {
    const prefix = freshPrefix('stale');
    const cached = await open(prefix, { cache_ms: 60_000 });
    await cached.readCache!.ready(5_000);
    expect(await cached.execute({ op: 'CreateClient', cid: '1', data: '{"name": "Ana"}' })).toEqual({ code: 0 });
    expect(await cached.execute({ op: 'CreateProduct', pid: '1', data: '{"name": "P", "price": "1", "quantity": 0}' })).toEqual({ code: 0 });
    // Plant a wrong entry that claims stock, as a cache that missed an update would hold.
    const planted = { kind: 'product' as const, name: 'P', price: '1', quantity: 50, orderRefs: 0 };
    cached.readCache!.offer({ kind: 'product', id: '1' }, { record: planted, modRevision: '1' }, String(Number.MAX_SAFE_INTEGER), cached.readCache!.now());
    expect((await cached.read('product', '1'))?.quantity, 'reads do use the planted entry').toBe(50);
    const reply = await cached.execute({ op: 'CreateOrder', oid: '1', cid: '1', data: '[{"id": "1", "quantity": 1}]' });
    expect(reply, 'the write read the real stock from etcd').toMatchObject({ code: 400, message: { key: 'stockUnavailable' } });
  });
});
