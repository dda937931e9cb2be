import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Command } from '../../src/domain/commands.js';
import { MemoryState } from '../../src/domain/memory-state.js';
import { orderCountOf, type OrderRecord, type ProductRecord } from '../../src/domain/records.js';
import { testSeed } from '../helpers/seed.js';

/**
 * Random command sequences against the state machine. Small ID pools make collisions,
 * references and stock exhaustion common, so every rule gets exercised.
 */
const cids = ['1', '2', '3'];
const pids = ['10', '11', '12', '13'];
const oids = ['20', '21', '22', '23', '24'];

const quantity = fc.oneof(
  { weight: 5, arbitrary: fc.integer({ min: 0, max: 12 }) },
  { weight: 5, arbitrary: fc.integer({ min: 0, max: 12 }).map(String) },
  { weight: 1, arbitrary: fc.constantFrom(-1, '-2', 2.5, '3.0', 'x', null, 9007199254740991, '9007199254740992') },
);
const lines = fc.array(
  fc.record({ id: fc.oneof({ weight: 12, arbitrary: fc.constantFrom(...pids) }, { weight: 1, arbitrary: fc.constant('99') }), quantity }),
  { maxLength: 4 },
);
const orderData = fc.oneof({ weight: 8, arbitrary: lines.map((l) => JSON.stringify(l)) }, { weight: 1, arbitrary: fc.constantFrom('{', '[1]', '{"products": 3}') });
const productData = fc.oneof(
  { weight: 6, arbitrary: fc.record({ name: fc.constantFrom('A', 'B'), price: fc.constantFrom('1', '2.50', 0.1, 3), quantity }).map((p) => JSON.stringify(p)) },
  { weight: 1, arbitrary: fc.constantFrom('{"name": "A", "price": -1, "quantity": 1}', 'nope', '{"price": "1", "quantity": 1}') },
);

/** Every run starts with all clients and products in place, so orders are common from the start. */
const setup: Command[] = [
  ...cids.map((cid): Command => ({ op: 'CreateClient', cid, data: '{"name": "Ana"}' })),
  ...pids.map((pid): Command => ({ op: 'CreateProduct', pid, data: '{"name": "P", "price": "2.50", "quantity": 10}' })),
];

const command: fc.Arbitrary<Command> = fc.oneof(
  fc.record({ op: fc.constant('CreateClient' as const), cid: fc.constantFrom(...cids), data: fc.constantFrom('{"name": "Ana"}', '{"name": ""}') }),
  fc.record({ op: fc.constant('UpdateClient' as const), cid: fc.constantFrom(...cids), data: fc.constantFrom('{"name": "Bia"}', '[]') }),
  fc.record({ op: fc.constant('DeleteClient' as const), cid: fc.constantFrom(...cids) }),
  fc.record({ op: fc.constant('CreateProduct' as const), pid: fc.constantFrom(...pids), data: productData }),
  fc.record({ op: fc.constant('UpdateProduct' as const), pid: fc.constantFrom(...pids), data: productData }),
  fc.record({ op: fc.constant('DeleteProduct' as const), pid: fc.constantFrom(...pids) }),
  fc.record({ op: fc.constant('CreateOrder' as const), oid: fc.constantFrom(...oids), cid: fc.constantFrom(...cids, '9'), data: orderData }),
  fc.record({ op: fc.constant('CreateOrder' as const), oid: fc.constantFrom(...oids), cid: fc.constantFrom(...cids), data: orderData }),
  fc.record({ op: fc.constant('CreateOrder' as const), oid: fc.constantFrom(...oids), cid: fc.constantFrom(...cids), data: orderData }),
  fc.record({ op: fc.constant('UpdateOrder' as const), oid: fc.constantFrom(...oids), cid: fc.constantFrom(...cids), data: orderData }),
  fc.record({ op: fc.constant('UpdateOrder' as const), oid: fc.constantFrom(...oids), cid: fc.constantFrom(...cids), data: orderData }),
  fc.record({ op: fc.constant('UpdateOrder' as const), oid: fc.constantFrom(...oids), cid: fc.constantFrom(...cids), data: orderData }),
  fc.record({ op: fc.constant('DeleteOrder' as const), oid: fc.constantFrom(...oids) }),
  fc.record({ op: fc.constant('DeleteOrder' as const), oid: fc.constantFrom(...oids) }),
);

function orders(state: MemoryState): Array<[string, OrderRecord]> {
  return oids.flatMap((oid) => {
    const order = state.get('order', oid);
    return order === undefined ? [] : [[oid, order] as [string, OrderRecord]];
  });
}

describe('state machine properties', () => {
  it('conserves units, never goes negative, keeps references exact, and a rejected command changes nothing', () => {
    const seed = testSeed('state machine properties');
    fc.assert(
      fc.property(fc.array(command, { minLength: 10, maxLength: 80, size: 'max' }), (randomCommands) => {
        const commands = [...setup, ...randomCommands];
        const state = new MemoryState();
        // Units each product owns in all: set by Create/UpdateProduct (an update is only
        // allowed while no order holds the product, so it replaces the whole amount).
        const owned = new Map<string, number>();
        for (const cmd of commands) {
          const before = JSON.stringify(state.snapshot());
          const { reply, writes } = state.execute(cmd);
          if (reply.code !== 0) {
            expect(writes).toEqual([]);
            expect(JSON.stringify(state.snapshot())).toBe(before);
            continue;
          }
          if (cmd.op === 'CreateProduct' || cmd.op === 'UpdateProduct') owned.set(cmd.pid, state.get('product', cmd.pid)!.quantity);
          if (cmd.op === 'DeleteProduct') owned.delete(cmd.pid);

          const all = orders(state);
          for (const pid of pids) {
            const product: ProductRecord | undefined = state.get('product', pid);
            const holding = all.filter(([, o]) => o.items.some((i) => i.pid === pid));
            if (product === undefined) {
              expect(holding).toEqual([]);
              continue;
            }
            expect(product.quantity).toBeGreaterThanOrEqual(0);
            const inOrders = holding.reduce((sum, [, o]) => sum + o.items.filter((i) => i.pid === pid).reduce((s, i) => s + i.quantity, 0), 0);
            expect(product.quantity + inOrders).toBe(owned.get(pid));
            expect(product.orderRefs).toBe(holding.length);
          }
          for (const cid of cids) {
            const client = state.get('client', cid);
            const own = all.filter(([, o]) => o.cid === cid).map(([oid]) => oid);
            if (client === undefined) expect(own).toEqual([]);
            else {
              // Legacy list first, then the order index (R-ORDER-16): together, exactly the client's orders.
              const listed = [...(client.orders ?? []), ...state.clientOrders(cid, 0, 1_000_000).entries.map((e) => e.oid)];
              expect(listed.sort()).toEqual(own.sort());
              expect(orderCountOf(client)).toBe(own.length);
            }
          }
          for (const [, o] of all) {
            expect(new Set(o.items.map((i) => i.pid)).size).toBe(o.items.length);
            for (const item of o.items) expect(item.quantity).toBeGreaterThan(0);
          }
        }
      }),
      { seed, numRuns: 400 },
    );
  });

  it('is deterministic: the same commands give the same replies and state', () => {
    const seed = testSeed('state machine determinism');
    fc.assert(
      fc.property(fc.array(command, { maxLength: 60, size: 'max' }), (randomCommands) => {
        const commands = [...setup, ...randomCommands];
        const a = new MemoryState();
        const b = new MemoryState();
        for (const cmd of commands) expect(a.execute(cmd)).toEqual(b.execute(cmd));
        expect(a.snapshot()).toEqual(b.snapshot());
      }),
      { seed, numRuns: 100 },
    );
  });
});
