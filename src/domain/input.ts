import { isPlainDecimal, plainDecimalFromNumberLexeme, withinPriceLimits } from './decimal.js';
import { idProblem } from './ids.js';
import { LIMITS } from './limits.js';
import { message, type Message } from './messages.js';
import { field, isJsonObject, JsonNumber, parseRequestJson, type RequestJson } from './request-json.js';

/**
 * Reading the `data` of a request into typed values. Each reader returns either the value or
 * why it was refused; the state machine decides which reply that becomes.
 */
export type Read<T> = { ok: true; value: T } | { ok: false; detail: Message };

const NAME_EXAMPLE = '{"name": "Ana"}';

/** A non-negative integer up to 2^53−1, given as digits in a string or as an integral number. */
export function readQuantity(value: RequestJson | undefined): number | undefined {
  let digits: string | undefined;
  if (typeof value === 'string') {
    if (/^\d+$/.test(value)) digits = value;
  } else if (value instanceof JsonNumber) {
    const plain = plainDecimalFromNumberLexeme(value.lexeme);
    if (plain !== undefined) {
      const [whole = '', fraction = ''] = plain.split('.');
      if (/^0*$/.test(fraction)) digits = whole;
    }
  }
  if (digits === undefined || digits.length > 20) return undefined;
  const quantity = BigInt(digits);
  return quantity <= BigInt(LIMITS.quantityMax) ? Number(quantity) : undefined;
}

/** A non-negative decimal price, kept as written ("2.50" stays "2.50"). */
export function readPrice(value: RequestJson | undefined): string | undefined {
  let plain: string | undefined;
  if (typeof value === 'string') plain = isPlainDecimal(value) ? value : undefined;
  else if (value instanceof JsonNumber) plain = plainDecimalFromNumberLexeme(value.lexeme);
  return plain !== undefined && withinPriceLimits(plain) ? plain : undefined;
}

function readName(obj: { [key: string]: RequestJson }): Read<string> {
  const name = field(obj, 'name');
  if (typeof name !== 'string' || name.trim().length === 0) return { ok: false, detail: message('detailNameMissing') };
  if (name.length > LIMITS.nameMaxChars) return { ok: false, detail: message('detailNameTooLong', { max: LIMITS.nameMaxChars }) };
  return { ok: true, value: name };
}

function readObject(data: string, example: string): Read<{ [key: string]: RequestJson }> {
  const parsed = parseRequestJson(data);
  if (!parsed.ok) return parsed;
  if (!isJsonObject(parsed.value)) return { ok: false, detail: message('detailNotObject', { example }) };
  return { ok: true, value: parsed.value };
}

export function readClientData(data: string): Read<{ name: string }> {
  const obj = readObject(data, NAME_EXAMPLE);
  if (!obj.ok) return obj;
  const name = readName(obj.value);
  return name.ok ? { ok: true, value: { name: name.value } } : name;
}

export type ProductDataProblem = { kind: 'data'; detail: Message } | { kind: 'price' } | { kind: 'quantity' };

/** Product data, checked in the original's order: the JSON, then price, quantity, name. */
export function readProductData(
  data: string,
): { ok: true; value: { name: string; price: string; quantity: number } } | { ok: false; problem: ProductDataProblem } {
  const obj = readObject(data, '{"name": "Caneta", "price": "2.50", "quantity": 8}');
  if (!obj.ok) return { ok: false, problem: { kind: 'data', detail: obj.detail } };
  const price = readPrice(field(obj.value, 'price'));
  if (price === undefined) return { ok: false, problem: { kind: 'price' } };
  const quantity = readQuantity(field(obj.value, 'quantity'));
  if (quantity === undefined) return { ok: false, problem: { kind: 'quantity' } };
  const name = readName(obj.value);
  if (!name.ok) return { ok: false, problem: { kind: 'data', detail: name.detail } };
  return { ok: true, value: { name: name.value, price, quantity } };
}

/** One line of an order request; the quantity is read later, after the product is known. */
export interface RawOrderItem {
  readonly pid: string;
  readonly quantity: RequestJson | undefined;
}

export type OrderItemsProblem = { kind: 'data'; detail: Message } | { kind: 'id'; detail: Message };

function readItemId(value: RequestJson | undefined): string | undefined {
  if (typeof value === 'string') return value;
  if (value instanceof JsonNumber && /^\d+$/.test(value.lexeme)) return value.lexeme;
  return undefined;
}

/**
 * Order data: `[{"id": "1", "quantity": "3"}, ...]`, or the course's
 * `{"products": [{"PID": "1", "quantity": 3}]}`; either key names the product in both forms.
 */
export function readOrderItems(data: string): { ok: true; value: RawOrderItem[] } | { ok: false; problem: OrderItemsProblem } {
  const parsed = parseRequestJson(data);
  if (!parsed.ok) return { ok: false, problem: { kind: 'data', detail: parsed.detail } };
  let list: RequestJson | undefined = parsed.value;
  if (isJsonObject(list)) list = field(list, 'products');
  if (!Array.isArray(list)) return { ok: false, problem: { kind: 'data', detail: message('detailOrderNotList') } };
  if (list.length > LIMITS.orderMaxItems) {
    return { ok: false, problem: { kind: 'data', detail: message('detailTooManyItems', { max: LIMITS.orderMaxItems }) } };
  }
  const items: RawOrderItem[] = [];
  for (const [index, entry] of list.entries()) {
    const n = index + 1;
    if (!isJsonObject(entry)) return { ok: false, problem: { kind: 'data', detail: message('detailItemNotObject', { n }) } };
    const pid = readItemId(field(entry, 'id') ?? field(entry, 'PID'));
    if (pid === undefined) return { ok: false, problem: { kind: 'data', detail: message('detailItemIdMissing', { n }) } };
    const problem = idProblem(pid);
    if (problem !== undefined) return { ok: false, problem: { kind: 'id', detail: message('detailItemId', { n, detail: problem }) } };
    items.push({ pid, quantity: field(entry, 'quantity') });
  }
  return { ok: true, value: items };
}
