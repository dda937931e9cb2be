import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalEtcdCluster, type LocalEtcdCluster } from '../../src/modes/etcd/cluster.js';
import { etcdMissing, freshPrefix, openBackend, startTestCluster } from './helpers.js';

/** Orders that touch more records than one etcd read batch, and etcd's per-transaction limit. */
describe.skipIf(etcdMissing)('etcd mode with large orders', () => {
  let cluster: LocalEtcdCluster;
  let strict: LocalEtcdCluster;

  beforeAll(async () => {
    [cluster, strict] = await Promise.all([startTestCluster(), startLocalEtcdCluster({ size: 1, maxTxnOps: 128 })]);
  });
  afterAll(async () => {
    await cluster?.stop();
    await strict?.stop();
  });

  const products = (count: number) => Array.from({ length: count }, (_, i) => String(i + 1));

  it('creates, updates and deletes an order of 300 products atomically', async () => {
    const backend = await openBackend(cluster, freshPrefix('big'), { timeout_ms: 20_000 });
    try {
      const pids = products(300);
      expect(await backend.execute({ op: 'CreateClient', cid: 'c', data: '{"name": "Big"}' })).toEqual({ code: 0 });
      for (const pid of pids) {
        expect(await backend.execute({ op: 'CreateProduct', pid, data: '{"name": "P", "price": "0.10", "quantity": 5}' })).toEqual({ code: 0 });
      }
      const items = pids.map((id) => ({ id, quantity: 2 }));
      expect(await backend.execute({ op: 'CreateOrder', oid: 'o', cid: 'c', data: JSON.stringify(items) })).toEqual({ code: 0 });
      expect((await backend.read('order', 'o'))?.items).toHaveLength(300);
      expect((await backend.read('product', '300'))?.quantity).toBe(3);

      // One product short of stock rejects the whole update: nothing of the other 299 moves.
      const tooMuch = pids.map((id) => ({ id, quantity: id === '150' ? 9 : 1 }));
      expect(await backend.execute({ op: 'UpdateOrder', oid: 'o', cid: 'c', data: JSON.stringify(tooMuch) })).toMatchObject({ code: 400 });
      expect((await backend.read('product', '1'))?.quantity).toBe(3);

      // Deleting reads the order, then its 300 products and its client together, at the same revision.
      let reads = 0;
      const read = backend.store.read.bind(backend.store);
      backend.store.read = (...args) => (reads++, read(...args));
      expect(await backend.execute({ op: 'DeleteOrder', oid: 'o' })).toEqual({ code: 0 });
      expect(reads, 'two reads, not one per product').toBe(2);
      backend.store.read = read;
      for (const pid of ['1', '150', '300']) expect(await backend.read('product', pid)).toMatchObject({ quantity: 5, orderRefs: 0 });
      expect(await backend.read('client', 'c')).toMatchObject({ orderCount: 0 });
      expect(await backend.clientOrders('c', 0, 10)).toEqual({ entries: [], next: null });
    } finally {
      await backend.close();
    }
  });

  it("pages a client's orders out of etcd in creation order, one bounded range call per page (R-ORDER-16)", async () => {
    const prefix = freshPrefix('pages');
    const backend = await openBackend(cluster, prefix);
    // A client whose ID shares the first one's text as a prefix: its index keys must never leak into the first's.
    const neighbour = await openBackend(cluster, prefix);
    try {
      for (const cid of ['c', 'c1']) expect(await backend.execute({ op: 'CreateClient', cid, data: '{"name": "Ana"}' })).toEqual({ code: 0 });
      const oids = Array.from({ length: 40 }, (_, i) => `o${i}`);
      for (const oid of oids) expect(await backend.execute({ op: 'CreateOrder', oid, cid: 'c', data: '[]' })).toEqual({ code: 0 });
      expect(await neighbour.execute({ op: 'CreateOrder', oid: 'x', cid: 'c1', data: '[]' })).toEqual({ code: 0 });
      expect(await backend.execute({ op: 'DeleteOrder', oid: 'o16' })).toEqual({ code: 0 });
      const listed: string[] = [];
      const sizes: number[] = [];
      for (let after: number | null = 0; after !== null; ) {
        const page = await backend.clientOrders('c', after, 16);
        sizes.push(page.entries.length);
        listed.push(...page.entries.map((e) => e.oid));
        after = page.next;
      }
      expect(listed).toEqual(oids.filter((oid) => oid !== 'o16'));
      expect(sizes).toEqual([16, 16, 7]);
      expect((await neighbour.clientOrders('c1', 0, 16)).entries).toEqual([{ seq: 1, oid: 'x' }]);
    } finally {
      await backend.close();
      await neighbour.close();
    }
  });

  it("answers 500 naming etcd's --max-txn-ops when an order needs more operations than the cluster allows", async () => {
    const backend = await openBackend(strict, freshPrefix('strict'));
    try {
      expect(await backend.execute({ op: 'CreateClient', cid: 'c', data: '{"name": "Big"}' })).toEqual({ code: 0 });
      for (const pid of products(130)) {
        expect(await backend.execute({ op: 'CreateProduct', pid, data: '{"name": "P", "price": "1", "quantity": 5}' })).toEqual({ code: 0 });
      }
      const reply = await backend.execute({ op: 'CreateOrder', oid: 'o', cid: 'c', data: JSON.stringify(products(130).map((id) => ({ id, quantity: 1 }))) });
      expect(reply).toMatchObject({ code: 500, message: { key: 'internalError' } });
      expect(JSON.stringify(reply)).toContain('--max-txn-ops');
      expect(await backend.read('order', 'o')).toBeUndefined();
    } finally {
      await backend.close();
    }
  });
});
