import type { RecordKey, RecordKind, StoredRecord } from '../../domain/records.js';

/**
 * Where each record lives in etcd: `{prefix}/{kind}/{id}` with the record as JSON. The prefix
 * lets several shops share one cluster; the `/` after it keeps `/ecom` and `/ecom2` apart.
 */
export const DEFAULT_ETCD_PREFIX = '/ecom';

const KINDS: readonly RecordKind[] = ['client', 'product', 'order', 'clientOrder'];

/** Checks a --etcd-prefix value; returns it without a trailing slash. */
export function normalizePrefix(text: string): string {
  const trimmed = text.replace(/\/+$/, '');
  if (!trimmed.startsWith('/') || trimmed.length < 2) {
    throw new Error(`etcd prefix "${text}" must start with "/" and name something, such as /ecom or /shops/north`);
  }
  if (/[\u0000-\u001f\u007f]/.test(trimmed)) throw new Error(`etcd prefix "${text}" contains control characters`);
  return trimmed;
}

export class KeyLayout {
  private readonly textEncoder = new TextEncoder();

  constructor(readonly prefix: string) {}

  /** Everything this shop stores starts with this; the watch for the cache covers it. */
  get root(): string {
    return `${this.prefix}/`;
  }

  keyOf(key: RecordKey): string {
    return `${this.prefix}/${key.kind}/${key.id}`;
  }

  bytesOf(key: RecordKey): Buffer {
    return Buffer.from(this.textEncoder.encode(this.keyOf(key)));
  }

  /** The record key an etcd key names, or undefined for a key that is not one of ours. */
  parse(etcdKey: string): RecordKey | undefined {
    if (!etcdKey.startsWith(this.root)) return undefined;
    const rest = etcdKey.slice(this.root.length);
    const slash = rest.indexOf('/');
    if (slash <= 0) return undefined;
    const kind = rest.slice(0, slash) as RecordKind;
    if (!KINDS.includes(kind)) return undefined;
    return { kind, id: rest.slice(slash + 1) };
  }
}

export function encodeRecord(record: StoredRecord): Buffer {
  return Buffer.from(JSON.stringify(record), 'utf8');
}

/**
 * Decodes a stored value. etcd is shared with other programs, so a value that is not a record
 * of the expected kind is reported loudly instead of being fed to the business rules.
 */
export function decodeRecord(kind: RecordKind, etcdKey: string, value: Buffer): StoredRecord {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString('utf8'));
  } catch {
    throw new Error(`etcd key ${etcdKey} does not hold JSON; is another program writing under this prefix?`);
  }
  if (!isRecordOfKind(parsed, kind)) {
    throw new Error(`etcd key ${etcdKey} does not hold a ${kind} record; is another program writing under this prefix?`);
  }
  return parsed;
}

function isRecordOfKind(value: unknown, kind: RecordKind): value is StoredRecord {
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Record<string, unknown>;
  if (r.kind !== kind) return false;
  switch (kind) {
    case 'client':
      return typeof r.name === 'string' && optionalCount(r.orderCount) && optionalCount(r.lastSeq) && (r.orders === undefined || (Array.isArray(r.orders) && r.orders.every((o) => typeof o === 'string')));
    case 'product':
      return typeof r.name === 'string' && typeof r.price === 'string' && Number.isSafeInteger(r.quantity) && Number.isSafeInteger(r.orderRefs);
    case 'order':
      return typeof r.cid === 'string' && optionalCount(r.seq) && Array.isArray(r.items);
    case 'clientOrder':
      return typeof r.oid === 'string' && Number.isSafeInteger(r.seq);
  }
}

function optionalCount(value: unknown): boolean {
  return value === undefined || (Number.isSafeInteger(value) && (value as number) >= 0);
}
