import type { RecordKind, RecordOfKind } from '../../domain/records.js';
import type { Decision, HeldIndexPage, HeldRecord, PartitionOp, PartitionResult } from '../common/entries.js';

/**
 * What a portal needs from the storage tier: append an operation to a partition's log and get
 * its result once applied, and read records linearizably. The network client implements it
 * over the replicas; tests implement it over in-memory partition machines.
 */
export interface PartitionCluster {
  readonly partitions: number;
  /**
   * Appends `op` to the partition's log and resolves with its result once applied.
   * Rejects with StoreTimeoutError when no answer came by `deadline_ms` (the op may or may not
   * have been applied) and with StoreUnreachableError when it was certainly not appended.
   */
  propose(partition: number, op: PartitionOp, deadline_ms: number): Promise<PartitionResult>;
  /** A linearizable read of a record's committed value and of the transaction holding its lock, if any. */
  read<K extends RecordKind>(partition: number, kind: K, id: string, deadline_ms: number): Promise<HeldRecord<RecordOfKind<K>>>;
  /** A linearizable read of a page of a client's order index, with the transaction holding the client's lock, if any. */
  clientOrders(partition: number, cid: string, afterSeq: number, limit: number, deadline_ms: number): Promise<HeldIndexPage>;
  /** A linearizable read of the verdict on a transaction at its home partition: undefined while undecided, or once forgotten. */
  decision(partition: number, txid: string, deadline_ms: number): Promise<Decision | undefined>;
  /** Transactions with an expired lock on the partition, for recovery. */
  expiredLocks(partition: number, deadline_ms: number): Promise<Array<{ txid: string; home: number }>>;
  /** Verdicts recorded on the partition more than `age_ms` ago whose phase 2 may be unfinished. */
  staleDecisions(partition: number, age_ms: number, deadline_ms: number): Promise<Array<{ txid: string; decision: Decision }>>;
  close(): Promise<void>;
}

/** No answer in time: the operation may have been applied. */
export class StoreTimeoutError extends Error {
  override readonly name = 'StoreTimeoutError';
}

/** The operation was certainly not applied (no replica could take it). */
export class StoreUnreachableError extends Error {
  override readonly name = 'StoreUnreachableError';
}
