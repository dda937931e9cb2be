import type { Command, Reply } from '../../domain/commands.js';
import { likelyKeys } from '../../domain/likely-keys.js';
import { execute, type Outcome, type RecordView } from '../../domain/machine.js';
import { message } from '../../domain/messages.js';
import { keyString, type RecordKey, type RecordKind, type RecordOfKind } from '../../domain/records.js';
import {
  CommitOutcomeUnknownError,
  EtcdRefusedError,
  EtcdUnavailableError,
  pause,
  RevisionCompactedError,
  type EtcdStore,
  type Versioned,
} from './store.js';
import { MAYBE_APPLIED, NOT_APPLIED } from '../../domain/store-replies.js';
import { assert, unreachable } from '../../util/assert.js';

/**
 * A write in etcd mode: run the shared state machine over records read from etcd at one
 * revision, then commit its writes in one etcd transaction that holds only if none of the
 * records it read has changed since. A conflict means someone else committed first: read
 * again and re-run. The machine is pure, so re-running it is always safe.
 */

export interface OptimisticOptions {
  /** Attempts before answering 503 when other writers keep winning the race. */
  readonly max_attempts: number;
  /** The whole command, all attempts included, must finish within this. */
  readonly timeout_ms: number;
}

/** Thrown by the view to say "this record is not loaded yet"; never escapes this file. */
class NeedRecord extends Error {
  constructor(readonly key: RecordKey) {
    super(`need ${keyString(key)}`);
  }
}

/** Records of one snapshot revision; throws NeedRecord for anything not loaded yet. */
class SnapshotView implements RecordView {
  readonly loaded = new Map<string, Versioned & { key: RecordKey }>();

  get<K extends RecordKind>(kind: K, id: string): RecordOfKind<K> | undefined {
    const key = { kind, id };
    const entry = this.loaded.get(keyString(key));
    if (entry === undefined) throw new NeedRecord(key);
    return entry.record as RecordOfKind<K> | undefined;
  }

  /** Not yet loaded: the client and products of every loaded order. */
  relatedToOrders(): RecordKey[] {
    const keys = new Map<string, RecordKey>();
    const want = (key: RecordKey) => {
      const name = keyString(key);
      if (!this.loaded.has(name)) keys.set(name, key);
    };
    for (const { record } of this.loaded.values()) {
      if (record?.kind !== 'order') continue;
      want({ kind: 'client', id: record.cid });
      for (const item of record.items) want({ kind: 'product', id: item.pid });
    }
    return [...keys.values()];
  }

  add(keys: readonly RecordKey[], values: ReadonlyMap<string, Versioned>): void {
    for (const key of keys) {
      const value = values.get(keyString(key));
      assert(value !== undefined, () => `etcd read did not return ${keyString(key)}`);
      this.loaded.set(keyString(key), { ...value, key });
    }
  }
}


export interface AttemptStats {
  attempts: number;
  conflicts: number;
}

export async function executeOptimistically(store: EtcdStore, command: Command, options: OptimisticOptions, stats?: AttemptStats): Promise<Reply> {
  assert(options.max_attempts >= 1, 'max_attempts must be at least 1');
  const deadline_ms = Date.now() + options.timeout_ms;
  // The first retry goes at once (the re-read already sees the winner's write); later ones back
  // off, with jitter, so portals that keep colliding on a hot record spread out.
  let backoff_ms = 0;
  for (let attempt = 1; attempt <= options.max_attempts; attempt++) {
    if (stats !== undefined) stats.attempts++;
    try {
      const { outcome, view } = await runAtOneRevision(store, command, deadline_ms);
      if (outcome.writes.length === 0) return outcome.reply;
      if (await store.commit(view.loaded, outcome.writes, deadline_ms)) return outcome.reply;
      if (stats !== undefined) stats.conflicts++;
    } catch (err) {
      if (err instanceof RevisionCompactedError) continue;
      if (err instanceof EtcdUnavailableError) return NOT_APPLIED;
      if (err instanceof CommitOutcomeUnknownError) return MAYBE_APPLIED;
      if (err instanceof EtcdRefusedError) return { code: 500, message: message('internalError', { detail: err.message }) };
      throw err;
    }
    if (Date.now() >= deadline_ms) break;
    // Jitter keeps portals that lost the same race from colliding again in lockstep.
    if (backoff_ms > 0) await pause(deadline_ms, backoff_ms);
    backoff_ms = Math.min(Math.max(backoff_ms * 2, 2), 100);
  }
  return NOT_APPLIED;
}

/** Runs the machine until it has every record it wants, all read at the same revision. */
async function runAtOneRevision(store: EtcdStore, command: Command, deadline_ms: number): Promise<{ outcome: Outcome; view: SnapshotView }> {
  const view = new SnapshotView();
  const first = likelyKeys(command);
  const initial = await store.read(first, undefined, deadline_ms);
  view.add(first, initial.values);
  // An order's products and client are what any command on an existing order goes on to read
  // (a delete returns every item to stock): fetch them together rather than one by one.
  const related = view.relatedToOrders();
  if (related.length > 0) view.add(related, (await store.read(related, initial.revision, deadline_ms)).values);
  // Each round loads at least one new record, and a command reads a bounded number of them
  // (an order's items are capped), so this ends; the bound turns a bug into an error.
  for (let round = 0; round < 5_000; round++) {
    try {
      return { outcome: execute(command, view), view };
    } catch (err) {
      if (!(err instanceof NeedRecord)) throw err;
      const more = await store.read([err.key], initial.revision, deadline_ms);
      view.add([err.key], more.values);
    }
  }
  unreachable(() => `${command.op} kept asking for records`);
}
