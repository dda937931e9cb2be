import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PortalClient } from '../../src/client/portal-client.js';
import type { ReplyMsg } from '../../src/portal/messages.js';
import { testSeed } from '../helpers/seed.js';
import { startSinglePortal } from './fixture.js';

/**
 * Thousands of random and malformed requests on every RPC through real gRPC: the server must
 * never crash and never answer 500; every refusal is a 400 or 404 with a text.
 */
const ids = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('1', '2', '3', '10', '11') },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 8 }) },
  { weight: 1, arbitrary: fc.constantFrom('', '0', '-1', ' ', '\u0000', 'x'.repeat(129), 'ç'.repeat(128), '__proto__', 'constructor') },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength: 100, maxLength: 300 }) },
);

const jsonish = fc.letrec((tie) => ({
  v: fc.oneof(
    { depthSize: 'small' },
    fc.string({ unit: 'grapheme', maxLength: 10 }),
    fc.integer(),
    fc.double(),
    fc.constantFrom('NaN', 'Infinity', '-Infinity', '1e309', '-0', '5.9', '-3', '1e-7', '9007199254740993'),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('v'), { maxLength: 4 }),
    fc.dictionary(fc.constantFrom('name', 'price', 'quantity', 'id', 'PID', 'products', '__proto__', 'x'), tie('v'), { maxKeys: 4 }),
  ),
})).v;

const data = fc.oneof(
  { weight: 4, arbitrary: jsonish.map((v) => JSON.stringify(v) ?? 'undefined') },
  { weight: 2, arbitrary: fc.record({ name: fc.string(), price: jsonish, quantity: jsonish }).map((v) => JSON.stringify(v)) },
  { weight: 2, arbitrary: fc.array(fc.record({ id: ids, quantity: jsonish }), { maxLength: 5 }).map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.constantFrom('{"price": NaN, "quantity": Infinity, "name": "x"}', '[{"id": 1, "quantity": -Infinity}]', '{"name": "a", "name": "b"}') },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 40_000 }).map((n) => '['.repeat(n) + ']'.repeat(n)) },
  { weight: 1, arbitrary: fc.integer({ min: 60_000, max: 80_000 }).map((n) => JSON.stringify({ name: 'x'.repeat(n) })) },
);

type Call = (c: PortalClient) => Promise<ReplyMsg | object>;
const call: fc.Arbitrary<{ name: string; run: Call; write: boolean }> = fc.oneof(
  fc.tuple(ids, data).map(([a, d]) => ({ name: 'CreateClient', write: true, run: (c: PortalClient) => c.createClient(a, d) })),
  fc.tuple(ids, data).map(([a, d]) => ({ name: 'UpdateClient', write: true, run: (c: PortalClient) => c.updateClient(a, d) })),
  ids.map((a) => ({ name: 'DeleteClient', write: true, run: (c: PortalClient) => c.deleteClient(a) })),
  ids.map((a) => ({ name: 'RetrieveClient', write: false, run: (c: PortalClient) => c.retrieveClient(a) })),
  fc.tuple(ids, data).map(([a, d]) => ({ name: 'CreateProduct', write: true, run: (c: PortalClient) => c.createProduct(a, d) })),
  fc.tuple(ids, data).map(([a, d]) => ({ name: 'UpdateProduct', write: true, run: (c: PortalClient) => c.updateProduct(a, d) })),
  ids.map((a) => ({ name: 'DeleteProduct', write: true, run: (c: PortalClient) => c.deleteProduct(a) })),
  ids.map((a) => ({ name: 'RetrieveProduct', write: false, run: (c: PortalClient) => c.retrieveProduct(a) })),
  fc.tuple(ids, ids, data).map(([o, a, d]) => ({ name: 'CreateOrder', write: true, run: (c: PortalClient) => c.createOrder(o, a, d) })),
  fc.tuple(ids, ids, data).map(([o, a, d]) => ({ name: 'UpdateOrder', write: true, run: (c: PortalClient) => c.updateOrder(o, a, d) })),
  ids.map((a) => ({ name: 'DeleteOrder', write: true, run: (c: PortalClient) => c.deleteOrder(a) })),
  ids.map((a) => ({ name: 'RetrieveOrder', write: false, run: (c: PortalClient) => c.retrieveOrder(a) })),
  ids.map((a) => ({ name: 'RetrieveClientOrders', write: false, run: (c: PortalClient) => c.retrieveClientOrders(a) })),
);

describe('fuzzing every RPC', () => {
  let portal: Awaited<ReturnType<typeof startSinglePortal>>;
  beforeAll(async () => {
    portal = await startSinglePortal();
    const c = portal.client;
    for (const cid of ['1', '2']) await c.createClient(cid, '{"name": "Ana"}');
    for (const pid of ['10', '11']) await c.createProduct(pid, '{"name": "P", "price": "2.5", "quantity": 100}');
    await c.createOrder('3', '1', '[{"id": "10", "quantity": 1}]');
  });
  afterAll(async () => portal?.stop());

  // docs/spec.md: R-CODE-1, R-PORT-4
  it('answers 4,000 random and malformed requests without a crash or a 500', async () => {
    const seed = testSeed('fuzzing every RPC');
    const calls = fc.sample(call, { numRuns: 4000, seed });
    const codes = new Map<number, number>();
    const concurrency = 32;
    let next = 0;
    const worker = async () => {
      while (next < calls.length) {
        const { name, run, write } = calls[next++]!;
        const result = await run(portal.client);
        if (write) {
          const reply = result as ReplyMsg;
          codes.set(reply.error, (codes.get(reply.error) ?? 0) + 1);
          expect([0, 400, 404], `${name} answered ${JSON.stringify(reply)}`).toContain(reply.error);
          if (reply.error !== 0) expect(reply.description, name).toMatch(/\S/);
          else expect(reply.description).toBeUndefined();
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    console.log('reply codes:', Object.fromEntries(codes));
    // The server is still healthy and consistent afterwards.
    expect(await portal.client.createClient('after-fuzz', '{"name": "ok"}')).toEqual({ error: 0 });
    expect(codes.get(400)).toBeGreaterThan(100);
    expect(codes.get(404)).toBeGreaterThan(100);
  });
});
