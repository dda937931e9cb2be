import { describe, expect, it } from 'vitest';
import { MemoryState } from '../../src/domain/memory-state.js';
import type { ProductRecord } from '../../src/domain/records.js';
import { InvariantError } from '../../src/util/assert.js';

/**
 * The machine's post-conditions cannot be reached through the rules (the property test runs
 * thousands of random commands through them); they guard against a rule with a bug or a store
 * that hands back damaged records. Here the store is damaged by hand, and the command that
 * would carry the damage further is stopped before anything is written.
 */
describe('post-conditions of the business machine', () => {
  function shopWithOneOrder(): MemoryState {
    const state = new MemoryState();
    for (const command of [
      { op: 'CreateClient', cid: '1', data: '{"name": "Ana"}' },
      { op: 'CreateProduct', pid: '10', data: '{"name": "Caneta", "price": "2.5", "quantity": 5}' },
      { op: 'CreateOrder', oid: '20', cid: '1', data: '[{"id": "10", "quantity": 2}]' },
    ] as const) {
      expect(state.execute(command).reply.code).toBe(0);
    }
    return state;
  }

  function damageProduct(state: MemoryState, change: Partial<ProductRecord>): void {
    const product = state.get('product', '10');
    if (product === undefined) throw new Error('product 10 was not created');
    state.apply([{ key: { kind: 'product', id: '10' }, value: { ...product, ...change } }]);
  }

  it('refuses to leave a product in fewer than zero orders', () => {
    const state = shopWithOneOrder();
    damageProduct(state, { orderRefs: 0 });
    expect(() => state.execute({ op: 'DeleteOrder', oid: '20' })).toThrow(InvariantError);
    expect(() => state.execute({ op: 'DeleteOrder', oid: '20' })).toThrow(/product 10 would be left in -1 orders/);
    expect(state.get('order', '20')).toBeDefined();
  });

  it('refuses to leave a product with negative stock', () => {
    const state = shopWithOneOrder();
    damageProduct(state, { quantity: -5 });
    expect(() => state.execute({ op: 'DeleteOrder', oid: '20' })).toThrow(/product 10 would be left with stock -3/);
    expect(state.get('order', '20')).toBeDefined();
    expect(state.get('product', '10')?.quantity).toBe(-5);
  });

  it('lets an undamaged shop through', () => {
    const state = shopWithOneOrder();
    expect(state.execute({ op: 'DeleteOrder', oid: '20' }).reply.code).toBe(0);
    expect(state.get('product', '10')).toMatchObject({ quantity: 5, orderRefs: 0 });
  });
});
