import { describe, expect, it } from 'vitest';
import { OK } from '../../src/domain/commands.js';
import { partitionOf } from '../../src/storage/common/partitioning.js';
import { sharedRaftCluster } from './cluster.js';
import { clientOrderPages } from '../../src/domain/client-orders.js';

/**
 * An order across partitions is acknowledged once its verdict is durable, before phase 2 has
 * written every record (docs/spec.md R-CONS-7). Another portal reading right after the
 * acknowledgement must see it anyway: the order, the client's list and the stock. Orders
 * follow each other as fast as they are answered, so many reads land while the records are
 * still locked and are answered from the verdict.
 */
describe('an acknowledged cross-partition order is visible at once', () => {
  const cluster = sharedRaftCluster();

  it('to another portal, for every one of 60 orders in a row', { timeout: 60_000 }, async () => {
    const writer = cluster.backend();
    const reader = cluster.backend();
    // Client, order IDs and the two products spread over both partitions.
    expect(await writer.execute({ op: 'CreateClient', cid: '1', data: '{"name": "Ana"}' })).toEqual(OK);
    expect(await writer.execute({ op: 'CreateProduct', pid: '2', data: '{"name": "Caneta", "price": "2", "quantity": 1000}' })).toEqual(OK);
    expect(await writer.execute({ op: 'CreateProduct', pid: '3', data: '{"name": "Lapis", "price": "1", "quantity": 1000}' })).toEqual(OK);
    expect(new Set(['1', '2', '3'].map((id) => partitionOf(id, cluster.topology.partitions))).size).toBe(2);
    for (let n = 1; n <= 60; n++) {
      const oid = String(100 + n);
      expect(await writer.execute({ op: 'CreateOrder', oid, cid: '1', data: '[{"id": "2", "quantity": 1}, {"id": "3", "quantity": 2}]' })).toEqual(OK);
      const [order, pen, pencil] = await Promise.all([reader.read('order', oid), reader.read('product', '2'), reader.read('product', '3')]);
      expect(order?.items.map((i) => [i.pid, i.quantity]), `order ${oid}`).toEqual([['2', 1], ['3', 2]]);
      expect(pen?.quantity, `pen stock after order ${oid}`).toBe(1000 - n);
      expect(pencil?.quantity, `pencil stock after order ${oid}`).toBe(1000 - 2 * n);
      // The client's order index, on the client's partition, merged with the verdict when still locked.
      expect((await reader.clientOrders('1', n - 1, 1)).entries, `index entry of order ${oid}`).toEqual([{ seq: n, oid }]);
    }
  });

  it('a client\'s 600 orders page out of the replicas\' LMDB in creation order (R-ORDER-16)', { timeout: 120_000 }, async () => {
    const writer = cluster.backend();
    const reader = cluster.backend();
    expect(await writer.execute({ op: 'CreateClient', cid: '7', data: '{"name": "Bia"}' })).toEqual(OK);
    const oids = Array.from({ length: 600 }, (_, i) => `p${i}`);
    // A few at a time: the partitions' logs batch them, and the test stays short on a busy machine.
    for (let at = 0; at < oids.length; at += 20) {
      const replies = await Promise.all(oids.slice(at, at + 20).map((oid) => writer.execute({ op: 'CreateOrder', oid, cid: '7', data: '[]' })));
      expect(replies.every((r) => r.code === 0), JSON.stringify(replies.find((r) => r.code !== 0))).toBe(true);
    }
    for (const oid of ['p0', 'p256', 'p599']) expect(await writer.execute({ op: 'DeleteOrder', oid })).toEqual(OK);
    const client = await reader.read('client', '7');
    expect(client).toMatchObject({ orderCount: 597, lastSeq: 600 });
    const listed: string[] = [];
    let pages = 0;
    for await (const page of clientOrderPages(reader, '7', client!, 256)) {
      pages++;
      listed.push(...page.map((e) => e.oid));
    }
    // Orders of one batch race for their sequence numbers; every batch was acknowledged before the next began.
    const batches = listed.map((oid) => Math.floor(Number(oid.slice(1)) / 20));
    expect(batches).toEqual([...batches].sort((a, b) => a - b));
    expect([...listed].sort()).toEqual(oids.filter((oid) => !['p0', 'p256', 'p599'].includes(oid)).sort());
    expect(pages).toBe(3);
  });
});
