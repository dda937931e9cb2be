import { orderTotal } from './decimal.js';
import { pyDumps, type PyJsonValue } from './pyjson.js';

/**
 * The stored objects. Besides what the API shows, a client keeps the IDs of its orders (in
 * creation order) and a product counts the orders that contain it, so "has orders?" and
 * "is it in any order?" are answered by one record, whatever partition holds it.
 */
export interface ClientRecord {
  readonly kind: 'client';
  readonly name: string;
  readonly orders: readonly string[];
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
  readonly items: readonly OrderItem[];
}

export type StoredRecord = ClientRecord | ProductRecord | OrderRecord;
export type RecordKind = StoredRecord['kind'];

export interface RecordKey {
  readonly kind: RecordKind;
  readonly id: string;
}

export type RecordOfKind<K extends RecordKind> = Extract<StoredRecord, { kind: K }>;

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
  }
}
