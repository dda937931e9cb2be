import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { PortalClient } from '../../src/client/portal-client.js';
import type { Backend, ClientOrderPage } from '../../src/domain/backend.js';
import { CLIENT_ORDERS_PAGE } from '../../src/domain/client-orders.js';
import { orderCountOf, type RecordKind, type RecordOfKind } from '../../src/domain/records.js';
import { SingleBackend } from '../../src/modes/single/backend.js';
import { apiPackageDefinition } from '../../src/portal/proto.js';
import { startPortalServer, type PortalServer } from '../../src/portal/server.js';
import { PartitionedBackend } from '../../src/storage/client/partitioned-backend.js';
import { silentLogger } from '../../src/util/log.js';
import { MemoryCluster } from '../storage/memory-cluster.js';

/**
 * One client with many orders (issue #13 item 6): what an order writes does not grow with the
 * client's order count, and RetrieveClientOrders streams them all, in creation order, a page at
 * a time over real gRPC. Checks R-DEV-9 and R-ORDER-16.
 */
const ORDERS = 5_000;
const CID = 'big';
const oidOf = (i: number) => `o${String(i).padStart(5, '0')}`;

/** Counts what the backend is asked, to show the portal reads pages, not everything at once. */
class CountingBackend implements Backend {
  pages = 0;
  largestPage = 0;
  orderReads = 0;
  constructor(readonly inner: Backend) {}
  execute(command: Parameters<Backend['execute']>[0]) {
    return this.inner.execute(command);
  }
  read<K extends RecordKind>(kind: K, id: string): Promise<RecordOfKind<K> | undefined> {
    if (kind === 'order') this.orderReads++;
    return this.inner.read(kind, id);
  }
  clientOrders(cid: string, afterSeq: number, limit: number): Promise<ClientOrderPage> {
    this.pages++;
    this.largestPage = Math.max(this.largestPage, limit);
    return this.inner.clientOrders(cid, afterSeq, limit);
  }
  close() {
    return this.inner.close();
  }
}

let running: { server: PortalServer; client: PortalClient } | undefined;
afterEach(async () => {
  running?.client.close();
  await running?.server.shutdown();
  running = undefined;
});

async function serve(backend: Backend): Promise<{ server: PortalServer; client: PortalClient; port: number }> {
  const server = await startPortalServer({ backend, lang: 'pt', log: silentLogger, host: '127.0.0.1', ports: [0] });
  const port = server.ports[0]!;
  running = { server, client: new PortalClient({ host: '127.0.0.1', port }) };
  return { ...running, port };
}

/** Places ORDERS orders of one unit each; returns the bytes `written()` grew by over the first and the last 1,000. */
async function placeOrders(backend: Backend, written: () => number): Promise<{ first: number; last: number }> {
  expect(await backend.execute({ op: 'CreateClient', cid: CID, data: '{"name": "Ana"}' })).toEqual({ code: 0 });
  expect(await backend.execute({ op: 'CreateProduct', pid: 'p', data: JSON.stringify({ name: 'Caneta', price: '2.50', quantity: ORDERS }) })).toEqual({ code: 0 });
  let first = 0;
  let last = 0;
  for (let i = 0; i < ORDERS; i++) {
    const before = written();
    expect(await backend.execute({ op: 'CreateOrder', oid: oidOf(i), cid: CID, data: '[{"id": "p", "quantity": 1}]' })).toEqual({ code: 0 });
    if (i < 1_000) first += written() - before;
    if (i >= ORDERS - 1_000) last += written() - before;
  }
  return { first, last };
}

/** Deletes a few orders, and checks the stream lists exactly the others, in creation order. */
async function expectStreamed(backend: CountingBackend, client: PortalClient): Promise<void> {
  const deleted = new Set([oidOf(0), oidOf(CLIENT_ORDERS_PAGE), oidOf(2_500), oidOf(ORDERS - 1)]);
  for (const oid of deleted) expect(await backend.execute({ op: 'DeleteOrder', oid })).toEqual({ code: 0 });
  const expected = Array.from({ length: ORDERS }, (_, i) => oidOf(i)).filter((oid) => !deleted.has(oid));
  const streamed = await client.retrieveClientOrders(CID);
  expect(streamed.map((o) => o.OID)).toEqual(expected);
  expect(streamed.every((o) => o.CID === CID && o.data.includes('"total": "2.50"'))).toBe(true);
  expect(backend.largestPage).toBeLessThanOrEqual(CLIENT_ORDERS_PAGE);
  expect(backend.pages).toBeGreaterThanOrEqual(Math.ceil(expected.length / CLIENT_ORDERS_PAGE));
  expect(orderCountOf((await backend.read('client', CID))!)).toBe(expected.length);
}

describe('a client with many orders', () => {
  it(`raft partitions: bytes written per order stay flat over ${ORDERS} orders, and all stream in order`, { timeout: 120_000 }, async () => {
    const cluster = new MemoryCluster(2);
    let bytes = 0;
    for (const store of cluster.stores) {
      const put = store.put.bind(store);
      store.put = (key, value) => {
        bytes += key.length + (value === undefined ? 0 : JSON.stringify(value).length);
        put(key, value);
      };
    }
    const backend = new CountingBackend(new PartitionedBackend(cluster));
    const { first, last } = await placeOrders(backend, () => bytes);
    // The old layout rewrote the client's list of every order ID: measured with it, the last
    // 1,000 orders wrote 7.8 times what the first did. Now they cost the same (within 5%).
    expect(last / first, `bytes written by the first 1,000 orders ${first}, by the last ${last}`).toBeLessThan(1.05);
    expect(JSON.stringify(cluster.machines[0]!.read('client', CID) ?? cluster.machines[1]!.read('client', CID)).length).toBeLessThan(100);
    const { client } = await serve(backend);
    await expectStreamed(backend, client);
  });

  it(`single mode: the client record stays small over ${ORDERS} orders, and all stream in order`, { timeout: 120_000 }, async () => {
    const single = new SingleBackend();
    const clientBytes = () => JSON.stringify(single.state.get('client', CID) ?? {}).length;
    const backend = new CountingBackend(single);
    let largest = 0;
    await placeOrders(backend, () => ((largest = Math.max(largest, clientBytes())), 0));
    expect(largest).toBeLessThan(100);
    const { client } = await serve(backend);
    await expectStreamed(backend, client);
  });

  it('a reader that stops after the first order costs the portal a page or two, not every order', { timeout: 60_000 }, async () => {
    const backend = new CountingBackend(new SingleBackend());
    await placeOrders(backend, () => 0);
    const { port } = await serve(backend);
    const OrderPortal = grpc.loadPackageDefinition(apiPackageDefinition()).OrderPortal as grpc.ServiceClientConstructor;
    const raw = new OrderPortal(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    try {
      const stream = (raw as unknown as { RetrieveClientOrders(req: object): grpc.ClientReadableStream<{ OID: string }> }).RetrieveClientOrders({ ID: CID });
      const firstOid = await new Promise<string>((resolve, reject) => {
        stream.once('data', (order: { OID: string }) => resolve(order.OID));
        stream.once('error', reject);
      });
      stream.cancel();
      expect(firstOid).toBe(oidOf(0));
      // The server reads a page ahead of what the transport took, then waits for it to drain.
      await new Promise((resolve) => setTimeout(resolve, 200)); // no event tells that the server stopped reading
      expect(backend.orderReads).toBeLessThanOrEqual(2 * CLIENT_ORDERS_PAGE);
    } finally {
      raw.close();
    }
  });
});
