import type { RecordKind } from '../../domain/records.js';
import type { PartitionOp } from './entries.js';
import type { MemberChangeRequest, MemberView } from './members.js';

/** What portals ask of a storage replica, and its answers (framed JSON, see src/net/rpc.ts). */
export type ReplicaRequest =
  | { readonly op: 'propose'; readonly partition: number; readonly entry: PartitionOp }
  /** A linearizable read: the record, or null; with `held`, a HeldRecord (the value and the lock on it). */
  | { readonly op: 'read'; readonly partition: number; readonly kind: RecordKind; readonly id: string; readonly held?: boolean }
  /** A linearizable read of a page of a client's order index (a HeldIndexPage): up to `limit` entries after seq `afterSeq`. */
  | { readonly op: 'clientOrders'; readonly partition: number; readonly cid: string; readonly afterSeq: number; readonly limit: number }
  /** A linearizable read of the verdict on a transaction whose home is this partition (null: undecided, or forgotten). */
  | { readonly op: 'decision'; readonly partition: number; readonly txid: string }
  | { readonly op: 'status' }
  | { readonly op: 'expiredLocks'; readonly partition: number }
  | { readonly op: 'staleDecisions'; readonly partition: number; readonly age_ms: number }
  /** Hand leadership of the partition to replica `to` (another voter); answered once it leads. */
  | { readonly op: 'transferLeader'; readonly partition: number; readonly to: number }
  /** Percentiles of each stage of the writes this replica led since the last 'trace' (docs/bench.md). */
  | { readonly op: 'trace' }
  /** A leader's copy of the partition at an index applied after the request arrived, kept to be read in pieces (BackupOpened). */
  | { readonly op: 'backupOpen'; readonly partition: number }
  /** The copy's bytes from `offset` (BackupPiece), from the replica that made it, leader or not. */
  | { readonly op: 'backupRead'; readonly partition: number; readonly copy: number; readonly offset: number }
  /** Add a learner, promote one, or remove a member (src/storage/common/members.ts); answered once its conf entry applied. */
  | MemberChangeRequest;

export type ReplicaError =
  /** Not the leader: `leader` is the replica id believed to lead (0 when unknown). Nothing was appended. */
  | { readonly ok: false; readonly error: 'not-leader'; readonly leader: number }
  /** Leadership changed after the entry was appended: it may or may not be applied. Retry (it is idempotent). */
  | { readonly ok: false; readonly error: 'outcome-unknown'; readonly message: string }
  /** Refused at once (a full queue, a request for another partition): nothing was appended. Retry. */
  | { readonly ok: false; readonly error: 'refused'; readonly message: string }
  /** The leader has as much accepted and unfinished work as it takes: nothing was appended. Back off and retry. */
  | { readonly ok: false; readonly error: 'busy'; readonly message: string }
  /** The request is malformed, or its entry could not be applied: nothing was changed, and a retry would fare the same. */
  | { readonly ok: false; readonly error: 'invalid'; readonly message: string };

export type ReplicaResponse = { readonly ok: true; readonly result: unknown } | ReplicaError;

/**
 * The stages a 'trace' answer times, per write led (src/storage/replica/stage-trace.ts).
 * `leaderPersist` is `queued` and then `fsync`; an older build answers without those two.
 */
export const STAGES = ['queued', 'fsync', 'leaderPersist', 'replicate', 'apply', 'total'] as const;
export type Stage = (typeof STAGES)[number];

export type { StageSummary } from '../../util/stage-summary.js';

/** A replica's event loop over an interval (Linux, /proc/self/schedstat): on a CPU, and runnable but waiting for one. */
export interface EventLoopSplit {
  readonly running_ms: number;
  readonly waitingForCpu_ms: number;
}

export interface ReplicaStatus {
  readonly id: number;
  readonly partition: number;
  readonly role: string;
  readonly term: number;
  readonly leader: number;
  /** Whom it voted for in its current term (0: nobody); absent from older builds. */
  readonly vote?: number;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly lastIndex: number;
  readonly snapshotIndex: number;
  /** The longest event-loop stall of the replica over the last 10 s, in ms (absent from older builds). */
  readonly maxStall_ms?: number;
  /**
   * The longest stall in each of the last 30 wall-clock seconds: [epoch second, ms], and where
   * Linux tells it [epoch second, ms, ms the event loop ran, ms it waited for a core] over the
   * interval between the two ticks (absent from older builds).
   */
  readonly stallsBySecond?: ReadonlyArray<readonly [number, number] | readonly [number, number, number, number]>;
  /** A follower's longest wait between two messages from its leader over the last 10 s, in ms (absent from older builds). */
  readonly maxLeaderSilence_ms?: number;
  /** The same wait by wall-clock second: the longest ending in each of the last 30, [epoch second, ms] (absent from older builds). */
  readonly leaderSilenceBySecond?: ReadonlyArray<readonly [number, number]>;
  /** The longest fsync of the replica's Raft log over the last 10 s, in ms (absent from older builds). */
  readonly maxFsync_ms?: number;
  /** The same by wall-clock second: the longest ending in each of the last 30, [epoch second, ms] (absent from older builds). */
  readonly fsyncBySecond?: ReadonlyArray<readonly [number, number]>;
  /** Proposals this replica answered "busy" since it started (absent from older builds). */
  readonly busyRefusals?: number;
  /** Set while the replica's disk refuses writes (full, failing): what it said and for how long. */
  readonly diskFault?: string;
  /** Why this replica last stopped leading, with the term it led in ("term 5: heard from no quorum ..."). */
  readonly lastStepDown?: string;
  /** The term of lastStepDown, for comparing without parsing the text. */
  readonly lastStepDownTerm?: number;
  /** Only from a leader: the index it knows each follower holds (match) and how it replicates to it. */
  readonly followers?: ReadonlyArray<{ readonly id: number; readonly match: number; readonly state: string; readonly active?: boolean; readonly logEnd?: number }>;
  /** The partition's members as this replica's log has them, with their addresses (absent from older builds). */
  readonly members?: readonly MemberView[];
  /** Set while a membership change is proposed and not yet applied here (leaders only). */
  readonly memberChange?: string;
}
