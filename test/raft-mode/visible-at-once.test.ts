import { describe, expect, it } from 'vitest';
import { OK } from '../../src/domain/commands.js';
import { partitionOf } from '../../src/storage/common/partitioning.js';
import { sharedRaftCluster } from './cluster.js';

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
    }
  });
});
