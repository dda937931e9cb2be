import type { Command, Reply } from '../../domain/commands.js';
import type { RecordKind, RecordOfKind } from '../../domain/records.js';
import { StoreUnavailableError, type Backend } from '../../domain/backend.js';
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

  async read<K extends RecordKind>(kind: K, id: string): Promise<RecordOfKind<K> | undefined> {
    try {
      return await this.readCommitted(partitionOf(id, this.cluster.partitions), kind, id, Date.now() + this.readTimeout_ms);
    } catch (err) {
      if (err instanceof StoreTimeoutError || err instanceof StoreUnreachableError) throw new StoreUnavailableError(err.message);
      throw err;
    }
  }

  /**
   * A transaction's writes are acknowledged once its verdict is in its home partition's log,
   * before phase 2 has written every record; until then the records stay locked. A read that
   * meets such a lock asks the home for the verdict and answers the committed write from it,
   * so every acknowledged write is seen (docs/spec.md R-CONS-7). Linearizable: while the
   * transaction holds the lock nothing else can commit the record, so the verdict's value (or,
   * with no verdict yet, the record's) is the latest at the moment the verdict was read.
   */
  private async readCommitted<K extends RecordKind>(partition: number, kind: K, id: string, deadline: number): Promise<RecordOfKind<K> | undefined> {
    let held = await this.cluster.read(partition, kind, id, deadline);
    for (let attempt = 0; held.lock !== undefined; attempt++) {
      if (attempt >= MAX_LOCKED_READ_ATTEMPTS) throw new StoreUnreachableError(`${kind} ${id} stayed locked by one transaction after another through ${attempt} reads; try again`);
      const lock = held.lock;
      const decision = await this.cluster.decision(lock.home, lock.txid, deadline);
      if (decision !== undefined) return committedValue(held.value, decision, kind, id);
      // No verdict: either none yet (the record holds the latest committed value) or it was
      // forgotten, which happens only after phase 2 released this lock. A second read tells.
      const again = await this.cluster.read(partition, kind, id, deadline);
      if (again.lock?.txid === lock.txid) return again.value ?? undefined;
      held = again;
    }
    return held.value ?? undefined;
  }

  async close(): Promise<void> {
    await this.coordinator.drain();
    await this.cluster.close();
  }
}

/** How many transactions in a row a read follows on one record before it gives up with a retryable error. */
const MAX_LOCKED_READ_ATTEMPTS = 8;

/** The record's value once the transaction holding its lock is decided. */
function committedValue<K extends RecordKind>(before: RecordOfKind<K> | null, decision: Decision, kind: K, id: string): RecordOfKind<K> | undefined {
  if (decision.outcome === 'abort') return before ?? undefined;
  const write = decision.writes.find((w) => w.key.kind === kind && w.key.id === id);
  if (write === undefined) return before ?? undefined;
  return (write.value ?? undefined) as RecordOfKind<K> | undefined;
}
