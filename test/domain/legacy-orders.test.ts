import { describe, expect, it } from 'vitest';
import { clientOrders } from '../../src/domain/client-orders.js';
import { MemoryState } from '../../src/domain/memory-state.js';
import { clientOrderId, type StoredRecord } from '../../src/domain/records.js';
import { SingleBackend } from '../../src/modes/single/backend.js';
import { recordProblem } from '../../src/storage/common/validate.js';

/**
 * Data written before the order index (docs/spec.md R-FMT-9): a client record listing its
 * orders' IDs, orders without a sequence number. Such state comes back from a raft data folder,
 * an etcd prefix or an mqtt state transfer of an older build, and is read as it is.
 */
function legacyState(): MemoryState {
  const item = { pid: 'p', name: 'Caneta', price: '2.50', quantity: 1 };
  const records: Array<[StoredRecord['kind'], string, StoredRecord]> = [
    ['client', 'c', { kind: 'client', name: 'Ana', orders: ['old1', 'old2'] }],
    ['product', 'p', { kind: 'product', name: 'Caneta', price: '2.50', quantity: 8, orderRefs: 2 }],
    ['order', 'old1', { kind: 'order', cid: 'c', items: [item] }],
    ['order', 'old2', { kind: 'order', cid: 'c', items: [item] }],
  ];
  return MemoryState.fromSnapshot({ records });
}

async function listed(backend: SingleBackend): Promise<string[]> {
  const client = await backend.read('client', 'c');
  const oids: string[] = [];
  if (client !== undefined) for await (const [oid] of clientOrders(backend, 'c', client, 2)) oids.push(oid);
  return oids;
}

describe('client records of the format before the order index', () => {
  it('are valid records on every internal port', () => {
    const state = legacyState();
    expect(recordProblem(state.get('client', 'c'))).toBeUndefined();
    expect(recordProblem(state.get('order', 'old1'))).toBeUndefined();
    expect(recordProblem({ kind: 'client', name: 'x', orders: [7] })).toMatch(/legacy orders list/);
  });

  it('list their old orders first, then new ones; the old list only shrinks; the client can go once all are deleted', async () => {
    const backend = new SingleBackend(legacyState());
    const order = (oid: string) => ({ op: 'CreateOrder', oid, cid: 'c', data: '[{"id": "p", "quantity": 1}]' }) as const;
    for (const oid of ['new1', 'new2', 'new3']) expect(await backend.execute(order(oid))).toEqual({ code: 0 });
    expect(await listed(backend)).toEqual(['old1', 'old2', 'new1', 'new2', 'new3']);
    expect(await backend.read('client', 'c')).toMatchObject({ orders: ['old1', 'old2'], orderCount: 3, lastSeq: 3 });

    expect(await backend.execute({ op: 'DeleteClient', cid: 'c' })).toMatchObject({ code: 400 });
    expect(await backend.execute({ op: 'DeleteOrder', oid: 'old1' })).toEqual({ code: 0 });
    expect(await backend.execute({ op: 'DeleteOrder', oid: 'new2' })).toEqual({ code: 0 });
    expect(await listed(backend)).toEqual(['old2', 'new1', 'new3']);
    expect(await backend.read('client', 'c')).toMatchObject({ orders: ['old2'], orderCount: 2 });

    for (const oid of ['old2', 'new1', 'new3']) expect(await backend.execute({ op: 'DeleteOrder', oid })).toEqual({ code: 0 });
    expect(await listed(backend)).toEqual([]);
    expect(await backend.read('product', 'p')).toMatchObject({ quantity: 10, orderRefs: 0 });
    expect(await backend.execute({ op: 'DeleteClient', cid: 'c' })).toEqual({ code: 0 });
  });
});

describe('the in-memory order index', () => {
  it('keys a state transfer could forge (no sequence number, a value that disagrees) never break it', () => {
    const state = new MemoryState();
    const forged = (id: string, value: unknown) => state.apply([{ key: { kind: 'clientOrder', id }, value: value as StoredRecord }]);
    forged('c', { kind: 'clientOrder', oid: 'x', seq: 1 });
    forged('c\u001f12', { kind: 'clientOrder', oid: 'y', seq: 'abc' });
    forged(clientOrderId('c', 2), { kind: 'clientOrder', oid: 'z', seq: 'abc' });
    expect(state.clientOrders('c', 0, 10)).toEqual({ entries: [{ seq: 2, oid: 'z' }], next: null });
    for (const id of ['c', 'c\u001f12', clientOrderId('c', 2)]) state.apply([{ key: { kind: 'clientOrder', id }, value: null }]);
    expect(state.clientOrders('c', 0, 10)).toEqual({ entries: [], next: null });
  });
});
