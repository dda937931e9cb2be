import { OK, type Command, type ErrorCode, type Reply } from './commands.js';
import { idProblem } from './ids.js';
import { readClientData, readOrderItems, readProductData, readQuantity, type RawOrderItem } from './input.js';
import { LIMITS } from './limits.js';
import { message, type Message, type MessageKey } from './messages.js';
import { clientOrderId, orderCountOf, type OrderItem, type ProductRecord, type RecordKey, type RecordKind, type RecordOfKind, type StoredRecord } from './records.js';
import { assert } from '../util/assert.js';

/**
 * The business state machine: every rule, reply code and text of docs/spec.md (Rules) lives here and
 * nowhere else. It is deterministic and does no I/O: given the same command and the same
 * records it returns the same reply and the same writes, which is what lets every mode (one
 * process, portals ordered by a broker, Raft partitions, etcd transactions) share it.
 */

/** Read access to the current records. A view may throw to say a record is not loaded yet. */
export interface RecordView {
  get<K extends RecordKind>(kind: K, id: string): RecordOfKind<K> | undefined;
}

/** One change to apply: `value: null` deletes the record. */
export interface Write {
  readonly key: RecordKey;
  readonly value: StoredRecord | null;
}

/** A reply and, only when it is a success, the writes that make it true (all or nothing). */
export interface Outcome {
  readonly reply: Reply;
  readonly writes: readonly Write[];
}

class Rejection extends Error {
  constructor(
    readonly code: ErrorCode,
    readonly reason: Message,
  ) {
    super(reason.key);
  }
}

function reject(code: ErrorCode, key: MessageKey, args?: Message['args']): never {
  throw new Rejection(code, message(key, args));
}

function requireValidId(id: string): void {
  const problem = idProblem(id);
  if (problem !== undefined) reject(400, 'invalidId', { detail: problem });
}

/**
 * How a command stores a client's orders. 'indexed': a count on the client and one index
 * record per order (records.ts). 'legacy': as builds before the index did, the order IDs
 * listed in the client record; only for replaying a raft log those builds wrote, so that
 * a replica applying an old entry now reaches the records one applying it then did.
 */
export type RecordFormat = 'indexed' | 'legacy';

/** Reads see the command's own earlier writes; nothing reaches the store unless the command succeeds. */
class Transaction {
  private readonly pending = new Map<string, Write>();

  constructor(
    private readonly view: RecordView,
    readonly format: RecordFormat,
  ) {}

  get<K extends RecordKind>(kind: K, id: string): RecordOfKind<K> | undefined {
    const staged = this.pending.get(`${kind}/${id}`);
    if (staged !== undefined) return (staged.value ?? undefined) as RecordOfKind<K> | undefined;
    return this.view.get(kind, id);
  }

  /** Reads a record the rules guarantee exists (a referenced product, an order's client). */
  existing<K extends RecordKind>(kind: K, id: string): RecordOfKind<K> {
    const record = this.get(kind, id);
    assert(record !== undefined, () => `${kind} ${id} is referenced but missing`);
    return record;
  }

  put(kind: RecordKind, id: string, value: StoredRecord | null): void {
    assert(value === null || value.kind === kind, () => `${value?.kind} record stored as ${kind}`);
    this.pending.set(`${kind}/${id}`, { key: { kind, id }, value });
  }

  writes(): Write[] {
    return [...this.pending.values()];
  }
}

export function execute(command: Command, view: RecordView, format: RecordFormat = 'indexed'): Outcome {
  const tx = new Transaction(view, format);
  try {
    RULES[command.op](command as never, tx);
  } catch (err) {
    if (err instanceof Rejection) return { reply: { code: err.code, message: err.reason }, writes: [] };
    throw err;
  }
  const writes = tx.writes();
  for (const write of writes) checkLeftBehind(write);
  return { reply: OK, writes };
}

/**
 * Post-conditions of every accepted command: what it stores is a state the rules can stand on.
 * The rules refuse whatever would break these, so a failure here is a bug in a rule, and it
 * stops the command before anything is stored.
 */
function checkLeftBehind({ key, value }: Write): void {
  if (value === null) return;
  if (value.kind === 'client') {
    const { orderCount = 0, lastSeq = 0 } = value;
    assert(Number.isSafeInteger(orderCount) && orderCount >= 0 && orderCount <= lastSeq, () => `client ${key.id} would count ${orderCount} orders of ${lastSeq} placed`);
  } else if (value.kind === 'product') {
    assert(Number.isSafeInteger(value.quantity) && value.quantity >= 0, () => `product ${key.id} would be left with stock ${value.quantity}`);
    assert(Number.isSafeInteger(value.orderRefs) && value.orderRefs >= 0, () => `product ${key.id} would be left in ${value.orderRefs} orders`);
  } else if (value.kind === 'order') {
    for (const item of value.items) assert(Number.isSafeInteger(item.quantity) && item.quantity > 0, () => `order ${key.id} would keep product ${item.pid} at quantity ${item.quantity}`);
  }
}

type CommandOf<O extends Command['op']> = Extract<Command, { op: O }>;
type Rules = { [O in Command['op']]: (command: CommandOf<O>, tx: Transaction) => void };

const RULES: Rules = {
  CreateClient({ cid, data }, tx) {
    requireValidId(cid);
    if (tx.get('client', cid) !== undefined) reject(400, 'clientExists', { id: cid });
    const input = readClientData(data);
    if (!input.ok) reject(400, 'invalidData', { detail: input.detail });
    const orders = tx.format === 'legacy' ? { orders: [] } : { orderCount: 0, lastSeq: 0 };
    tx.put('client', cid, { kind: 'client', name: input.value.name, ...orders });
  },

  UpdateClient({ cid, data }, tx) {
    requireValidId(cid);
    const client = tx.get('client', cid);
    if (client === undefined) reject(404, 'clientMissing', { id: cid });
    const input = readClientData(data);
    if (!input.ok) reject(400, 'invalidData', { detail: input.detail });
    tx.put('client', cid, { ...client, name: input.value.name });
  },

  DeleteClient({ cid }, tx) {
    requireValidId(cid);
    const client = tx.get('client', cid);
    if (client === undefined) reject(404, 'clientMissing', { id: cid });
    if (orderCountOf(client) > 0) reject(400, 'clientHasOrders');
    tx.put('client', cid, null);
  },

  CreateProduct({ pid, data }, tx) {
    requireValidId(pid);
    if (tx.get('product', pid) !== undefined) reject(400, 'productExists', { id: pid });
    const product = productFromData(data);
    tx.put('product', pid, { kind: 'product', ...product, orderRefs: 0 });
  },

  UpdateProduct({ pid, data }, tx) {
    requireValidId(pid);
    const current = tx.get('product', pid);
    if (current === undefined) reject(404, 'productMissing', { id: pid });
    if (current.orderRefs > 0) reject(400, 'productInOrderUpdate');
    const product = productFromData(data);
    tx.put('product', pid, { ...current, ...product });
  },

  DeleteProduct({ pid }, tx) {
    requireValidId(pid);
    const current = tx.get('product', pid);
    if (current === undefined) reject(404, 'productMissing', { id: pid });
    if (current.orderRefs > 0) reject(400, 'productInOrderDelete');
    tx.put('product', pid, null);
  },

  CreateOrder({ oid, cid, data }, tx) {
    requireValidId(oid);
    requireValidId(cid);
    const client = tx.get('client', cid);
    if (client === undefined) reject(404, 'orderClientNotFound', { id: cid });
    if (tx.get('order', oid) !== undefined) reject(400, 'orderExists', { id: oid });
    const lines = requestedLines(data, tx, () => false);
    const items: OrderItem[] = [];
    for (const [pid, quantity] of lines) {
      if (quantity === 0) continue;
      const product = tx.existing('product', pid);
      if (quantity > product.quantity) reject(400, 'stockUnavailable', { id: pid });
      tx.put('product', pid, { ...product, quantity: product.quantity - quantity, orderRefs: product.orderRefs + 1 });
      items.push({ pid, name: product.name, price: product.price, quantity });
    }
    if (tx.format === 'legacy' && client.orders !== undefined && client.lastSeq === undefined) {
      tx.put('order', oid, { kind: 'order', cid, items });
      tx.put('client', cid, { ...client, orders: [...client.orders, oid] });
      return;
    }
    // The index entry is written, never read: the client's lock (raft mode) or revision (etcd
    // mode) already guards it, since only a command that rewrites the client touches its index.
    const seq = (client.lastSeq ?? 0) + 1;
    tx.put('order', oid, { kind: 'order', cid, seq, items });
    tx.put('clientOrder', clientOrderId(cid, seq), { kind: 'clientOrder', oid, seq });
    tx.put('client', cid, { ...client, orderCount: (client.orderCount ?? 0) + 1, lastSeq: seq });
  },

  UpdateOrder({ oid, cid, data }, tx) {
    requireValidId(oid);
    requireValidId(cid);
    if (tx.get('client', cid) === undefined) reject(404, 'orderClientNotFound', { id: cid });
    const order = tx.get('order', oid);
    if (order === undefined || order.cid !== cid) reject(404, 'orderNotFound', { id: oid });
    const inOrder = (pid: string) => order.items.some((item) => item.pid === pid);
    const lines = requestedLines(data, tx, inOrder);
    let items = [...order.items];
    for (const [pid, quantity] of lines) {
      const product = tx.existing('product', pid);
      const index = items.findIndex((item) => item.pid === pid);
      const held = index >= 0 ? (items[index] as OrderItem) : undefined;
      const heldQuantity = held?.quantity ?? 0;
      if (quantity - heldQuantity > product.quantity) reject(400, 'productUnavailable', { id: pid });
      const refDelta = (quantity > 0 ? 1 : 0) - (held !== undefined ? 1 : 0);
      if (quantity !== heldQuantity || refDelta !== 0) {
        tx.put('product', pid, {
          ...product,
          quantity: product.quantity - (quantity - heldQuantity),
          orderRefs: product.orderRefs + refDelta,
        });
      }
      if (held !== undefined && quantity === 0) items = items.filter((_, i) => i !== index);
      else if (held !== undefined) items[index] = { ...held, quantity };
      else if (quantity > 0) items.push({ pid, name: product.name, price: product.price, quantity });
    }
    tx.put('order', oid, { ...order, items });
  },

  DeleteOrder({ oid }, tx) {
    requireValidId(oid);
    const order = tx.get('order', oid);
    if (order === undefined) reject(404, 'orderMissing', { id: oid });
    for (const item of order.items) {
      const product = tx.existing('product', item.pid);
      tx.put('product', item.pid, {
        ...product,
        quantity: product.quantity + item.quantity,
        orderRefs: product.orderRefs - 1,
      });
    }
    const client = tx.existing('client', order.cid);
    if (order.seq === undefined) {
      // A legacy order (written before the index) is listed in the client's own record.
      tx.put('client', order.cid, { ...client, orders: (client.orders ?? []).filter((id) => id !== oid) });
    } else {
      const count = client.orderCount ?? 0;
      assert(count > 0, () => `client ${order.cid} counts no orders but holds order ${oid}`);
      tx.put('clientOrder', clientOrderId(order.cid, order.seq), null);
      tx.put('client', order.cid, { ...client, orderCount: count - 1 });
    }
    tx.put('order', oid, null);
  },
};

function productFromData(data: string): Pick<ProductRecord, 'name' | 'price' | 'quantity'> {
  const input = readProductData(data);
  if (input.ok) return input.value;
  const { problem } = input;
  if (problem.kind === 'price') reject(400, 'priceInvalid');
  if (problem.kind === 'quantity') reject(400, 'quantityInvalid');
  return reject(400, 'invalidData', { detail: problem.detail });
}

/**
 * The requested quantity per product, lines with the same product summed, in first-seen
 * order. Each product must exist (unless the order already holds it) and each quantity must
 * be an integer ≥ 0; stock is checked by the caller once the sums are known.
 */
function requestedLines(data: string, tx: Transaction, alreadyInOrder: (pid: string) => boolean): Map<string, number> {
  const parsed = readOrderItems(data);
  if (!parsed.ok) {
    if (parsed.problem.kind === 'id') reject(400, 'invalidId', { detail: parsed.problem.detail });
    reject(400, 'invalidData', { detail: parsed.problem.detail });
  }
  const lines = new Map<string, number>();
  for (const item of parsed.value) {
    if (!alreadyInOrder(item.pid) && tx.get('product', item.pid) === undefined) {
      reject(404, 'orderProductNotFound', { id: item.pid });
    }
    const quantity = readItemQuantity(item);
    const sum = (lines.get(item.pid) ?? 0) + quantity;
    if (sum > LIMITS.quantityMax) reject(400, 'quantityInvalid');
    lines.set(item.pid, sum);
  }
  return lines;
}

function readItemQuantity(item: RawOrderItem): number {
  const quantity = readQuantity(item.quantity);
  if (quantity === undefined) reject(400, 'quantityInvalid');
  return quantity;
}

