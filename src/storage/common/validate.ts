import { COMMAND_OPS } from '../../domain/commands.js';
import { keyString, type RecordKey } from '../../domain/records.js';
import { CLIENT_ORDER_PAGE_MAX } from '../../domain/backend.js';
import { INDEXED, MAX_FORGET_PER_ENTRY } from './entries.js';
import { partitionOfKey } from './partitioning.js';
import { memberChangeProblem } from './members.js';

/**
 * What a replica checks before a request may enter its partition's log (docs/robustness.md):
 * shape, types, sizes, the partition, session numbers. A request that passes can be applied by
 * every replica; one that does not is refused at once with the reason, nothing appended.
 * The checks are by hand rather than a schema library: they are few, they need the partition
 * map (a key must belong here), and they must cost nothing on the hot path.
 */
export const LIMITS = {
  /**
   * IDs, session and transaction names. Far above the API's own limits (128-character IDs,
   * 64 KiB of data; docs/spec.md), which the business rules answer with a 400 of their own:
   * these bound memory, they are not the contract.
   */
  name_chars: 65_536,
  /** A command's JSON data as the portal received it. */
  data_chars: 4 << 20,
  /** Commands of one transaction, keys locked by one request, writes of one commit. */
  batch_items: 4_096,
  /** Items of one order record. */
  order_items: 10_000,
} as const;

export type Problem = string | undefined;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isName = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= LIMITS.name_chars;
/** Record IDs may be empty here: the business rules answer an empty ID with their own 400. */
const isId = (v: unknown): v is string => typeof v === 'string' && v.length <= LIMITS.name_chars;
const isIdList = (v: unknown): boolean => Array.isArray(v) && v.every(isId);
const optional = (v: unknown, check: (v: unknown) => boolean): boolean => v === undefined || check(v);
const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;
const KINDS: ReadonlySet<string> = new Set(['client', 'product', 'order', 'clientOrder']);

function nameProblem(what: string, v: unknown): Problem {
  return isName(v) ? undefined : `${what} must be a non-empty string of at most ${LIMITS.name_chars} characters`;
}

function listProblem(what: string, v: unknown, max: number = LIMITS.batch_items): Problem {
  if (!Array.isArray(v)) return `${what} must be an array`;
  return v.length <= max ? undefined : `${what} holds ${v.length} items (at most ${max})`;
}

/** The first problem of `checks`, evaluated in order. */
function first(...checks: Array<() => Problem>): Problem {
  for (const check of checks) {
    const problem = check();
    if (problem !== undefined) return problem;
  }
  return undefined;
}

export function commandProblem(command: unknown): Problem {
  if (!isObject(command)) return 'command must be an object';
  const op = command.op;
  if (typeof op !== 'string' || !(COMMAND_OPS as readonly string[]).includes(op)) return `unknown command ${JSON.stringify(op)?.slice(0, 40)}`;
  const c = command as Partial<Record<'cid' | 'pid' | 'oid' | 'data', unknown>>;
  const needs = { cid: /Client$|Order$/.test(op) && op !== 'DeleteOrder', pid: /Product$/.test(op), oid: /Order$/.test(op), data: /^(Create|Update)/.test(op) };
  for (const field of ['cid', 'pid', 'oid'] as const) {
    if (needs[field] && !isId(c[field])) return `${op}: ${field} must be a string of at most ${LIMITS.name_chars} characters`;
  }
  if (needs.data && (typeof c.data !== 'string' || c.data.length > LIMITS.data_chars)) return `${op}: data must be a string of at most ${LIMITS.data_chars} characters`;
  return undefined;
}

function keyProblem(key: unknown, owns: (key: RecordKey) => boolean): Problem {
  if (!isObject(key) || typeof key.kind !== 'string' || !KINDS.has(key.kind) || !isId(key.id)) return `a key must be {kind: client|product|order|clientOrder, id: a string of at most ${LIMITS.name_chars} characters}`;
  return owns(key as unknown as RecordKey) ? undefined : `key ${key.kind}/${key.id as string} belongs to another partition`;
}

export function recordProblem(record: unknown): Problem {
  if (!isObject(record)) return 'a record must be an object';
  switch (record.kind) {
    case 'client':
      return typeof record.name === 'string' && optional(record.orderCount, isCount) && optional(record.lastSeq, isCount) && optional(record.orders, isIdList)
        ? undefined
        : 'a client record needs a name, and may have orderCount and lastSeq (whole numbers) and a legacy orders list';
    case 'product':
      return typeof record.name === 'string' && typeof record.price === 'string' && isCount(record.quantity) && isCount(record.orderRefs)
        ? undefined
        : 'a product record needs name, price, quantity and orderRefs';
    case 'order': {
      const items = record.items;
      if (!isId(record.cid) || !optional(record.seq, isCount) || !Array.isArray(items) || items.length > LIMITS.order_items) return 'an order record needs cid and items, and may have seq';
      const itemOk = (i: unknown) => isObject(i) && isId(i.pid) && typeof i.name === 'string' && typeof i.price === 'string' && isCount(i.quantity);
      return items.every(itemOk) ? undefined : 'an order item needs pid, name, price and quantity';
    }
    case 'clientOrder':
      return isId(record.oid) && isCount(record.seq) ? undefined : 'a clientOrder record needs oid and seq';
    default:
      return 'a record must be of kind client, product, order or clientOrder';
  }
}

function recordOfKeyProblem(key: RecordKey, record: unknown): Problem {
  const problem = recordProblem(record);
  if (problem !== undefined) return problem;
  return (record as { kind: string }).kind === key.kind ? undefined : `the record of ${key.kind}/${key.id} is of kind ${(record as { kind: string }).kind}`;
}

function formatProblem(format: unknown): Problem {
  return format === undefined || format === INDEXED ? undefined : `format must be "${INDEXED}" or absent (a log of an older build), got ${JSON.stringify(format)?.slice(0, 40)}`;
}

function sessionProblem(session: unknown): Problem {
  if (!isObject(session)) return 'session must be an object';
  const { client, seq, ackBelow } = session;
  if (!isName(client)) return nameProblem('session client', client);
  if (!isCount(seq)) return 'session seq must be a whole number ≥ 0';
  if (ackBelow === undefined) return undefined;
  // A client acknowledges only answers it has received, and this request's is still to come.
  if (!isCount(ackBelow) || ackBelow > seq) return `session ackBelow must be a whole number from 0 to seq (${seq}), got ${JSON.stringify(ackBelow)}`;
  return undefined;
}

function valuesProblem(values: unknown): Problem {
  return first(
    () => listProblem('values', values),
    () => {
      for (const pair of values as unknown[]) {
        if (!Array.isArray(pair) || pair.length !== 2) return 'each value must be [key, record or null]';
        const problem = keyProblem(pair[0], () => true) ?? (pair[1] === null ? undefined : recordOfKeyProblem(pair[0] as RecordKey, pair[1]));
        if (problem !== undefined) return problem;
      }
      return undefined;
    },
  );
}

/** A decide entry whose home reads its own records must not also carry values for them (they could be stale). */
function homeAppliesProblem(homeApplies: unknown, values: unknown[][], owns: (key: RecordKey) => boolean): Problem {
  if (homeApplies === undefined) return undefined;
  if (homeApplies !== true) return `homeApplies must be true or absent, got ${JSON.stringify(homeApplies)?.slice(0, 40)}`;
  const own = values.find((pair) => owns(pair[0] as RecordKey));
  return own === undefined ? undefined : `with homeApplies, values must hold only other partitions' records, not ${keyString(own[0] as RecordKey)}`;
}

function forgetListProblem(field: string, txids: unknown): Problem {
  if (txids === undefined) return undefined;
  if (!Array.isArray(txids)) return `${field} must be a list of transaction ids`;
  if (txids.length > MAX_FORGET_PER_ENTRY) return `${field} holds ${txids.length} transaction ids; at most ${MAX_FORGET_PER_ENTRY} per entry`;
  return txids.map((txid) => nameProblem(`${field} txid`, txid)).find((p) => p !== undefined);
}

/**
 * The problem with `op` as an entry of `partition` (of `partitions`), or undefined when every
 * replica can apply it. Checks what the entry alone shows; what depends on the state (a lock
 * held, a session already acknowledged) is refused deterministically when applied.
 */
export function partitionOpProblem(op: unknown, partition: number, partitions: number): Problem {
  if (!isObject(op)) return 'entry must be an object';
  const owns = (key: RecordKey) => partitionOfKey(key, partitions) === partition;
  const ownsAll = (keys: unknown[], pick: (item: unknown) => unknown = (k) => k): Problem => {
    for (const item of keys) {
      const problem = keyProblem(pick(item), owns);
      if (problem !== undefined) return problem;
    }
    return undefined;
  };
  switch (op.t) {
    case 'noop':
      return undefined;
    case 'exec':
      return formatProblem(op.format) ?? sessionProblem(op.session) ?? commandProblem(op.command);
    case 'lock':
      return first(
        () => nameProblem('txid', op.txid),
        () => (isCount(op.home) && op.home < partitions ? undefined : `home must be a partition from 0 to ${partitions - 1}`),
        () => (isTime(op.deadline_ms) ? undefined : 'deadline_ms must be a time ≥ 0'),
        () => listProblem('keys', op.keys) ?? ownsAll(op.keys as unknown[]),
      );
    case 'decide':
      return first(
        () => nameProblem('txid', op.txid),
        () => formatProblem(op.format),
        () => listProblem('commands', op.commands) ?? (op.commands as unknown[]).map(commandProblem).find((p) => p !== undefined),
        () => valuesProblem(op.values),
        () => listProblem('participants', op.participants) ?? ((op.participants as unknown[]).every((p) => isCount(p) && p < partitions) ? undefined : 'participants must be partitions'),
        () => homeAppliesProblem(op.homeApplies, op.values as unknown[][], owns),
        () => forgetListProblem('forget', op.forget),
      );
    case 'commit':
      return first(
        () => nameProblem('txid', op.txid),
        () => listProblem('writes', op.writes),
        () => {
          for (const w of op.writes as unknown[]) {
            if (!isObject(w)) return 'each write must be {key, value}';
            const problem = keyProblem(w.key, owns) ?? (w.value === null ? undefined : recordOfKeyProblem(w.key as RecordKey, w.value));
            if (problem !== undefined) return problem;
          }
          return undefined;
        },
      );
    case 'forget':
      return nameProblem('txid', op.txid) ?? forgetListProblem('more', op.more);
    case 'abort':
    case 'release':
      return nameProblem('txid', op.txid);
    default:
      return `unknown entry type ${JSON.stringify(op.t)?.slice(0, 40)}`;
  }
}

/**
 * Checked when an entry is proposed, not when it is applied: a session's record is the key
 * `s/<client>` and its results `s/<client>/<seq>`, so a client named `a/0000000000000005` would
 * have its record where client `a` keeps the result of seq 5. Portals name their sessions with
 * random UUIDs; a name with `/` is refused before it can reach the log. Entries already in a log
 * apply as before, on every replica alike.
 */
function proposedSessionProblem(op: unknown): Problem {
  const session = isObject(op) ? op.session : undefined;
  if (!isObject(session) || typeof session.client !== 'string' || !session.client.includes('/')) return undefined;
  return `session client must not contain "/" (it separates a session's results in the store), got ${JSON.stringify(session.client).slice(0, 60)}`;
}

/**
 * The problem with a request to a replica of `partition` (of `partitions`), or undefined.
 * A request for another partition passes here: the replica answers it with where to go.
 */
export function requestProblem(body: unknown, partition: number, partitions: number): Problem {
  if (!isObject(body)) return 'a request must be an object';
  if (body.op === 'status' || body.op === 'trace') return undefined;
  if (!isCount(body.partition)) return 'partition must be a whole number ≥ 0';
  if (body.partition !== partition) return undefined;
  switch (body.op) {
    case 'propose':
      return partitionOpProblem(body.entry, partition, partitions) ?? proposedSessionProblem(body.entry);
    case 'read':
      if (body.held !== undefined && typeof body.held !== 'boolean') return 'held must be true or false';
      return typeof body.kind === 'string' && KINDS.has(body.kind) && isId(body.id) ? undefined : 'read needs kind (client, product, order or clientOrder) and id';
    case 'clientOrders':
      if (!isId(body.cid) || !isCount(body.afterSeq)) return 'clientOrders needs cid and afterSeq (a whole number ≥ 0)';
      return isCount(body.limit) && body.limit >= 1 && body.limit <= CLIENT_ORDER_PAGE_MAX ? undefined : `clientOrders needs limit from 1 to ${CLIENT_ORDER_PAGE_MAX}`;
    case 'decision':
      return nameProblem('txid', body.txid);
    case 'expiredLocks':
    case 'backupOpen':
      return undefined;
    case 'backupRead':
      return isCount(body.copy) && body.copy > 0 && isCount(body.offset) ? undefined : 'backupRead needs copy (a copy\'s number) and offset (a whole number ≥ 0)';
    case 'staleDecisions':
      return isTime(body.age_ms) ? undefined : 'age_ms must be a number of milliseconds ≥ 0';
    case 'transferLeader':
      return isCount(body.to) && body.to > 0 ? undefined : 'to must be a replica ID';
    case 'changeMember':
      return memberChangeProblem(body, partition);
    default:
      return `unknown request ${JSON.stringify(body.op)?.slice(0, 40)}`;
  }
}
