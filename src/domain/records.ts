import { orderTotal } from './decimal.js';
import { pyDumps, type PyJsonValue } from './pyjson.js';
import { assert } from '../util/assert.js';

/**
 * The stored objects. Besides what the API shows, a client counts its orders and a product
 * counts the orders that contain it, so "has orders?" and "is it in any order?" are answered by
 * one record, whatever partition holds it.
 *
 * A client's orders, in creation order, are an index of small records, one per order:
 * `clientOrder` `<cid>␟<seq>` → the order's ID, on the client's partition. Each order takes the
 * client's next sequence number and remembers it, so placing or deleting an order writes a
 * few constant-size records whatever the client's order count (a client once kept every order
 * ID in its own record, which every order of a big client rewrote whole). The sequence number
 * is written with a fixed width and the separator is a control character no ID may hold, so in
 * every store the keys `<cid>␟…` of one client sort by creation and no other client's key
 * starts with that prefix: "the next N orders after seq S" is one bounded range read.
 */
export interface ClientRecord {
  readonly kind: 'client';
  readonly name: string;
  /** Orders the client holds now. Absent from records written before the index (read as 0). */
  readonly orderCount?: number;
  /** The sequence number of the client's latest order (0: none yet); absent as orderCount. */
  readonly lastSeq?: number;
  /**
   * Legacy (records written before the index): the IDs of the orders placed until then, in
   * creation order. Never grows; an order in it leaves it when deleted, and its orders are
   * listed before the indexed ones, which are all younger (docs/spec.md R-FMT-9).
   */
  readonly orders?: readonly string[];
}

export interface ProductRecord {
  readonly kind: 'product';
  readonly name: string;
  /** The price as the client wrote it, a plain decimal ("2.50"). */
  readonly price: string;
  /** Units in stock. */
  readonly quantity: number;
  /** How many orders contain this product. */
  readonly orderRefs: number;
}

export interface OrderItem {
  readonly pid: string;
  readonly name: string;
  /** The product's price when the item was added. */
  readonly price: string;
  readonly quantity: number;
}

export interface OrderRecord {
  readonly kind: 'order';
  readonly cid: string;
  /** Its entry in the client's order index; absent from a legacy order, listed in its client's `orders`. */
  readonly seq?: number;
  readonly items: readonly OrderItem[];
}

/** One entry of a client's order index (see ClientRecord), keyed by clientOrderId. */
export interface ClientOrderRecord {
  readonly kind: 'clientOrder';
  readonly oid: string;
  readonly seq: number;
}

export type StoredRecord = ClientRecord | ProductRecord | OrderRecord | ClientOrderRecord;
export type RecordKind = StoredRecord['kind'];

export interface RecordKey {
  readonly kind: RecordKind;
  readonly id: string;
}

export type RecordOfKind<K extends RecordKind> = Extract<StoredRecord, { kind: K }>;

/** Separates a client's ID from the sequence number in its index keys: a control character, which no ID may hold. */
const INDEX_SEPARATOR = '\u001f';
/** Sequence numbers up to Number.MAX_SAFE_INTEGER fit in this many digits. */
const SEQ_DIGITS = 16;

/** The key of entry `seq` of client `cid`'s order index. */
export function clientOrderId(cid: string, seq: number): string {
  assert(Number.isSafeInteger(seq) && seq > 0, () => `order index sequence ${seq} is not a positive safe integer`);
  return `${cid}${INDEX_SEPARATOR}${String(seq).padStart(SEQ_DIGITS, '0')}`;
}

/** What every index key of client `cid` starts with, and nothing else does. */
export function clientOrderPrefix(cid: string): string {
  return `${cid}${INDEX_SEPARATOR}`;
}

/** The client whose order index holds key `id` (the partition it lives on goes by it). */
export function clientOfIndexId(id: string): string {
  const at = id.lastIndexOf(INDEX_SEPARATOR);
  return at < 0 ? id : id.slice(0, at);
}

/** The sequence number an index key of clientOrderId names (NaN for a key that is not one). */
export function seqOfIndexId(id: string): number {
  const at = id.lastIndexOf(INDEX_SEPARATOR);
  const digits = id.slice(at + 1);
  return at >= 0 && digits.length === SEQ_DIGITS && /^\d+$/.test(digits) ? Number(digits) : Number.NaN;
}

/** The orders a client holds, whatever the format it was written in. */
export function orderCountOf(client: ClientRecord): number {
  return (client.orderCount ?? 0) + (client.orders?.length ?? 0);
}

/** A flat string form of a key, for maps and logs: `client/44`. */
export function keyString(key: RecordKey): string {
  return `${key.kind}/${key.id}`;
}

export function clientView(record: ClientRecord): { [key: string]: PyJsonValue } {
  return { nome: record.name };
}

export function productView(record: ProductRecord): { [key: string]: PyJsonValue } {
  return { nome: record.name, preço: record.price, quantidade: String(record.quantity) };
}

export function orderView(record: OrderRecord): { [key: string]: PyJsonValue } {
  return {
    products: record.items.map((item) => ({
      PID: item.pid,
      price: item.price,
      quantity: String(item.quantity),
      name: item.name,
    })),
    total: orderTotal(record.items),
  };
}

/** What Retrieve puts in `data`: the visible part of a record, formatted like the original. */
export function recordData(record: StoredRecord): string {
  switch (record.kind) {
    case 'client':
      return pyDumps(clientView(record));
    case 'product':
      return pyDumps(productView(record));
    case 'order':
      return pyDumps(orderView(record));
    case 'clientOrder':
      return pyDumps({ OID: record.oid });
  }
}

/** The visible part as a JSON value, for change events published to observers. */
export function recordVisible(record: StoredRecord): { [key: string]: PyJsonValue } {
  switch (record.kind) {
    case 'client':
      return clientView(record);
    case 'product':
      return productView(record);
    case 'order':
      return { CID: record.cid, ...orderView(record) };
    case 'clientOrder':
      return { OID: record.oid };
  }
}
