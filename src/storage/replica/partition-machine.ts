import type { Reply } from '../../domain/commands.js';
import { execute, type RecordFormat, type RecordView, type Write } from '../../domain/machine.js';
import {
  clientOfIndexId,
  clientOrderId,
  clientOrderPrefix,
  keyString,
  seqOfIndexId,
  type ClientOrderRecord,
  type RecordKey,
  type RecordKind,
  type RecordOfKind,
  type StoredRecord,
} from '../../domain/records.js';
import type { ClientOrderEntry } from '../../domain/backend.js';
import { INDEXED, type Decision, type HeldIndexPage, type HeldRecord, type LockHolder, type PartitionEntry, type PartitionResult, type SessionRef } from '../common/entries.js';
import { partitionOfKey } from '../common/partitioning.js';
import type { StateStore } from './state-store.js';
import { assert, defined } from '../../util/assert.js';

/**
 * The state machine of one partition of the storage tier. It runs the shared business rules
 * (src/domain) on the records this partition owns, and the partition's side of two-phase
 * commit for commands that span partitions: locks (phase 1), verdicts at a transaction's home
 * partition, and applying or releasing (phase 2). Deterministic: the result of an entry
 * depends only on the state and the entry, including the entry's log time.
 *
 * Store layout: `r/<kind>/<id>` records (a client's order index is `r/clientOrder/<cid>␟<seq>`,
 * read a page at a time by clientOrders, its writes guarded by the client's lock), `l/<kind>/<id>` locks, `t/<txid>` a transaction's
 * locks here, `d/<txid>` verdicts (home partition), `s/<client>` and `s/<client>/<seq>`
 * sessions and their remembered results, `m/time` the log time so far.
 */
export interface PartitionMachineOptions {
  readonly partition: number;
  readonly partitions: number;
  /** How long a session without requests is remembered (log time). */
  readonly sessionTtl_ms?: number;
  /** At most this many remembered results per session; more is a client bug, refused loudly. */
  readonly sessionMaxResults?: number;
}

interface LockRecord {
  readonly txid: string;
  readonly home: number;
  readonly deadline_ms: number;
}

interface TxLocks {
  readonly keys: readonly RecordKey[];
  readonly home: number;
  readonly deadline_ms: number;
}

interface SessionRecord {
  readonly seen_ms: number;
  readonly ackBelow: number;
  readonly results: number;
  /**
   * One past the highest seq this session has run: a seq at or above it is new, and its
   * remembered result need not be looked up (a miss in the store, once per entry otherwise).
   * Kept only by sessions that began with it; a session record written by an older build has
   * none, as it may have run seqs that its record does not show, so it is looked up as before.
   */
  readonly next?: number;
}

const DEFAULT_SESSION_TTL_MS = 10 * 60_000;
const DEFAULT_SESSION_MAX_RESULTS = 100_000;
/** Expired sessions are swept every this many entries, so the sweep's cost is spread thin. */
const SWEEP_EVERY_ENTRIES = 1024;

/**
 * The entry cannot be applied to this state (a transaction step for locks it does not hold, a
 * session number already acknowledged): every replica refuses it alike and keeps nothing of it.
 * Unlike an invariant failure, this is reachable from what a client sent.
 */
export class EntryRefused extends Error {
  override readonly name = 'EntryRefused';
}

class CrossPartition extends Error {}
class Locked extends Error {
  constructor(
    readonly key: RecordKey,
    readonly holder: LockHolder,
  ) {
    super(`locked by ${holder.txid}`);
  }
}
class NeedKey extends Error {
  constructor(readonly key: RecordKey) {
    super(`need ${keyString(key)}`);
  }
}

const recordKey = (key: RecordKey) => `r/${keyString(key)}`;

/**
 * The record whose lock guards writing `key`: its own, but for an entry of a client's order
 * index, which only a command holding the client (on the same partition) writes. A transaction
 * does not know an order's index key before it has read the client, so it locks the client.
 */
/** Entries of logs written before the order index carry no format: they apply as they did then. */
function formatOf(op: { readonly format?: typeof INDEXED }): RecordFormat {
  return op.format === INDEXED ? 'indexed' : 'legacy';
}

function guardOf(key: RecordKey): RecordKey {
  return key.kind === 'clientOrder' ? { kind: 'client', id: clientOfIndexId(key.id) } : key;
}
const lockKey = (key: RecordKey) => `l/${keyString(key)}`;

export class PartitionMachine {
  private readonly sessionTtl_ms: number;
  private readonly sessionMaxResults: number;
  private appliedSinceSweep = 0;

  constructor(
    private readonly store: StateStore,
    private readonly options: PartitionMachineOptions,
  ) {
    this.sessionTtl_ms = options.sessionTtl_ms ?? DEFAULT_SESSION_TTL_MS;
    this.sessionMaxResults = options.sessionMaxResults ?? DEFAULT_SESSION_MAX_RESULTS;
  }

  /** Log time: never goes back, even when a new leader's clock is behind the old one's. */
  get now_ms(): number {
    return (this.store.get('m/time') as number | undefined) ?? 0;
  }

  owns(key: RecordKey): boolean {
    return partitionOfKey(key, this.options.partitions) === this.options.partition;
  }

  /** The committed value of a record (reads never wait for locks). */
  read<K extends RecordKind>(kind: K, id: string): RecordOfKind<K> | undefined {
    return this.store.get(recordKey({ kind, id })) as RecordOfKind<K> | undefined;
  }

  /** The committed value and the transaction holding the record's lock, expired or not: its verdict may be in. */
  readHeld(kind: RecordKind, id: string): HeldRecord {
    const value = (this.store.get(recordKey({ kind, id })) as StoredRecord | undefined) ?? null;
    const lock = this.store.get(lockKey({ kind, id })) as LockRecord | undefined;
    return lock === undefined ? { value } : { value, lock: { txid: lock.txid, home: lock.home } };
  }

  /**
   * A page of client `cid`'s order index as committed, with the transaction holding the
   * client's lock if any: it may be placing or deleting an order of that client, decided but
   * not yet written here (the reader merges its verdict, as for a record).
   */
  clientOrders(cid: string, afterSeq: number, limit: number): HeldIndexPage {
    const prefix = recordKey({ kind: 'clientOrder', id: clientOrderPrefix(cid) });
    const from = recordKey({ kind: 'clientOrder', id: clientOrderId(cid, afterSeq + 1) });
    const entries: ClientOrderEntry[] = [];
    let full = false;
    for (const [key, value] of this.store.range(prefix, from)) {
      if (entries.length === limit) {
        full = true;
        break;
      }
      // The number comes from the key, which the range is ordered by, so pages only move forward.
      const seq = seqOfIndexId(key);
      if (Number.isSafeInteger(seq)) entries.push({ seq, oid: (value as ClientOrderRecord).oid });
    }
    const page = { entries, next: full ? (entries.at(-1)?.seq ?? afterSeq) : null };
    const lock = this.store.get(lockKey({ kind: 'client', id: cid })) as LockRecord | undefined;
    return lock === undefined ? page : { ...page, lock: { txid: lock.txid, home: lock.home } };
  }

  /** The verdict on a transaction whose home this partition is, until it is forgotten. */
  decision(txid: string): Decision | undefined {
    return this.store.get(`d/${txid}`) as Decision | undefined;
  }

  apply(entry: PartitionEntry): PartitionResult {
    const now = Math.max(this.now_ms, entry.time_ms);
    this.store.put('m/time', now);
    if (++this.appliedSinceSweep >= SWEEP_EVERY_ENTRIES) {
      this.appliedSinceSweep = 0;
      this.sweepSessions(now);
    }
    const op = entry.op;
    switch (op.t) {
      case 'noop':
        return { t: 'done' };
      case 'exec':
        return this.remembered(op.session, now, () => this.exec(op.command, formatOf(op), now));
      case 'lock':
        return this.lock(op.txid, op.home, op.keys, op.deadline_ms, now);
      case 'decide':
        return this.decide(op.txid, op, now);
      case 'abort':
        return this.abort(op.txid, now);
      case 'commit':
        return this.commit(op.txid, op.writes);
      case 'release':
        this.unlockAll(op.txid);
        return { t: 'done' };
      case 'forget':
        this.forget([op.txid, ...(op.more ?? [])]);
        return { t: 'done' };
    }
  }

  /** Records locked by transactions now (for metrics: a scan of the lock keys, done only when asked). */
  locksHeld(): number {
    let held = 0;
    for (const _ of this.store.range('l/')) held++;
    return held;
  }

  /** Locks whose deadline has passed, for recovery to resolve through their home partition. */
  expiredLocks(): Array<{ txid: string; home: number }> {
    const now = this.now_ms;
    const out: Array<{ txid: string; home: number }> = [];
    for (const [key, value] of this.store.range('t/')) {
      const tx = value as TxLocks;
      if (tx.deadline_ms < now) out.push({ txid: key.slice(2), home: tx.home });
    }
    return out;
  }

  /** Verdicts older than `age_ms` whose phase 2 may not have finished (the coordinator may have died). */
  staleDecisions(age_ms: number): Array<{ txid: string; decision: Decision }> {
    const now = this.now_ms;
    const out: Array<{ txid: string; decision: Decision }> = [];
    for (const [key, value] of this.store.range('d/')) {
      const decision = value as Decision;
      if (decision.decided_ms + age_ms < now) out.push({ txid: key.slice(2), decision });
    }
    return out;
  }

  private viewOf(now: number, lookup: (key: RecordKey) => StoredRecord | null | undefined): RecordView {
    return {
      get: <K extends RecordKind>(kind: K, id: string) => {
        const key = { kind, id };
        return (lookup(key) ?? undefined) as RecordOfKind<K> | undefined;
      },
    };
  }

  private holder(key: RecordKey, now: number): LockHolder | undefined {
    const lock = this.store.get(lockKey(key)) as LockRecord | undefined;
    return lock === undefined ? undefined : { ...lock, expired: lock.deadline_ms < now };
  }

  private exec(command: Parameters<typeof execute>[0], format: RecordFormat, now: number): PartitionResult {
    const view = this.viewOf(now, (key) => {
      if (!this.owns(key)) throw new CrossPartition();
      const holder = this.holder(key, now);
      if (holder !== undefined) throw new Locked(key, holder);
      return this.store.get(recordKey(key)) as StoredRecord | undefined;
    });
    let outcome;
    try {
      outcome = execute(command, view, format);
    } catch (err) {
      if (err instanceof CrossPartition) return { t: 'cross-partition' };
      if (err instanceof Locked) return { t: 'locked', key: err.key, holder: err.holder };
      throw err;
    }
    for (const write of outcome.writes) {
      assert(this.owns(write.key), () => `${command.op} writes ${keyString(write.key)} outside partition ${this.options.partition}`);
      this.store.put(recordKey(write.key), write.value ?? undefined);
    }
    return { t: 'reply', reply: outcome.reply };
  }

  private lock(txid: string, home: number, keys: readonly RecordKey[], deadline_ms: number, now: number): PartitionResult {
    for (const key of keys) {
      assert(this.owns(key), () => `lock of ${keyString(key)} sent to partition ${this.options.partition}`);
      const holder = this.holder(key, now);
      if (holder !== undefined && holder.txid !== txid) return { t: 'locked', key, holder };
    }
    const previous = this.store.get(`t/${txid}`) as TxLocks | undefined;
    const all = new Map((previous?.keys ?? []).map((k) => [keyString(k), k]));
    for (const key of keys) {
      all.set(keyString(key), key);
      this.store.put(lockKey(key), { txid, home, deadline_ms } satisfies LockRecord);
    }
    this.store.put(`t/${txid}`, { keys: [...all.values()], home, deadline_ms: Math.max(deadline_ms, previous?.deadline_ms ?? 0) } satisfies TxLocks);
    return { t: 'locked-values', values: keys.map((key) => [key, (this.store.get(recordKey(key)) as StoredRecord | undefined) ?? null] as const) };
  }

  private forget(txids: readonly string[]): void {
    for (const txid of txids) this.store.put(`d/${txid}`, undefined);
  }

  /**
   * The verdict on a transaction, from the commands run in order over the values of its
   * records: those sent (locked on other partitions) and, with `homeApplies`, this partition's
   * own, read here and written at once on a commit (so the home needs no phase of its own).
   */
  private decide(txid: string, op: Extract<PartitionEntry['op'], { t: 'decide' }>, now: number): PartitionResult {
    this.forget(op.forget ?? []);
    const existing = this.store.get(`d/${txid}`) as Decision | undefined;
    if (existing !== undefined) return { t: 'decision', txid, decision: existing };
    const homeApplies = op.homeApplies === true;
    const locked = new Set(op.values.map(([key]) => keyString(key)));
    // Each command sees the writes of the commands before it in the batch.
    const current = new Map<string, Write>(op.values.map(([key, record]) => [keyString(key), { key, value: record }]));
    const view = this.viewOf(now, (key) => {
      const id = keyString(key);
      if (!current.has(id)) {
        if (!homeApplies || !this.owns(key)) throw new NeedKey(key);
        current.set(id, { key, value: this.unlockedValue(key, txid, now) });
      }
      return defined(current.get(id), id).value;
    });
    const replies: Reply[] = [];
    const need: RecordKey[] = [];
    const written = new Set<string>();
    try {
      for (const command of op.commands) {
        let outcome;
        try {
          outcome = execute(command, view, formatOf(op));
        } catch (err) {
          if (!(err instanceof NeedKey)) throw err;
          need.push(err.key);
          continue;
        }
        replies.push(outcome.reply);
        for (const write of outcome.writes) {
          if (homeApplies && this.owns(write.key)) this.mustBeFree(write.key, txid, now);
          else if (!locked.has(keyString(guardOf(write.key)))) throw new EntryRefused(`transaction ${txid} writes ${keyString(write.key)} but sent no locked value for it`);
          current.set(keyString(write.key), write);
          written.add(keyString(write.key));
        }
      }
    } catch (err) {
      // Another transaction holds one of this partition's records: nothing is decided, the coordinator retries.
      if (err instanceof Locked) return { t: 'locked', key: err.key, holder: err.holder };
      throw err;
    }
    // A verdict needs every command's records; ask for all the missing ones at once.
    if (need.length > 0) return { t: 'need', keys: [...new Map(need.map((k) => [keyString(k), k])).values()] };
    const writes = [...written].map((id) => defined(current.get(id), id));
    const decision: Decision = {
      outcome: writes.length > 0 ? 'commit' : 'abort',
      replies,
      writes,
      participants: op.participants,
      decided_ms: now,
    };
    this.store.put(`d/${txid}`, decision);
    if (homeApplies && decision.outcome === 'commit') {
      for (const write of writes) if (this.owns(write.key)) this.store.put(recordKey(write.key), write.value ?? undefined);
    }
    return { t: 'decision', txid, decision };
  }

  /** Throws Locked when a transaction other than `txid` holds the lock guarding `key`. */
  private mustBeFree(key: RecordKey, txid: string, now: number): void {
    const holder = this.holder(guardOf(key), now);
    if (holder !== undefined && holder.txid !== txid) throw new Locked(key, holder);
  }

  /** The record at `key` of this partition, unless another transaction than `txid` holds its lock. */
  private unlockedValue(key: RecordKey, txid: string, now: number): StoredRecord | null {
    this.mustBeFree(key, txid, now);
    return (this.store.get(recordKey(key)) as StoredRecord | undefined) ?? null;
  }

  private abort(txid: string, now: number): PartitionResult {
    const existing = this.store.get(`d/${txid}`) as Decision | undefined;
    if (existing !== undefined) return { t: 'decision', txid, decision: existing };
    const decision: Decision = { outcome: 'abort', replies: [], writes: [], participants: [], decided_ms: now };
    this.store.put(`d/${txid}`, decision);
    return { t: 'decision', txid, decision };
  }

  private commit(txid: string, writes: readonly Write[]): PartitionResult {
    const tx = this.store.get(`t/${txid}`) as TxLocks | undefined;
    // Already committed here (a retried phase 2): nothing left to do.
    if (tx === undefined) return { t: 'done' };
    for (const write of writes) {
      const lock = this.store.get(lockKey(guardOf(write.key))) as LockRecord | undefined;
      if (lock?.txid !== txid) throw new EntryRefused(`transaction ${txid} commits ${keyString(write.key)} without holding its lock`);
      this.store.put(recordKey(write.key), write.value ?? undefined);
    }
    this.unlockAll(txid);
    return { t: 'done' };
  }

  private unlockAll(txid: string): void {
    const tx = this.store.get(`t/${txid}`) as TxLocks | undefined;
    if (tx === undefined) return;
    for (const key of tx.keys) {
      const lock = this.store.get(lockKey(key)) as LockRecord | undefined;
      if (lock?.txid === txid) this.store.put(lockKey(key), undefined);
    }
    this.store.put(`t/${txid}`, undefined);
  }

  /**
   * Exactly-once for retried requests: the result of each (client, seq) is remembered until
   * the client says it has seen it (`ackBelow`) or the session expires by log time.
   */
  private remembered(session: SessionRef & { ackBelow?: number }, now: number, run: () => PartitionResult): PartitionResult {
    const sessionKey = `s/${session.client}`;
    const current = this.store.get(sessionKey) as SessionRecord | undefined;
    const ackBelow = Math.max(current?.ackBelow ?? 0, session.ackBelow ?? 0);
    const resultKey = `${sessionKey}/${String(session.seq).padStart(16, '0')}`;
    if (session.seq < ackBelow) {
      // The client has already seen this result; a retry this late is a client bug.
      throw new EntryRefused(`session ${session.client} retried seq ${session.seq}, below ${ackBelow} which it has acknowledged`);
    }
    // A session without a record has run nothing (its results went with it), so it starts counting.
    const next = current === undefined ? 0 : current.next;
    const remembered = next !== undefined && session.seq >= next ? undefined : (this.store.get(resultKey) as PartitionResult | undefined);
    let results = current?.results ?? 0;
    for (const key of this.acknowledgedResults(sessionKey, current?.ackBelow ?? 0, ackBelow)) {
      this.store.put(key, undefined);
      results--;
    }
    // A record of an older build stays without `next` (see SessionRecord).
    const save = (results: number, next: number | undefined) =>
      this.store.put(sessionKey, (next === undefined ? { seen_ms: now, ackBelow, results } : { seen_ms: now, ackBelow, results, next }) satisfies SessionRecord);
    if (remembered !== undefined) {
      save(results, next);
      return remembered;
    }
    if (results >= this.sessionMaxResults) {
      throw new EntryRefused(`session ${session.client} holds ${results} unacknowledged results (limit ${this.sessionMaxResults}): the client must acknowledge what it has received`);
    }
    const result = run();
    this.store.put(resultKey, result);
    save(results + 1, next === undefined ? undefined : Math.max(next, session.seq + 1));
    return result;
  }

  /**
   * The remembered results of seqs in [from, below): looked up one by one when the step is
   * small (the usual case: one more answer received), found by a range scan otherwise, so a
   * huge jump in ackBelow costs the results it frees, not the numbers it skips.
   */
  private acknowledgedResults(sessionKey: string, from: number, below: number): string[] {
    const resultKey = (seq: number) => `${sessionKey}/${String(seq).padStart(16, '0')}`;
    const keys: string[] = [];
    if (below - from <= 64) {
      for (let seq = from; seq < below; seq++) if (this.store.get(resultKey(seq)) !== undefined) keys.push(resultKey(seq));
      return keys;
    }
    // From `from` on: the results below it are deleted already, but while the batch that deleted
    // them is staged the store still holds them, and scanning them again for every entry costs.
    // Keys only: a busy replica deletes about one result per entry this way, and reading each
    // one's value as well took three times the CPU (bench/store-reads.ts).
    for (const key of this.store.keys(`${sessionKey}/`, resultKey(from), resultKey(below))) keys.push(key);
    return keys;
  }

  private sweepSessions(now: number): void {
    const expired: string[] = [];
    // Session records are `s/<client>`, their results `s/<client>/<seq>`: the scan reads the
    // records and skips each run of results with a new range past it, rather than reading (and
    // decoding) every result a session holds, thousands under a backlog.
    for (let from: string | undefined = 's/'; from !== undefined; ) {
      const start: string = from;
      from = undefined;
      for (const [key, value] of this.store.range('s/', start)) {
        const parts = key.split('/');
        if (parts.length === 2) {
          if ((value as SessionRecord).seen_ms + this.sessionTtl_ms < now) expired.push(key);
          continue;
        }
        // Past the run, unless a strange client name puts this key past it already: no seek
        // may go backwards, or the sweep would never end.
        const past = `${parts[0]}/${parts[1]}/\uffff`;
        if (past <= key) continue;
        from = past;
        break;
      }
    }
    for (const sessionKey of expired) {
      const doomed = [...this.store.range(`${sessionKey}/`)].map(([key]) => key);
      for (const key of doomed) this.store.put(key, undefined);
      this.store.put(sessionKey, undefined);
    }
  }
}
