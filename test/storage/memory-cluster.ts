import type { RecordKind, RecordOfKind } from '../../src/domain/records.js';
import { StoreUnreachableError, type PartitionCluster } from '../../src/storage/client/cluster.js';
import type { Decision, HeldIndexPage, HeldRecord, PartitionOp, PartitionResult } from '../../src/storage/common/entries.js';
import { PartitionMachine } from '../../src/storage/replica/partition-machine.js';
import { MemoryStateStore } from '../../src/storage/replica/state-store.js';

/**
 * Partition machines in this process, one log position at a time, with a clock the test
 * moves. It tests the transaction protocol apart from replication; `failAfter` makes every
 * later call fail, like a portal that died mid-transaction.
 */
export class MemoryCluster implements PartitionCluster {
  readonly machines: PartitionMachine[];
  readonly stores: MemoryStateStore[];
  clock_ms = 1_000_000;
  /** Ops applied so far, per partition, for assertions. */
  readonly log: Array<Array<PartitionOp['t']>>;
  private failAfter = Infinity;
  private failure: 'portal-died' | 'unreachable' = 'portal-died';
  private calls = 0;

  constructor(readonly partitions: number) {
    this.stores = Array.from({ length: partitions }, () => new MemoryStateStore());
    this.machines = this.stores.map((store, partition) => new PartitionMachine(store, { partition, partitions }));
    this.log = Array.from({ length: partitions }, () => []);
  }

  /**
   * From now on, every call after `n` more rejects without reaching a partition: as if the portal
   * died (a bug-like error), or as if no replica could be reached (StoreUnreachableError).
   */
  dieAfter(n: number, failure: 'portal-died' | 'unreachable' = 'portal-died'): void {
    this.failAfter = this.calls + n;
    this.failure = failure;
  }

  private gate(): void {
    if (this.calls++ < this.failAfter) return;
    if (this.failure === 'unreachable') throw new StoreUnreachableError('partition did not answer in time (no leader)');
    throw Object.assign(new Error('portal died'), { name: 'PortalDied' });
  }

  propose(partition: number, op: PartitionOp): Promise<PartitionResult> {
    return new Promise((resolve) => {
      this.gate();
      this.log[partition]!.push(op.t);
      resolve(this.machines[partition]!.apply({ time_ms: this.clock_ms, op: structuredClone(op) }));
    });
  }

  read<K extends RecordKind>(partition: number, kind: K, id: string): Promise<HeldRecord<RecordOfKind<K>>> {
    return new Promise((resolve) => {
      this.gate();
      resolve(structuredClone(this.machines[partition]!.readHeld(kind, id)) as HeldRecord<RecordOfKind<K>>);
    });
  }

  clientOrders(partition: number, cid: string, afterSeq: number, limit: number): Promise<HeldIndexPage> {
    return new Promise((resolve) => {
      this.gate();
      resolve(structuredClone(this.machines[partition]!.clientOrders(cid, afterSeq, limit)));
    });
  }

  decision(partition: number, txid: string): Promise<Decision | undefined> {
    return new Promise((resolve) => {
      this.gate();
      resolve(structuredClone(this.machines[partition]!.decision(txid)));
    });
  }

  expiredLocks(partition: number): Promise<Array<{ txid: string; home: number }>> {
    return Promise.resolve(this.machines[partition]!.expiredLocks());
  }

  staleDecisions(partition: number, age_ms: number): Promise<Array<{ txid: string; decision: Decision }>> {
    return Promise.resolve(this.machines[partition]!.staleDecisions(age_ms));
  }

  /** Moves log time forward by proposing a no-op on every partition. */
  async advance(ms: number): Promise<void> {
    this.clock_ms += ms;
    for (let p = 0; p < this.partitions; p++) await this.propose(p, { t: 'noop' });
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
