import type { Backend } from './backend.js';
import type { ClientRecord, OrderRecord } from './records.js';

/** Orders read per page of a client's index: a bounded batch whatever the client's order count. */
export const CLIENT_ORDERS_PAGE = 256;

/**
 * A client's orders in creation order, read page by page (never all at once): first the
 * legacy list a client record written before the order index may still hold, then the index.
 * The orders of a page are read together; one deleted (or re-created for another client)
 * since the index was read is simply no longer one of the client's orders and is skipped.
 */
export async function* clientOrders(backend: Backend, cid: string, client: ClientRecord, pageSize = CLIENT_ORDERS_PAGE): AsyncGenerator<[oid: string, order: OrderRecord]> {
  for await (const page of clientOrderPages(backend, cid, client, pageSize)) yield* ordersOf(backend, cid, page);
}

/** The IDs a client lists as its orders, a page at a time: the legacy list, then the index. */
export async function* clientOrderPages(backend: Pick<Backend, 'clientOrders'>, cid: string, client: ClientRecord, pageSize = CLIENT_ORDERS_PAGE): AsyncGenerator<ReadonlyArray<{ oid: string; seq: number | undefined }>> {
  const legacy = client.orders ?? [];
  for (let at = 0; at < legacy.length; at += pageSize) yield legacy.slice(at, at + pageSize).map((oid) => ({ oid, seq: undefined }));
  for (let after: number | null = 0; after !== null; ) {
    const page = await backend.clientOrders(cid, after, pageSize);
    if (page.next !== null && page.next <= after) throw new Error(`the store paged client ${cid}'s orders backwards (after ${after}, next ${page.next})`);
    if (page.entries.length > 0) yield page.entries;
    after = page.next;
  }
}

async function* ordersOf(backend: Backend, cid: string, entries: ReadonlyArray<{ oid: string; seq: number | undefined }>): AsyncGenerator<[string, OrderRecord]> {
  const orders = await Promise.all(entries.map(({ oid }) => backend.read('order', oid)));
  for (const [i, order] of orders.entries()) {
    const entry = entries[i];
    if (entry === undefined || order === undefined || order.cid !== cid || order.seq !== entry.seq) continue;
    yield [entry.oid, order];
  }
}
