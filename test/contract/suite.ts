import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PortalClient } from '../../src/client/portal-client.js';
import type { Backend } from '../../src/domain/backend.js';
import type { ReplyMsg } from '../../src/portal/messages.js';
import { startPortalServer } from '../../src/portal/server.js';
import { silentLogger } from '../../src/util/log.js';
import { rows } from './rows.js';

/**
 * The product contract (docs/spec.md) as a test suite any mode can run: every rule of every RPC,
 * success and each failure, the original's end-to-end scenario and the reply formats. Each
 * test names the rows of docs/spec.md it checks (rows.ts).
 * Replies are checked in Portuguese, the default language.
 */
/** A portal server in this process over `backend`, as a contract target; `onStop` tears down what it stands on. */
export async function portalTarget(backend: Backend, onStop: () => Promise<void> = () => Promise.resolve()): Promise<ContractTarget> {
  const server = await startPortalServer({ backend, lang: 'pt', log: silentLogger, host: '127.0.0.1', ports: [0] });
  const client = new PortalClient({ host: '127.0.0.1', port: server.ports[0]! });
  return {
    admin: client,
    order: client,
    async stop() {
      client.close();
      await server.shutdown();
      await onStop();
    },
  };
}

export interface ContractTarget {
  /** Client for AdminPortal calls. */
  readonly admin: PortalClient;
  /** Client for OrderPortal calls; may be another portal instance than `admin`. */
  readonly order: PortalClient;
  /** Waits until reads through either client see every write acknowledged so far. */
  settle?(): Promise<void>;
  stop(): Promise<void>;
}

const OK: ReplyMsg = { error: 0 };
const err = (error: number, description: string): ReplyMsg => ({ error, description });

export function defineContractSuite(label: string, start: () => Promise<ContractTarget>): void {
  describe(`contract (${label})`, () => {
    let t: ContractTarget;
    let admin: PortalClient;
    let order: PortalClient;
    // Numeric IDs so partitioned modes spread them; each test takes fresh ones.
    let nextId = 100_000;
    const id = () => String(nextId++);

    beforeAll(async () => {
      t = await start();
      admin = t.admin;
      order = t.order;
    });
    afterAll(async () => {
      await t?.stop();
    });

    const settled = async <T>(read: () => Promise<T>): Promise<T> => {
      await t.settle?.();
      return read();
    };
    const product = async (pid: string) => settled(() => admin.retrieveProduct(pid));
    const stockOf = async (pid: string) => (JSON.parse((await product(pid)).data) as { quantidade: string }).quantidade;
    const orderData = async (oid: string) => settled(() => order.retrieveOrder(oid));
    const newClient = async (name = 'Cliente') => {
      const cid = id();
      expect(await admin.createClient(cid, JSON.stringify({ name }))).toEqual(OK);
      return cid;
    };
    const newProduct = async (price: string | number, quantity: string | number, name = 'Produto') => {
      const pid = id();
      expect(await admin.createProduct(pid, JSON.stringify({ name, price, quantity }))).toEqual(OK);
      return pid;
    };
    const items = (...lines: Array<[string, string | number]>) => JSON.stringify(lines.map(([pid, quantity]) => ({ id: pid, quantity })));

    it(rows('R-SCEN-1', 'R-FMT-5', 'R-ORDER-12', "runs the original's end-to-end scenario to its exact final state"), async () => {
      expect(await admin.createClient('44', '{"name": "Lewis Hamilton"}')).toEqual(OK);
      expect(await settled(() => admin.retrieveClient('44'))).toEqual({ CID: '44', data: '{"nome": "Lewis Hamilton"}' });
      expect(await admin.updateClient('44', '{"name": "Sir Lewis Hamilton"}')).toEqual(OK);
      expect(await settled(() => admin.retrieveClient('44'))).toEqual({ CID: '44', data: '{"nome": "Sir Lewis Hamilton"}' });
      expect(await admin.deleteClient('44')).toEqual(OK);
      expect(await settled(() => admin.retrieveClient('44'))).toEqual({ CID: '0', data: '' });

      expect(await admin.createProduct('13', '{"name": "Bola", "price": 1250, "quantity": 5}')).toEqual(OK);
      expect(await product('13')).toEqual({ PID: '13', data: '{"nome": "Bola", "pre\\u00e7o": "1250", "quantidade": "5"}' });
      expect(await admin.updateProduct('13', '{"name": "Bola oficial", "price": "1300.00", "quantity": 4}')).toEqual(OK);
      expect(await product('13')).toEqual({ PID: '13', data: '{"nome": "Bola oficial", "pre\\u00e7o": "1300.00", "quantidade": "4"}' });
      expect(await admin.deleteProduct('13')).toEqual(OK);
      expect(await product('13')).toEqual({ PID: '0', data: '' });

      expect(await admin.createClient('2', '{"name": "Maria"}')).toEqual(OK);
      expect(await admin.createProduct('1', '{"name": "Caneta", "price": "2.5", "quantity": "8"}')).toEqual(OK);
      expect(await admin.createProduct('2', '{"name": "Lapis", "price": "3", "quantity": "9"}')).toEqual(OK);
      await t.settle?.();
      expect(await order.createOrder('10', '2', '[{"id": "1", "quantity": "3"}]')).toEqual(OK);
      expect(await stockOf('1')).toBe('5');
      expect(await order.updateOrder('10', '2', '[{"id": "1", "quantity": "2"}]')).toEqual(OK);
      expect(await stockOf('1')).toBe('6');
      expect(await order.updateOrder('10', '2', '[{"id": "1", "quantity": "4"}]')).toEqual(OK);
      expect(await stockOf('1')).toBe('4');
      expect(await order.updateOrder('10', '2', '[{"id": "2", "quantity": "5"}]')).toEqual(OK);
      expect(await stockOf('2')).toBe('4');
      expect(await order.updateOrder('10', '2', '[{"id": "1", "quantity": "0"}]')).toEqual(OK);
      expect(await stockOf('1')).toBe('8');
      expect(await order.updateOrder('10', '2', '[{"id": "2", "quantity": "2"}, {"id": "2", "quantity": "4"}]')).toEqual(OK);
      expect(await stockOf('2')).toBe('3');

      expect(await product('1')).toEqual({ PID: '1', data: '{"nome": "Caneta", "pre\\u00e7o": "2.5", "quantidade": "8"}' });
      expect(await product('2')).toEqual({ PID: '2', data: '{"nome": "Lapis", "pre\\u00e7o": "3", "quantidade": "3"}' });
      expect(await orderData('10')).toEqual({
        OID: '10',
        CID: '2',
        data: '{"products": [{"PID": "2", "price": "3", "quantity": "6", "name": "Lapis"}], "total": "18"}',
      });
    });

    describe('CreateClient', () => {
      it(rows('R-CLIENT-1', 'R-FMT-1', 'R-FMT-8', 'R-API-4', 'creates a client that reads back as {"nome": ...}'), async () => {
        const cid = id();
        expect(await admin.createClient(cid, '{"name": "Ana", "idade": 30}')).toEqual(OK);
        expect(await settled(() => admin.retrieveClient(cid))).toEqual({ CID: cid, data: '{"nome": "Ana"}' });
      });
      it(rows('R-CLIENT-2', 'refuses a CID that already exists, and keeps the first client'), async () => {
        const cid = await newClient('Primeira');
        expect(await admin.createClient(cid, '{"name": "Outra"}')).toEqual(err(400, `Já existe um cliente com o ID ${cid}`));
        expect((await settled(() => admin.retrieveClient(cid))).data).toBe('{"nome": "Primeira"}');
      });
      it.each([
        ['not JSON', 'Ana'],
        ['truncated JSON', '{"name": "Ana"'],
        ['not an object', '["Ana"]'],
        ['no name', '{"nome": "Ana"}'],
        ['empty name', '{"name": ""}'],
        ['name not a string', '{"name": 7}'],
        ['NaN', '{"name": NaN}'],
      ])(rows('R-CLIENT-3', 'R-DEV-1', 'R-CODE-4', 'refuses invalid data (%s) with 400 "Dados inválidos: ..."'), async (_case, data) => {
        const cid = id();
        const reply = await admin.createClient(cid, data);
        expect(reply.error).toBe(400);
        expect(reply.description).toMatch(/^Dados inválidos: .+/);
        expect(await settled(() => admin.retrieveClient(cid))).toEqual({ CID: '0', data: '' });
      });
    });

    describe('RetrieveClient', () => {
      it(rows('R-CLIENT-4', 'R-API-5', 'answers a missing client with CID "0" and empty data'), async () => {
        expect(await admin.retrieveClient(id())).toEqual({ CID: '0', data: '' });
      });
    });

    describe('UpdateClient', () => {
      it(rows('R-CLIENT-5', 'renames a client'), async () => {
        const cid = await newClient('Antes');
        expect(await admin.updateClient(cid, '{"name": "Depois"}')).toEqual(OK);
        expect((await settled(() => admin.retrieveClient(cid))).data).toBe('{"nome": "Depois"}');
      });
      it(rows('R-CLIENT-6', 'R-DEV-2', 'answers 404 for a missing client'), async () => {
        const cid = id();
        expect(await admin.updateClient(cid, '{"name": "X"}')).toEqual(err(404, `Não há nenhum usuário com o ID ${cid}`));
      });
      it(rows('R-CLIENT-3', 'R-CODE-4', 'refuses invalid data and keeps the old name'), async () => {
        const cid = await newClient('Mantido');
        const reply = await admin.updateClient(cid, '{"name": ""}');
        expect(reply.error).toBe(400);
        expect(reply.description).toMatch(/^Dados inválidos: /);
        expect((await settled(() => admin.retrieveClient(cid))).data).toBe('{"nome": "Mantido"}');
      });
    });

    describe('DeleteClient', () => {
      it(rows('R-CLIENT-7', 'deletes a client'), async () => {
        const cid = await newClient();
        expect(await admin.deleteClient(cid)).toEqual(OK);
        expect(await settled(() => admin.retrieveClient(cid))).toEqual({ CID: '0', data: '' });
      });
      it(rows('R-CLIENT-8', 'answers 404 for a missing client'), async () => {
        const cid = id();
        expect(await admin.deleteClient(cid)).toEqual(err(404, `Não há nenhum usuário com o ID ${cid}`));
      });
      it(rows('R-CLIENT-9', 'R-DEV-5', 'refuses to delete a client that has orders, until they are gone'), async () => {
        const cid = await newClient();
        const oid = id();
        await t.settle?.();
        expect(await order.createOrder(oid, cid, '[]')).toEqual(OK);
        await t.settle?.();
        expect(await admin.deleteClient(cid)).toEqual(err(400, 'Não é possível remover o cliente, pois ele possui pedidos'));
        expect(await order.deleteOrder(oid)).toEqual(OK);
        await t.settle?.();
        expect(await admin.deleteClient(cid)).toEqual(OK);
      });
    });

    describe('CreateProduct', () => {
      it(rows('R-PRODUCT-1', 'R-FMT-2', 'R-FMT-5', 'keeps the price as written and returns strings'), async () => {
        const a = await newProduct('2.50', 8, 'Caneta');
        const b = await newProduct(1250, '5', 'Bola');
        const c = await newProduct(0.1, 0, 'Clipe');
        expect((await product(a)).data).toBe('{"nome": "Caneta", "pre\\u00e7o": "2.50", "quantidade": "8"}');
        expect((await product(b)).data).toBe('{"nome": "Bola", "pre\\u00e7o": "1250", "quantidade": "5"}');
        expect((await product(c)).data).toBe('{"nome": "Clipe", "pre\\u00e7o": "0.1", "quantidade": "0"}');
      });
      it(rows('R-FMT-4', 'escapes non-ASCII names like Python json.dumps'), async () => {
        const pid = await newProduct('1', 1, 'Lápis ✏️ "azul"');
        expect((await product(pid)).data).toBe('{"nome": "L\\u00e1pis \\u270f\\ufe0f \\"azul\\"", "pre\\u00e7o": "1", "quantidade": "1"}');
      });
      it(rows('R-PRODUCT-2', 'refuses a PID that already exists'), async () => {
        const pid = await newProduct('1', 1);
        expect(await admin.createProduct(pid, '{"name": "X", "price": "1", "quantity": 1}')).toEqual(err(400, `Já existe um produto com o ID ${pid}`));
      });
      it.each([
        ['missing', '{"name": "X", "quantity": 1}'],
        ['negative', '{"name": "X", "price": "-1", "quantity": 1}'],
        ['not a number', '{"name": "X", "price": "abc", "quantity": 1}'],
        ['null', '{"name": "X", "price": null, "quantity": 1}'],
        ['Infinity text', '{"name": "X", "price": "Infinity", "quantity": 1}'],
        ['checked before a bad quantity and name', '{"price": "x", "quantity": "y"}'],
      ])(rows('R-PRODUCT-3', 'R-DEV-4', 'refuses a bad price (%s)'), async (_case, data) => {
        const pid = id();
        expect(await admin.createProduct(pid, data)).toEqual(err(400, 'O valor informado para preço é inválido!'));
        expect(await product(pid)).toEqual({ PID: '0', data: '' });
      });
      it.each([
        ['missing', '{"name": "X", "price": "1"}'],
        ['negative', '{"name": "X", "price": "1", "quantity": -1}'],
        ['fractional', '{"name": "X", "price": "1", "quantity": 5.9}'],
        ['text', '{"name": "X", "price": "1", "quantity": "muitos"}'],
        ['above 2^53-1', '{"name": "X", "price": "1", "quantity": 9007199254740992}'],
      ])(rows('R-PRODUCT-4', 'R-LIMIT-5', 'R-DEV-4', 'refuses a bad quantity (%s)'), async (_case, data) => {
        expect(await admin.createProduct(id(), data)).toEqual(err(400, 'O valor informado para quantidade é inválido!'));
      });
      it(rows('R-PRODUCT-5', 'refuses a missing name with "Dados inválidos"'), async () => {
        const reply = await admin.createProduct(id(), '{"price": "1", "quantity": 1}');
        expect(reply.error).toBe(400);
        expect(reply.description).toMatch(/^Dados inválidos: /);
      });
    });

    describe('RetrieveProduct', () => {
      it(rows('R-PRODUCT-6', 'R-API-5', 'answers a missing product with PID "0" and empty data'), async () => {
        expect(await admin.retrieveProduct(id())).toEqual({ PID: '0', data: '' });
      });
    });

    describe('UpdateProduct', () => {
      it(rows('R-PRODUCT-7', 'replaces name, price and stock'), async () => {
        const pid = await newProduct('1', 1, 'Velho');
        expect(await admin.updateProduct(pid, '{"name": "Novo", "price": "9.90", "quantity": "20"}')).toEqual(OK);
        expect((await product(pid)).data).toBe('{"nome": "Novo", "pre\\u00e7o": "9.90", "quantidade": "20"}');
      });
      it(rows('R-PRODUCT-8', 'answers 404 for a missing product'), async () => {
        const pid = id();
        expect(await admin.updateProduct(pid, '{"name": "X", "price": "1", "quantity": 1}')).toEqual(err(404, `Não há nenhum produto com o ID ${pid}`));
      });
      it(rows('R-PRODUCT-9', 'refuses while the product is in an order'), async () => {
        const cid = await newClient();
        const pid = await newProduct('1', 5);
        await t.settle?.();
        expect(await order.createOrder(id(), cid, items([pid, 1]))).toEqual(OK);
        await t.settle?.();
        expect(await admin.updateProduct(pid, '{"name": "X", "price": "1", "quantity": 1}')).toEqual(
          err(400, 'Não é possível atualizar o produto, pois ele já está presente em um pedido'),
        );
      });
      it(rows('R-PRODUCT-3', 'R-PRODUCT-4', 'R-CODE-4', 'validates the new data like CreateProduct and changes nothing on refusal'), async () => {
        const pid = await newProduct('1', 1, 'Igual');
        expect(await admin.updateProduct(pid, '{"name": "X", "price": "-2", "quantity": 1}')).toEqual(err(400, 'O valor informado para preço é inválido!'));
        expect(await admin.updateProduct(pid, '{"name": "X", "price": "2", "quantity": "1.5"}')).toEqual(err(400, 'O valor informado para quantidade é inválido!'));
        expect((await product(pid)).data).toBe('{"nome": "Igual", "pre\\u00e7o": "1", "quantidade": "1"}');
      });
    });

    describe('DeleteProduct', () => {
      it(rows('R-PRODUCT-10', 'deletes a product'), async () => {
        const pid = await newProduct('1', 1);
        expect(await admin.deleteProduct(pid)).toEqual(OK);
        expect(await product(pid)).toEqual({ PID: '0', data: '' });
      });
      it(rows('R-PRODUCT-11', 'answers 404 for a missing product'), async () => {
        const pid = id();
        expect(await admin.deleteProduct(pid)).toEqual(err(404, `Não há nenhum produto com o ID ${pid}`));
      });
      it(rows('R-PRODUCT-12', 'refuses while the product is in an order, allows it once the order is gone'), async () => {
        const cid = await newClient();
        const pid = await newProduct('1', 5);
        const oid = id();
        await t.settle?.();
        expect(await order.createOrder(oid, cid, items([pid, 2]))).toEqual(OK);
        await t.settle?.();
        expect(await admin.deleteProduct(pid)).toEqual(err(400, 'Não é possível remover o produto, pois ele já está presente em um pedido'));
        expect(await order.deleteOrder(oid)).toEqual(OK);
        await t.settle?.();
        expect(await admin.deleteProduct(pid)).toEqual(OK);
      });
    });

    describe('CreateOrder', () => {
      it(rows('R-ORDER-7', 'R-ORDER-9', 'R-FMT-3', 'R-FMT-7', 'creates an order: stock decreases, lines with the same id are summed, quantity 0 lines are dropped'), async () => {
        const cid = await newClient();
        const a = await newProduct('2.50', 10, 'Caneta');
        const b = await newProduct('3', 10, 'Lapis');
        const oid = id();
        await t.settle?.();
        expect(await order.createOrder(oid, cid, items([a, '1'], [b, 0], [a, 2]))).toEqual(OK);
        expect(await orderData(oid)).toEqual({
          OID: oid,
          CID: cid,
          data: `{"products": [{"PID": "${a}", "price": "2.50", "quantity": "3", "name": "Caneta"}], "total": "7.50"}`,
        });
        expect(await stockOf(a)).toBe('7');
        expect(await stockOf(b)).toBe('10');
      });
      it(rows('R-FMT-3', 'R-FMT-5', 'accepts the course format {"products": [{"PID": ..., "quantity": n}]}'), async () => {
        const cid = await newClient();
        const pid = await newProduct('0.1', 5);
        const oid = id();
        await t.settle?.();
        expect(await order.createOrder(oid, cid, JSON.stringify({ products: [{ PID: pid, quantity: 3 }] }))).toEqual(OK);
        expect((await orderData(oid)).data).toBe(`{"products": [{"PID": "${pid}", "price": "0.1", "quantity": "3", "name": "Produto"}], "total": "0.3"}`);
      });
      it(rows('R-ORDER-7', 'R-FMT-7', 'creates an empty order from [] with total "0"'), async () => {
        const cid = await newClient();
        const oid = id();
        await t.settle?.();
        expect(await order.createOrder(oid, cid, '[]')).toEqual(OK);
        expect(await orderData(oid)).toEqual({ OID: oid, CID: cid, data: '{"products": [], "total": "0"}' });
      });
      it(rows('R-ORDER-1', 'answers 404 for an unknown client, checked before anything else'), async () => {
        const cid = id();
        expect(await order.createOrder(id(), cid, 'not even json')).toEqual(err(404, `Cliente não encontrado: ${cid}`));
      });
      it(rows('R-ORDER-2', 'refuses an OID that already exists'), async () => {
        const cid = await newClient();
        const oid = id();
        await t.settle?.();
        expect(await order.createOrder(oid, cid, '[]')).toEqual(OK);
        expect(await order.createOrder(oid, cid, '[]')).toEqual(err(400, `Já existe um pedido com o ID ${oid}`));
      });
      it.each([
        ['not JSON', '[{"id": "1", '],
        ['not a list', '{"id": "1", "quantity": 1}'],
        ['an item that is not an object', '["1"]'],
        ['an item without id', '[{"quantity": 1}]'],
      ])(rows('R-ORDER-3', 'R-DEV-1', 'refuses data that is %s with "Dados inválidos"'), async (_case, data) => {
        const cid = await newClient();
        await t.settle?.();
        const reply = await order.createOrder(id(), cid, data);
        expect(reply.error).toBe(400);
        expect(reply.description).toMatch(/^Dados inválidos: /);
      });
      it(rows('R-ORDER-4', 'answers 404 for a product that does not exist'), async () => {
        const cid = await newClient();
        const missing = id();
        await t.settle?.();
        expect(await order.createOrder(id(), cid, items([missing, 1]))).toEqual(err(404, `Produto não encontrado: ${missing}`));
      });
      it.each([['-1'], ['2.5'], ['abc'], [-3]])(rows('R-ORDER-5', 'refuses quantity %j'), async (quantity) => {
        const cid = await newClient();
        const pid = await newProduct('1', 10);
        await t.settle?.();
        expect(await order.createOrder(id(), cid, items([pid, quantity]))).toEqual(err(400, 'O valor informado para quantidade é inválido!'));
      });
      it(rows('R-ORDER-6', 'R-CODE-4', 'refuses an order beyond the stock and changes nothing anywhere'), async () => {
        const cid = await newClient();
        const a = await newProduct('1', 10);
        const b = await newProduct('1', 2);
        const oid = id();
        await t.settle?.();
        expect(await order.createOrder(oid, cid, items([a, 4], [b, 2], [b, 1]))).toEqual(err(400, `Quantidade indisponível de produto com ID ${b}`));
        expect(await stockOf(a)).toBe('10');
        expect(await stockOf(b)).toBe('2');
        expect(await orderData(oid)).toEqual({ OID: '0', CID: '0', data: '' });
        expect(await settled(() => order.retrieveClientOrders(cid))).toEqual([]);
        // Nothing holds the products either: they can still be deleted.
        expect(await admin.deleteProduct(a)).toEqual(OK);
      });
    });

    describe('RetrieveOrder', () => {
      it(rows('R-ORDER-8', 'R-API-5', 'answers a missing order with OID "0", CID "0" and empty data'), async () => {
        expect(await order.retrieveOrder(id())).toEqual({ OID: '0', CID: '0', data: '' });
      });
      it(rows('R-ORDER-9', 'R-FMT-7', 'R-DEV-6', 'sums the total exactly with the most decimals of any price'), async () => {
        const cid = await newClient();
        const a = await newProduct('0.10', 100);
        const b = await newProduct('19.999', 100);
        const oid = id();
        await t.settle?.();
        expect(await order.createOrder(oid, cid, items([a, 3], [b, 7]))).toEqual(OK);
        expect(JSON.parse((await orderData(oid)).data)).toMatchObject({ total: '140.293' });
      });
    });

    describe('UpdateOrder', () => {
      const setup = async () => {
        const cid = await newClient();
        const a = await newProduct('2', 10, 'A');
        const b = await newProduct('5', 10, 'B');
        const oid = id();
        await t.settle?.();
        expect(await order.createOrder(oid, cid, items([a, 3], [b, 1]))).toEqual(OK);
        return { cid, a, b, oid };
      };
      it(rows('R-ORDER-12', 'R-FMT-6', 'R-DEV-3', 'sets absolute quantities, keeps unlisted items, removes with 0 and appends new products at their current price'), async () => {
        const { cid, a, b, oid } = await setup();
        const c = await newProduct('1.5', 4, 'C');
        await t.settle?.();
        expect(await order.updateOrder(oid, cid, items([a, 5], [c, 2]))).toEqual(OK);
        expect((await orderData(oid)).data).toBe(
          `{"products": [{"PID": "${a}", "price": "2", "quantity": "5", "name": "A"}, {"PID": "${b}", "price": "5", "quantity": "1", "name": "B"}, {"PID": "${c}", "price": "1.5", "quantity": "2", "name": "C"}], "total": "18.0"}`,
        );
        expect([await stockOf(a), await stockOf(b), await stockOf(c)]).toEqual(['5', '9', '2']);
        expect(await order.updateOrder(oid, cid, JSON.stringify([{ id: b, quantity: 0 }]))).toEqual(OK);
        expect(await stockOf(b)).toBe('10');
        const after = JSON.parse((await orderData(oid)).data) as { products: Array<{ PID: string }> };
        expect(after.products.map((p) => p.PID)).toEqual([a, c]);
      });
      it(rows('R-ORDER-10', 'answers 404 when the CID is not a client'), async () => {
        const { oid } = await setup();
        const stranger = id();
        expect(await order.updateOrder(oid, stranger, '[]')).toEqual(err(404, `Cliente não encontrado: ${stranger}`));
      });
      it(rows('R-ORDER-11', 'answers 404 for a missing order and for an order of another client'), async () => {
        const { oid } = await setup();
        const other = await newClient();
        const missing = id();
        await t.settle?.();
        expect(await order.updateOrder(missing, other, '[]')).toEqual(err(404, `Pedido não encontrado: ${missing}`));
        expect(await order.updateOrder(oid, other, '[]')).toEqual(err(404, `Pedido não encontrado: ${oid}`));
      });
      it(rows('R-ORDER-4', 'answers 404 for a new product that does not exist'), async () => {
        const { cid, oid } = await setup();
        const missing = id();
        expect(await order.updateOrder(oid, cid, items([missing, 1]))).toEqual(err(404, `Produto não encontrado: ${missing}`));
      });
      it.each([['-1'], [-1], ['x'], [1.5]])(rows('R-ORDER-5', 'R-DEV-3', 'R-CODE-4', 'refuses quantity %j and changes nothing'), async (quantity) => {
        const { cid, a, oid } = await setup();
        const before = await orderData(oid);
        expect(await order.updateOrder(oid, cid, items([a, quantity]))).toEqual(err(400, 'O valor informado para quantidade é inválido!'));
        expect(await orderData(oid)).toEqual(before);
        expect(await stockOf(a)).toBe('7');
      });
      it(rows('R-ORDER-13', 'R-CODE-4', 'refuses more than the stock, for held and new products, and changes nothing'), async () => {
        const { cid, a, b, oid } = await setup();
        const before = await orderData(oid);
        expect(await order.updateOrder(oid, cid, items([b, 2], [a, 14]))).toEqual(err(400, `Produto indisponível para operação: ${a}`));
        const c = await newProduct('1', 1);
        await t.settle?.();
        expect(await order.updateOrder(oid, cid, items([c, 2]))).toEqual(err(400, `Produto indisponível para operação: ${c}`));
        expect(await orderData(oid)).toEqual(before);
        expect([await stockOf(a), await stockOf(b), await stockOf(c)]).toEqual(['7', '9', '1']);
      });
    });

    describe('DeleteOrder', () => {
      it(rows('R-ORDER-14', 'deletes an order and returns every unit to stock'), async () => {
        const cid = await newClient();
        const a = await newProduct('1', 10);
        const b = await newProduct('1', 10);
        const oid = id();
        await t.settle?.();
        expect(await order.createOrder(oid, cid, items([a, 4], [b, 10]))).toEqual(OK);
        expect(await order.deleteOrder(oid)).toEqual(OK);
        expect(await orderData(oid)).toEqual({ OID: '0', CID: '0', data: '' });
        expect([await stockOf(a), await stockOf(b)]).toEqual(['10', '10']);
      });
      it(rows('R-ORDER-15', 'answers 404 for a missing order'), async () => {
        const oid = id();
        expect(await order.deleteOrder(oid)).toEqual(err(404, `Não há nenhum pedido com o ID ${oid}`));
      });
    });

    describe('RetrieveClientOrders', () => {
      it(rows('R-ORDER-16', "streams the client's orders in creation order, with their data"), async () => {
        const cid = await newClient();
        const other = await newClient();
        const pid = await newProduct('2', 10, 'P');
        const [o1, o2, o3] = [id(), id(), id()];
        await t.settle?.();
        expect(await order.createOrder(o2, cid, items([pid, 1]))).toEqual(OK);
        expect(await order.createOrder(o1, other, '[]')).toEqual(OK);
        expect(await order.createOrder(o3, cid, '[]')).toEqual(OK);
        const orders = await settled(() => order.retrieveClientOrders(cid));
        expect(orders).toEqual([
          { OID: o2, CID: cid, data: `{"products": [{"PID": "${pid}", "price": "2", "quantity": "1", "name": "P"}], "total": "2"}` },
          { OID: o3, CID: cid, data: '{"products": [], "total": "0"}' },
        ]);
      });
      it(rows('R-ORDER-16', 'sends zero messages for an unknown client'), async () => {
        expect(await order.retrieveClientOrders(id())).toEqual([]);
      });
    });

    describe('IDs and limits', () => {
      it.each([
        ['empty', '', 'ID inválido: o ID está vazio'],
        ['"0"', '0', 'ID inválido: "0" é reservado para indicar "não encontrado"'],
        ['too long', 'x'.repeat(129), 'ID inválido: o ID tem mais de 128 caracteres'],
        ['with a control character', 'a\nb', 'ID inválido: o ID contém caracteres de controle'],
      ])(rows('R-ID-1', 'R-DEV-4', 'refuses a write with an ID that is %s'), async (_case, bad, text) => {
        expect(await admin.createClient(bad, '{"name": "X"}')).toEqual(err(400, text));
        expect(await admin.createProduct(bad, '{"name": "X", "price": "1", "quantity": 1}')).toEqual(err(400, text));
        const cid = await newClient();
        await t.settle?.();
        expect(await order.createOrder(bad, cid, '[]')).toEqual(err(400, text));
      });
      it(rows('R-ID-1', 'accepts a 128-character unicode ID'), async () => {
        const cid = 'ç'.repeat(128);
        expect(await admin.createClient(cid, '{"name": "Longo"}')).toEqual(OK);
        expect(await settled(() => admin.retrieveClient(cid))).toEqual({ CID: cid, data: '{"nome": "Longo"}' });
      });
      it(rows('R-ID-2', 'keeps clients, products and orders in separate name spaces'), async () => {
        const shared = id();
        expect(await admin.createClient(shared, '{"name": "Mesmo"}')).toEqual(OK);
        expect(await admin.createProduct(shared, '{"name": "Mesmo", "price": "1", "quantity": 5}')).toEqual(OK);
        await t.settle?.();
        expect(await order.createOrder(shared, shared, JSON.stringify([{ id: shared, quantity: 1 }]))).toEqual(OK);
        expect((await settled(() => admin.retrieveClient(shared))).data).toBe('{"nome": "Mesmo"}');
        expect(await stockOf(shared)).toBe('4');
        expect((await orderData(shared)).CID).toBe(shared);
      });
      it(rows('R-LIMIT-1', 'R-LIMIT-3', 'R-LIMIT-4', 'refuses data over 64 KiB, names over 1,000 characters and orders over 1,000 items'), async () => {
        const big = await admin.createClient(id(), JSON.stringify({ name: 'x', pad: 'y'.repeat(70_000) }));
        expect(big).toEqual(err(400, 'Dados inválidos: os dados têm mais de 65536 bytes'));
        expect(await admin.createClient(id(), JSON.stringify({ name: 'n'.repeat(1001) }))).toEqual(
          err(400, 'Dados inválidos: o campo "name" tem mais de 1000 caracteres'),
        );
        const cid = await newClient();
        await t.settle?.();
        const many = JSON.stringify(Array.from({ length: 1001 }, () => ({ id: '1', quantity: 1 })));
        expect(await order.createOrder(id(), cid, many)).toEqual(err(400, 'Dados inválidos: o pedido tem mais de 1000 itens'));
      });
      it(rows('R-LIMIT-2', 'R-LIMIT-6', 'refuses JSON nested deeper than 32 levels without crashing'), async () => {
        const reply = await admin.createClient(id(), '['.repeat(20_000) + ']'.repeat(20_000));
        expect(reply).toEqual(err(400, 'Dados inválidos: o JSON tem mais de 32 níveis de aninhamento'));
      });
    });

    describe('both proto packages', () => {
      it(rows('R-API-1', 'R-API-2', 'serves the course package "project" with the same data'), async () => {
        const [host = '', port = ''] = admin.address.split(/:(?=\d+$)/);
        const course = new PortalClient({ host, port: Number(port), pkg: 'project' });
        try {
          const cid = id();
          expect(await course.createClient(cid, '{"name": "Curso"}')).toEqual(OK);
          expect(await settled(() => admin.retrieveClient(cid))).toEqual({ CID: cid, data: '{"nome": "Curso"}' });
          expect(await course.retrieveClient(cid)).toEqual({ CID: cid, data: '{"nome": "Curso"}' });
        } finally {
          course.close();
        }
      });
    });
  });
}
