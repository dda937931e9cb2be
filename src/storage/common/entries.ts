import type { Command, Reply } from '../../domain/commands.js';
import type { Write } from '../../domain/machine.js';
import type { ClientOrderPage } from '../../domain/backend.js';
import type { RecordKey, StoredRecord } from '../../domain/records.js';
import type { AddressOp } from './members.js';

/**
 * What a partition's replicated log holds, and what applying an entry answers. Every entry
 * carries the time its leader proposed it: expiry (locks, sessions, decisions) is decided from
 * this log time, never from a replica's clock, so every replica decides the same.
 */
export interface SessionRef {
  /** A portal's client session, unique per portal process start. */
  readonly client: string;
  /** Increases by one per request of the session; a retry reuses its number. */
  readonly seq: number;
  /** Every seq below this has had its answer received: its remembered result can go. */
  readonly ackBelow?: number;
}

/**
 * Set on every entry that runs commands, by builds that keep a client's orders in an index. A
 * log written by an older build has entries without it, and they apply as that build applied
 * them (machine.ts, RecordFormat): every replica reaches the same records whichever build
 * applied an entry first, so a replica replaying an old log after an upgrade never diverges
 * from one that applied it before.
 */
export const INDEXED = 'indexed' as const;

export type PartitionOp =
  /** A command whose records all live on this partition (every admin command does). */
  | { readonly t: 'exec'; readonly session: SessionRef; readonly command: Command; readonly format?: typeof INDEXED }
  /** Phase 1 of a cross-partition transaction: lock the keys and answer their values. */
  | { readonly t: 'lock'; readonly txid: string; readonly home: number; readonly keys: readonly RecordKey[]; readonly deadline_ms: number }
  /**
   * At the transaction's home partition: run the commands, in order, over the locked values
   * and record the verdict. A transaction carries a batch of commands so that orders on the
   * same popular products share one round of locks instead of queueing for them one by one.
   */
  | {
      readonly t: 'decide';
      readonly txid: string;
      readonly format?: typeof INDEXED;
      readonly commands: readonly Command[];
      readonly values: ReadonlyArray<readonly [RecordKey, StoredRecord | null]>;
      readonly participants: readonly number[];
      /**
       * Set by builds that give the home partition no phase of its own: the decide entry reads
       * the home's records itself (refusing with `locked` if another transaction holds one),
       * and a commit writes them at once, so `values` carries only other partitions' records.
       * That saves the home a lock entry and a commit entry per transaction. Absent in logs of
       * older builds, whose decide entries apply as they did then.
       */
      readonly homeApplies?: true;
      /** Verdicts of earlier transactions whose phase 2 is done, dropped before this one is decided (as `forget`). */
      readonly forget?: readonly string[];
    }
  /** Recovery at the home partition: abort the transaction unless it is already decided. */
  | { readonly t: 'abort'; readonly txid: string }
  /** Phase 2: apply this partition's writes of a committed transaction and unlock its keys. */
  | { readonly t: 'commit'; readonly txid: string; readonly writes: readonly Write[] }
  /** Phase 2 of an aborted transaction (or giving up a lock): unlock its keys. */
  | { readonly t: 'release'; readonly txid: string }
  /** At the home partition, once every participant has finished phase 2: drop the verdict (and those in `more`). */
  | { readonly t: 'forget'; readonly txid: string; readonly more?: readonly string[] }
  /** Does nothing; lets a new leader commit entries of earlier terms. */
  | { readonly t: 'noop' };

/** At most this many verdicts are forgotten by one entry. */
export const MAX_FORGET_PER_ENTRY = 256;

export interface PartitionEntry {
  readonly time_ms: number;
  readonly op: PartitionOp;
}

/** What a partition's log holds: the state machine's entries, and where members listen (src/storage/common/members.ts). */
export type LogOp = PartitionOp | AddressOp;

export interface LogEntry {
  readonly time_ms: number;
  readonly op: LogOp;
}

/** Who holds a key, for a caller that found it locked. */
export interface LockHolder {
  readonly txid: string;
  readonly home: number;
  readonly deadline_ms: number;
  readonly expired: boolean;
}

/**
 * A record as a linearizable read finds it: its committed value, and the transaction that holds
 * its lock, if any. A transaction is committed once its verdict is in its home partition's log,
 * before phase 2 reaches every record, so a reader that meets a lock asks the home for the
 * verdict (src/storage/client/partitioned-backend.ts).
 */
export interface HeldRecord<V = StoredRecord> {
  readonly value: V | null;
  readonly lock?: { readonly txid: string; readonly home: number };
}

/** A page of a client's order index as committed, and the transaction holding the client's lock, if any. */
export interface HeldIndexPage extends ClientOrderPage {
  readonly lock?: { readonly txid: string; readonly home: number };
}

export interface Decision {
  readonly outcome: 'commit' | 'abort';
  /** One reply per command of the batch, in order. */
  readonly replies: readonly Reply[];
  /** Every write of the transaction, across all partitions (the last value per record); empty when aborted. */
  readonly writes: readonly Write[];
  readonly participants: readonly number[];
  readonly decided_ms: number;
}

export type PartitionResult =
  | { readonly t: 'reply'; readonly reply: Reply }
  /** The command reads a record of another partition: run it as a transaction. */
  | { readonly t: 'cross-partition' }
  | { readonly t: 'locked'; readonly key: RecordKey; readonly holder: LockHolder }
  | { readonly t: 'locked-values'; readonly values: ReadonlyArray<readonly [RecordKey, StoredRecord | null]> }
  /** `decide` needs the values of more keys before it can reach a verdict. */
  | { readonly t: 'need'; readonly keys: readonly RecordKey[] }
  | { readonly t: 'decision'; readonly txid: string; readonly decision: Decision }
  | { readonly t: 'done' };

/** Entries travel and are stored as UTF-8 JSON: readable in a log dump, and small enough here. */
export function encodeEntry(entry: LogEntry): Uint8Array {
  return Buffer.from(JSON.stringify(entry), 'utf8');
}

export function decodeEntry(bytes: Uint8Array): LogEntry {
  const value = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')) as LogEntry;
  if (typeof value !== 'object' || value === null || typeof value.time_ms !== 'number' || typeof value.op?.t !== 'string') {
    throw new Error('corrupt partition entry: not a {time_ms, op} object');
  }
  return value;
}
