import { describe, expect, it } from 'vitest';
import { canonicalJson, checkIdentical, readerOf } from '../../src/chaos/mqtt-check.js';
import { checkShop, newShopModel, PRODUCTS, BASE_CLIENTS } from '../../src/chaos/shop.js';
import type { StateReply } from '../../src/modes/mqtt/protocol.js';
import type { StateSnapshot } from '../../src/domain/memory-state.js';

/** The mqtt-mode checkers on states built by hand: they must see a difference or an oversell wherever there is one. */
type Records = StateSnapshot['records'];

function state(from: string, records: Records, position = 10, digest = 'abc'): StateReply {
  return { n: 'nonce', from, position, digest, applied: { p1: 4, p2: 6 }, records };
}

function shopRecords(stock14: number, orderUnits14: number): Records {
  const records: Array<Records[number]> = PRODUCTS.map((p) => ['product', p.pid, { kind: 'product', name: `p${p.pid}`, price: '1.5', quantity: p.pid === '14' ? stock14 : p.units, orderRefs: p.pid === '14' ? 1 : 0 }]);
  for (const cid of BASE_CLIENTS) records.push(['client', cid, { kind: 'client', name: 'base', orders: cid === '21' ? ['o1'] : [] }]);
  records.push(['order', 'o1', { kind: 'order', cid: '21', items: [{ pid: '14', name: 'p14', quantity: orderUnits14, price: '1.5' }] }]);
  return records;
}

describe('mqtt-mode checkers', () => {
  it('canonical JSON ignores the order of object keys, not of arrays', () => {
    expect(canonicalJson({ b: 1, a: [2, { d: 3, c: 4 }] })).toBe(canonicalJson({ a: [2, { c: 4, d: 3 }], b: 1 }));
    expect(canonicalJson([1, 2])).not.toBe(canonicalJson([2, 1]));
  });

  it('identical states pass, whatever order their records and keys were listed in', () => {
    const records = shopRecords(50, 10);
    // Same content, listed backwards with every record's fields backwards.
    const shuffled = [...records].reverse().map(([k, id, r]) => [k, id, Object.fromEntries(Object.entries(r).reverse()) as typeof r] as const);
    expect(checkIdentical([state('a', records), state('b', shuffled), state('c', records)])).toEqual([]);
  });

  it('a record that differs, a missing record, another position or another dedup table is a violation naming what differs', () => {
    const good = shopRecords(50, 10);
    const other = shopRecords(49, 10);
    const differing = checkIdentical([state('a', good), state('b', other)]);
    expect(differing.map((v) => v.keys)).toEqual([['product/14']]);
    expect(checkIdentical([state('a', good), state('b', good.slice(1))])[0]!.keys).toEqual(['product/11']);
    expect(checkIdentical([state('a', good), state('b', good, 11, 'abd')])[0]!.message).toMatch(/applied different logs/);
    expect(checkIdentical([state('a', good), { ...state('b', good), applied: { p1: 4 } }])[0]!.message).toMatch(/deduplication tables/);
    expect(checkIdentical([])[0]!.checker).toBe('portals-identical');
  });

  it('an oversold final state fails conservation; a negative stock fails too', async () => {
    const model = newShopModel();
    model.orders.set('o1', { state: 'present', items: new Map([['14', 10]]) });
    // 60 units created: 50 in stock + 10 in the order is right, 50 + 11 is one unit sold twice.
    expect((await checkShop(readerOf(state('a', shopRecords(50, 10))), model, [])).violations).toEqual([]);
    model.orders.set('o1', { state: 'present', items: new Map([['14', 11]]) });
    const oversold = await checkShop(readerOf(state('a', shopRecords(50, 11))), model, []);
    expect(oversold.violations.map((v) => v.checker)).toEqual(['conservation']);
    const negative = await checkShop(readerOf(state('a', shopRecords(-1, 61))), { ...model, orders: new Map([['o1', { state: 'present', items: new Map([['14', 61]]) }]]) }, []);
    expect(negative.violations.map((v) => v.checker)).toEqual(['no-negative-stock']);
  });
});
