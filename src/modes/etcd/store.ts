import { Etcd3, type IOptions, type IRequestOp, type ICompare } from 'etcd3';
import type { Write } from '../../domain/machine.js';
import type { RecordKey, RecordKind, StoredRecord } from '../../domain/records.js';
import { keyString } from '../../domain/records.js';
import { decodeRecord, encodeRecord, type KeyLayout } from './keys.js';
import { assert } from '../../util/assert.js';

/**
 * The few etcd calls etcd mode needs (read keys at one revision, commit one guarded
 * transaction), each with a deadline and with every failure sorted by what it means for the
 * caller: nothing happened, something may have happened, or etcd refuses this request for good.
 */

/** A record as read, with the revision that last changed it ("0" when the key is absent). */
export interface Versioned {
  readonly record: StoredRecord | undefined;
  readonly modRevision: string;
}

export interface ReadResult {
  /** The store revision the values belong to. */
  readonly revision: string;
  readonly values: ReadonlyMap<string, Versioned>;
}

/** etcd could not be asked or did not answer; the request certainly changed nothing. */
export class EtcdUnavailableError extends Error {
  override readonly name = 'EtcdUnavailableError';
}

/** A commit was sent but its answer never came: it may or may not have been applied. */
export class CommitOutcomeUnknownError extends Error {
  override readonly name = 'CommitOutcomeUnknownError';
}

/** etcd answered and refuses this request whatever we retry (a cluster limit, a foreign value). */
export class EtcdRefusedError extends Error {
  override readonly name = 'EtcdRefusedError';
}

/** The revision we read at was compacted away; the caller starts over at a fresh revision. */
export class RevisionCompactedError extends Error {
  override readonly name = 'RevisionCompactedError';
}

export type FailureKind = 'not-sent' | 'unknown' | 'refused' | 'compacted';

/**
 * What a failed call means. Only failures that happen before a byte reaches etcd count as
 * "not sent"; anything else on a write may have been applied (a timed-out proposal can still
 * commit later, a leader change can drop or keep it).
 */
export function classifyFailure(err: unknown): FailureKind {
  const name = err instanceof Error ? err.name : '';
  const text = err instanceof Error ? err.message : String(err);
  if (/too many operations in txn request|request is too large|value is too large|exceeds the limit/i.test(text)) return 'refused';
  if (/required revision has been compacted/i.test(text)) return 'compacted';
  if (name === 'BrokenCircuitError' || /No connection established|ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|Name resolution failed/i.test(text)) {
    return 'not-sent';
  }
  return 'unknown';
}

/** Keys per read-only transaction, well under etcd's default --max-txn-ops of 128. */
const READ_BATCH_KEYS = 100;

export interface EtcdStoreOptions {
  readonly endpoints: readonly string[];
  readonly layout: KeyLayout;
  /** Longest a single etcd call may take before we try another member or give up. */
  readonly call_timeout_ms: number;
}

type Policy = NonNullable<NonNullable<IOptions['faultHandling']>['global']>;

/**
 * The library's default global policy retries failed calls on another member. That is right
 * for reads but wrong for a commit whose answer was lost: a retry would fail its compares and
 * make us misreport the command. We retry ourselves, knowing which call is which.
 */
function passThroughPolicy(): Policy {
  const noEvent = () => ({ dispose: () => undefined });
  const policy = {
    onSuccess: noEvent,
    onFailure: noEvent,
    execute: async <T>(fn: (context: { signal: AbortSignal }) => PromiseLike<T> | T, signal?: AbortSignal): Promise<T> =>
      fn({ signal: signal ?? new AbortController().signal }),
  };
  return policy as unknown as Policy;
}

export class EtcdStore {
  readonly client: Etcd3;
  private readonly layout: KeyLayout;
  private readonly call_timeout_ms: number;

  constructor(options: EtcdStoreOptions) {
    assert(options.endpoints.length > 0, 'EtcdStore needs at least one endpoint');
    this.layout = options.layout;
    this.call_timeout_ms = options.call_timeout_ms;
    this.client = new Etcd3({
      hosts: [...options.endpoints],
      faultHandling: { global: passThroughPolicy() },
      // grpc-js otherwise backs off reconnecting for up to two minutes after a member was down.
      grpcOptions: { 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 1000 },
    });
  }

  private callOptions(deadline_ms: number): { deadline: number } {
    return { deadline: Math.min(deadline_ms, Date.now() + this.call_timeout_ms) };
  }

  /**
   * Reads keys, linearizably when `atRevision` is undefined (then all keys of the first batch
   * come from one revision, which later batches reuse), else at that past revision so that
   * lazily loaded keys belong to the same snapshot as the first ones.
   */
  async read(keys: readonly RecordKey[], atRevision: string | undefined, deadline_ms: number): Promise<ReadResult> {
    const values = new Map<string, Versioned>();
    let revision = atRevision;
    for (let start = 0; start < keys.length || revision === undefined; start += READ_BATCH_KEYS) {
      const batch = keys.slice(start, start + READ_BATCH_KEYS);
      const ops: IRequestOp[] = batch.map((key) => ({
        request_range: { key: this.layout.bytesOf(key), ...(revision === undefined ? {} : { revision }) },
      }));
      // etcd treats a transaction without ranges as serializable and may answer it from a
      // lagging member; one (cheap, count-only) range makes it linearizable.
      if (ops.length === 0) ops.push({ request_range: { key: Buffer.from(this.layout.root), count_only: true } });
      const response = await this.withRetries(deadline_ms, () => this.client.kv.txn({ success: ops }, this.callOptions(deadline_ms)));
      revision ??= response.header.revision;
      batch.forEach((key, i) => {
        const kv = response.responses[i]?.response_range.kvs[0];
        const etcdKey = this.layout.keyOf(key);
        values.set(
          keyString(key),
          kv === undefined ? { record: undefined, modRevision: '0' } : { record: decodeRecord(key.kind, etcdKey, kv.value), modRevision: kv.mod_revision },
        );
      });
      if (batch.length === 0) break;
    }
    return { revision, values };
  }

  /**
   * Up to `limit` records of one kind whose keys start with `prefix` and sort at or after
   * `fromId`, in key order (one linearizable range call), and whether more follow.
   */
  async range(kind: RecordKind, prefix: string, fromId: string, limit: number, deadline_ms: number): Promise<{ records: Array<{ key: string; record: StoredRecord }>; more: boolean }> {
    const start = this.layout.bytesOf({ kind, id: fromId });
    const end = this.layout.bytesOf({ kind, id: prefix });
    // The end of a prefix range: the prefix with its last byte raised by one.
    const last = end.length - 1;
    assert(last >= 0 && (end[last] as number) < 0xff, () => `etcd range prefix ${prefix} cannot be bounded`);
    end[last] = (end[last] as number) + 1;
    const response = await this.withRetries(deadline_ms, () =>
      this.client.kv.range({ key: start, range_end: end, limit, sort_order: 'Ascend', sort_target: 'Key' }, this.callOptions(deadline_ms)),
    );
    const records = response.kvs.map((kv) => ({ key: kv.key.toString('utf8'), record: decodeRecord(kind, kv.key.toString('utf8'), kv.value) }));
    return { records, more: response.more };
  }

  /**
   * Commits `writes` if none of the `reads` changed since they were read. Resolves false on a
   * conflict. Throws EtcdUnavailableError when nothing was sent, CommitOutcomeUnknownError when
   * it may have been applied, EtcdRefusedError when etcd will never accept it.
   */
  async commit(reads: ReadonlyMap<string, { key: RecordKey; modRevision: string }>, writes: readonly Write[], deadline_ms: number): Promise<boolean> {
    const compare: ICompare[] = [...reads.values()].map(({ key, modRevision }) => ({
      key: this.layout.bytesOf(key),
      target: 'Mod',
      result: 'Equal',
      mod_revision: modRevision,
    }));
    const success: IRequestOp[] = writes.map(({ key, value }) =>
      value === null
        ? { request_delete_range: { key: this.layout.bytesOf(key) } }
        : { request_put: { key: this.layout.bytesOf(key), value: encodeRecord(value) } },
    );
    for (;;) {
      if (Date.now() >= deadline_ms) throw new EtcdUnavailableError('etcd did not accept the commit before the deadline');
      try {
        const response = await this.client.kv.txn({ compare, success }, this.callOptions(deadline_ms));
        return response.succeeded;
      } catch (err) {
        const kind = classifyFailure(err);
        const text = err instanceof Error ? err.message : String(err);
        if (kind === 'refused') throw new EtcdRefusedError(`etcd refused the transaction (${text}); raise etcd's --max-txn-ops / --max-request-bytes`);
        if (kind !== 'not-sent') throw new CommitOutcomeUnknownError(`the commit's answer was lost (${text})`);
        await pause(deadline_ms, 50);
      }
    }
  }

  /** Runs an idempotent call again on failure (another member may answer) until the deadline. */
  private async withRetries<T>(deadline_ms: number, call: () => Promise<T>): Promise<T> {
    let delay_ms = 25;
    for (;;) {
      try {
        return await call();
      } catch (err) {
        const kind = classifyFailure(err);
        const text = err instanceof Error ? err.message : String(err);
        if (kind === 'refused') throw new EtcdRefusedError(`etcd refused the request (${text})`);
        if (kind === 'compacted') throw new RevisionCompactedError(text);
        if (Date.now() + delay_ms >= deadline_ms) throw new EtcdUnavailableError(`etcd did not answer in time (${text})`);
        await pause(deadline_ms, delay_ms);
        delay_ms = Math.min(delay_ms * 2, 400);
      }
    }
  }

  close(): void {
    this.client.close();
  }
}

/** Waits `delay_ms` with ±50% jitter, never past the deadline. */
export function pause(deadline_ms: number, delay_ms: number): Promise<void> {
  const jittered = delay_ms * (0.5 + Math.random());
  const wait = Math.max(0, Math.min(jittered, deadline_ms - Date.now()));
  return new Promise((resolve) => setTimeout(resolve, wait));
}
