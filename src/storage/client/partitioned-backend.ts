import type { Command, Reply } from '../../domain/commands.js';
import { clientOfIndexId, seqOfIndexId, type RecordKind, type RecordOfKind } from '../../domain/records.js';
import { StoreUnavailableError, type Backend, type ClientOrderPage } from '../../domain/backend.js';
import { StoreTimeoutError, StoreUnreachableError, type PartitionCluster } from './cluster.js';
import { Coordinator, type CoordinatorOptions } from './coordinator.js';
import type { Decision } from '../common/entries.js';
import { partitionOf } from '../common/partitioning.js';

/**
 * The portals' view of the partitioned storage tier: writes go through the coordinator,
 * reads to the partition that owns the record. The portal keeps no data of its own.
 */
export class PartitionedBackend implements Backend {
  readonly coordinator: Coordinator;
  private readonly readTimeout_ms: number;

  constructor(
    private readonly cluster: PartitionCluster,
    options: CoordinatorOptions & { readTimeout_ms?: number } = {},
  ) {
    this.coordinator = new Coordinator(cluster, options);
    this.readTimeout_ms = options.readTimeout_ms ?? options.requestTimeout_ms ?? 5_000;
  }

  execute(command: Command): Promise<Reply> {
    return this.coordinator.execute(command);
  }

  read<K extends RecordKind>(kind: K, id: string): Promise<RecordOfKind<K> | undefined> {
    return unavailableOnFailure(this.readCommitted(partitionOf(id, this.cluster.partitions), kind, id, Date.now() + this.readTimeout_ms));
  }

  clientOrders(cid: string, afterSeq: number, limit: number): Promise<ClientOrderPage> {
    return unavailableOnFailure(this.committedIndexPage(partitionOf(cid, this.cluster.partitions), cid, afterSeq, limit, Date.now() + this.readTimeout_ms));
  }

  /**
   * As readCommitted, for a page of a client's order index: a transaction placing or deleting
   * an order holds the client's lock, so a page read under that lock gets the transaction's
   * index writes from its verdict once decided.
   */
  private committedIndexPage(partition: number, cid: string, afterSeq: number, limit: number, deadline: number): Promise<ClientOrderPage> {
    return this.followLocks(
      () => this.cluster.clientOrders(partition, cid, afterSeq, limit, deadline),
      (page, decision) => (decision === undefined ? { entries: page.entries, next: page.next } : withIndexWrites(page, decision, cid, afterSeq, limit)),
      `client ${cid}`,
      deadline,
    );
  }

  private readCommitted<K extends RecordKind>(partition: number, kind: K, id: string, deadline: number): Promise<RecordOfKind<K> | undefined> {
    return this.followLocks(
      () => this.cluster.read(partition, kind, id, deadline),
      (held, decision) => (decision === undefined ? (held.value ?? undefined) : committedValue(held.value, decision, kind, id)),
      `${kind} ${id}`,
      deadline,
    );
  }

  /**
   * A transaction's writes are acknowledged once its verdict is in its home partition's log,
   * before phase 2 has written every record; until then the records stay locked. A read that
   * meets such a lock asks the home for the verdict and answers the committed writes from it
   * (`settle` with the verdict), so every acknowledged write is seen (docs/spec.md R-CONS-7).
   * Linearizable: while the transaction holds the lock nothing else can commit the record, so
   * the verdict's value (or, with no verdict yet, the record's) is the latest at the moment the
   * verdict was read.
   */
  private async followLocks<H extends { readonly lock?: { readonly txid: string; readonly home: number } }, R>(
    read: () => Promise<H>,
    settle: (held: H, decision: Decision | undefined) => R,
    what: string,
    deadline: number,
  ): Promise<R> {
    let held = await read();
    for (let attempt = 0; held.lock !== undefined; attempt++) {
      if (attempt >= MAX_LOCKED_READ_ATTEMPTS) throw new StoreUnreachableError(`${what} stayed locked by one transaction after another through ${attempt} reads; try again`);
      const lock = held.lock;
      const decision = await this.cluster.decision(lock.home, lock.txid, deadline);
      if (decision !== undefined) return settle(held, decision);
      // No verdict: either none yet (the record holds the latest committed value) or it was
      // forgotten, which happens only after phase 2 released this lock. A second read tells.
      const again = await read();
      if (again.lock?.txid === lock.txid) return settle(again, undefined);
      held = again;
    }
    return settle(held, undefined);
  }

  async close(): Promise<void> {
    await this.coordinator.drain();
    await this.cluster.close();
  }
}

/** How many transactions in a row a read follows on one record before it gives up with a retryable error. */
const MAX_LOCKED_READ_ATTEMPTS = 8;

async function unavailableOnFailure<T>(read: Promise<T>): Promise<T> {
  try {
    return await read;
  } catch (err) {
    if (err instanceof StoreTimeoutError || err instanceof StoreUnreachableError) throw new StoreUnavailableError(err.message);
    throw err;
  }
}

/** The page once a decided transaction's writes to the client's index, within the page's range, are applied. */
function withIndexWrites(page: ClientOrderPage, decision: Decision, cid: string, afterSeq: number, limit: number): ClientOrderPage {
  if (decision.outcome === 'abort') return { entries: page.entries, next: page.next };
  const bySeq = new Map(page.entries.map((e) => [e.seq, e.oid]));
  for (const { key, value } of decision.writes) {
    if (key.kind !== 'clientOrder' || clientOfIndexId(key.id) !== cid) continue;
    const seq = seqOfIndexId(key.id);
    if (!Number.isSafeInteger(seq) || seq <= afterSeq || (page.next !== null && seq > page.next)) continue;
    if (value === null) bySeq.delete(seq);
    else if (value.kind === 'clientOrder') bySeq.set(seq, value.oid);
  }
  const entries = [...bySeq].sort(([a], [b]) => a - b).map(([seq, oid]) => ({ seq, oid }));
  if (entries.length <= limit) return { entries, next: page.next };
  const kept = entries.slice(0, limit);
  return { entries: kept, next: kept.at(-1)?.seq ?? afterSeq };
}

/** The record's value once the transaction holding its lock is decided. */
function committedValue<K extends RecordKind>(before: RecordOfKind<K> | null, decision: Decision, kind: K, id: string): RecordOfKind<K> | undefined {
  if (decision.outcome === 'abort') return before ?? undefined;
  const write = decision.writes.find((w) => w.key.kind === kind && w.key.id === id);
  if (write === undefined) return before ?? undefined;
  return (write.value ?? undefined) as RecordOfKind<K> | undefined;
}
