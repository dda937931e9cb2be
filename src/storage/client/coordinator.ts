import { randomUUID } from 'node:crypto';
import { namedKeys, type Command, type Reply } from '../../domain/commands.js';
import { likelyKeys } from '../../domain/likely-keys.js';
import { message } from '../../domain/messages.js';
import type { Write } from '../../domain/machine.js';
import { keyString, type RecordKey, type StoredRecord } from '../../domain/records.js';
import { StoreTimeoutError, type PartitionCluster } from './cluster.js';
import { INDEXED, MAX_FORGET_PER_ENTRY, type Decision, type LockHolder, type PartitionOp, type PartitionResult } from '../common/entries.js';
import { partitionOf, partitionOfKey } from '../common/partitioning.js';
import { MAYBE_APPLIED, NOT_APPLIED } from '../../domain/store-replies.js';
import { assert } from '../../util/assert.js';

/**
 * Runs commands against the partitioned storage tier. A command whose records all live on one
 * partition is one log entry there. One that spans partitions (an order whose client, products
 * and ID hash apart) runs as a two-phase commit: lock the records on the other partitions, let
 * the home partition (the order's) run the business rules over their values and its own records
 * and record the verdict in its log, writing its own records at once, then apply or release on
 * the other partitions. Two Raft rounds on the critical path; the home partition spends one
 * entry per transaction. Validation and mutation happen inside the replicated state machines;
 * this class only carries values and verdicts between them.
 *
 * A coordinator that dies mid-way leaves locks with a deadline; whoever meets an expired lock
 * (or the periodic sweep) asks the home partition for the verdict, aborting an undecided
 * transaction, and finishes phase 2 accordingly.
 */
export interface CoordinatorOptions {
  /** How long one request may take before the portal answers 503. */
  readonly requestTimeout_ms?: number;
  /** How long a transaction's locks stay valid before recovery may abort it. */
  readonly lockTtl_ms?: number;
  /** At most this many commands share one cross-partition transaction. */
  readonly maxBatchCommands?: number;
  /** At most this many commands wait for a transaction; more are refused with a 503. */
  readonly maxQueuedCommands?: number;
  /** How long a phase 2 entry waits for another request of this portal to its partition to travel with (0: none). */
  readonly phase2Delay_ms?: number;
  /** How long a finished verdict waits for a decide entry to its home to carry its forget before one is sent on its own. */
  readonly forgetDelay_ms?: number;
  readonly now?: () => number;
}

const MAX_LOCK_ROUNDS = 8;
/** A batch also stops growing at this many records to lock, to keep messages small. */
const MAX_BATCH_KEYS = 4_096;
/** Transactions one portal runs at once (on disjoint records). */
const MAX_CONCURRENT_TRANSACTIONS = 8;

/**
 * Where a command's time goes in the coordinator (`ecom bench run --trace`, and the portal's
 * ecom_storage_transaction_stage_seconds): `exec` a single-partition command's round;
 * `queued` a cross-partition command's wait for a transaction to take it; `lock` and `decide`
 * the transaction's two rounds; `phase2` its background round on the other partitions;
 * `answered` every command, from its arrival to its reply.
 */
export const COORDINATOR_STAGES = ['exec', 'queued', 'lock', 'decide', 'phase2', 'answered'] as const;
export type CoordinatorStage = (typeof COORDINATOR_STAGES)[number];
export type StageObserver = (stage: CoordinatorStage, seconds: number) => void;

const since = (start: number) => (performance.now() - start) / 1000;

interface Queued {
  readonly command: Command;
  /** likelyKeys(command), worked out once: for an order it parses the order's JSON. */
  readonly keys: readonly RecordKey[];
  readonly keyIds: readonly string[];
  readonly deadline: number;
  readonly queuedAt: number;
  resolve(reply: Reply): void;
}

type TransactionResult = { t: 'replies'; replies: readonly Reply[] } | Extract<PartitionResult, { t: 'locked' }>;


export class Coordinator {
  private readonly client = randomUUID();
  private nextSeq = 0;
  private readonly inFlight = new Set<number>();
  /** The lowest sequence number still in flight (or nextSeq when none is): what the session may acknowledge below. */
  private lowestInFlight = 0;
  private nextTx = 0;
  private readonly requestTimeout_ms: number;
  private readonly lockTtl_ms: number;
  private readonly maxBatchCommands: number;
  private readonly maxQueuedCommands: number;
  private readonly forgetDelay_ms: number;
  private readonly phase2Delay_ms: number;
  private readonly now: () => number;
  /** Cross-partition commands waiting for the next transaction (group commit of transactions). */
  private queue: Queued[] = [];
  /** Transactions of this portal under way, and the records they were started for. */
  private running = 0;
  private readonly busyKeys = new Set<string>();
  /** Phase 2 of this portal's decided transactions, by txid: a command that meets one of their locks waits for it. */
  private readonly finishing = new Map<string, Promise<void>>();
  /** Verdicts whose phase 2 is done, by home partition, to be forgotten there (queueForget). */
  private readonly forgets = new Map<number, string[]>();
  private forgetTimer: NodeJS.Timeout | undefined;
  private observe: StageObserver | undefined;
  /** Phase 2 proposals waiting to travel with this portal's next request to their partition (proposePhase2). */
  private readonly phase2Outbox = new Map<number, Array<() => void>>();
  private phase2Timer: NodeJS.Timeout | undefined;
  /** Phase 2 runs that failed (a partition unreachable, a timeout): recovery finishes them. */
  phase2Failures = 0;
  /** Outcomes so far, as plain numbers (read by the portal's metrics when scraped). */
  committed = 0;
  aborted = 0;
  recovered = 0;

  constructor(
    private readonly cluster: PartitionCluster,
    options: CoordinatorOptions = {},
  ) {
    this.requestTimeout_ms = options.requestTimeout_ms ?? 5_000;
    this.lockTtl_ms = options.lockTtl_ms ?? 5_000;
    this.maxBatchCommands = options.maxBatchCommands ?? 256;
    this.maxQueuedCommands = options.maxQueuedCommands ?? 10_000;
    this.forgetDelay_ms = options.forgetDelay_ms ?? 50;
    this.phase2Delay_ms = options.phase2Delay_ms ?? 1;
    this.now = options.now ?? Date.now;
  }

  /** Told how long each stage of each command took (see COORDINATOR_STAGES). */
  observeStages(observer: StageObserver): void {
    this.observe = observer;
  }

  async execute(command: Command): Promise<Reply> {
    const arrived = performance.now();
    const reply = await this.run(command);
    this.observe?.('answered', since(arrived));
    return reply;
  }

  private async run(command: Command): Promise<Reply> {
    const deadline = this.now() + this.requestTimeout_ms;
    const home = partitionOf(homeId(command), this.cluster.partitions);
    const keys = likelyKeys(command);
    const spansPartitions = new Set(keys.map((k) => partitionOfKey(k, this.cluster.partitions))).size > 1;
    if (spansPartitions) return this.enqueue(command, keys, deadline);
    try {
      for (let attempt = 0; ; attempt++) {
        const started = performance.now();
        const result = await this.exec(command, home, deadline);
        this.observe?.('exec', since(started));
        switch (result.t) {
          case 'reply':
            return result.reply;
          case 'cross-partition':
            return await this.enqueue(command, keys, deadline);
          case 'locked':
            await this.waitForHolder(result, attempt, deadline);
            break;
          default:
            throw new Error(`unexpected result ${result.t} for ${command.op}`);
        }
      }
    } catch (err) {
      return failureReply(err);
    }
  }

  private exec(command: Command, home: number, deadline: number): Promise<PartitionResult> {
    const seq = this.nextSeq++;
    this.inFlight.add(seq);
    // Sequence numbers are handed out in order, so the lowest in flight only moves up: amortised
    // O(1) per command, where taking the minimum of the set was O(in flight) and, spread into
    // Math.min, overflowed the stack past about 100,000 commands in flight.
    while (this.lowestInFlight < seq && !this.inFlight.has(this.lowestInFlight)) this.lowestInFlight++;
    const ackBelow = this.lowestInFlight;
    return this.cluster
      .propose(home, { t: 'exec', session: { client: this.client, seq, ackBelow }, command, format: INDEXED }, deadline)
      .finally(() => this.inFlight.delete(seq));
  }

  private enqueue(command: Command, keys: readonly RecordKey[], deadline: number): Promise<Reply> {
    if (this.queue.length >= this.maxQueuedCommands) return Promise.resolve(NOT_APPLIED);
    return new Promise((resolve) => {
      this.queue.push({ command, keys, keyIds: keys.map(keyString), deadline, queuedAt: performance.now(), resolve });
      this.pump();
    });
  }

  /**
   * Starts transactions for queued cross-partition commands: each takes a batch of commands
   * whose records are not held by a transaction of this portal already running, so orders on a
   * popular product share one transaction while orders on unrelated records run side by side.
   */
  private pump(): void {
    while (this.running < MAX_CONCURRENT_TRANSACTIONS && this.queue.length > 0) {
      const batch: Queued[] = [];
      const batchKeys = new Set<string>();
      const waiting: Queued[] = [];
      for (const next of this.queue) {
        const keys = next.keyIds;
        const full = batch.length >= this.maxBatchCommands || (batch.length > 0 && batchKeys.size + keys.length > MAX_BATCH_KEYS);
        if (full || keys.some((k) => this.busyKeys.has(k))) {
          waiting.push(next);
        } else if (next.deadline <= this.now()) {
          next.resolve(NOT_APPLIED);
        } else {
          batch.push(next);
          for (const k of keys) batchKeys.add(k);
        }
      }
      this.queue = waiting;
      if (batch.length === 0) return;
      this.running++;
      for (const k of batchKeys) this.busyKeys.add(k);
      void this.runBatch(batch).finally(() => {
        this.running--;
        for (const k of batchKeys) this.busyKeys.delete(k);
        this.pump();
      });
    }
  }

  private async runBatch(batch: Queued[]): Promise<void> {
    const commands = batch.map((q) => q.command);
    const deadline = Math.max(...batch.map((q) => q.deadline));
    const started = performance.now();
    for (const q of batch) this.observe?.('queued', (started - q.queuedAt) / 1000);
    const home = partitionOf(homeId(commands[0]!), this.cluster.partitions);
    try {
      for (let attempt = 0; ; attempt++) {
        const result = await this.transaction(commands, batch.flatMap((q) => q.keys), home, deadline);
        if (result.t === 'replies') {
          batch.forEach((q, i) => q.resolve(result.replies[i] ?? NOT_APPLIED));
          // The records are free for the next transaction at once: its locks are proposed after
          // this one's phase 2 on the same connections, so they are applied after it; should a
          // leader change reorder them, the lock is met and waited for (waitForHolder).
          return;
        }
        await this.waitForHolder(result, attempt, deadline);
      }
    } catch (err) {
      let reply: Reply;
      try {
        reply = failureReply(err);
      } catch {
        // Not a store failure: a bug. Every waiting caller gets a 500 naming it.
        reply = { code: 500, message: message('internalError', { detail: err instanceof Error ? err.message : String(err) }) };
      }
      for (const q of batch) q.resolve(reply);
    }
  }

  /**
   * One attempt at a two-phase commit of a batch of commands. Returns their replies, or
   * `locked` (having released what it locked) when another transaction holds a record.
   */
  private async transaction(commands: readonly Command[], keys: RecordKey[], home: number, deadline: number): Promise<TransactionResult> {
    const txid = `${this.client}:${this.nextTx++}`;
    const values = new Map<string, readonly [RecordKey, StoredRecord | null]>();
    const participants = new Set<number>([home]);
    // The home partition reads and writes its own records inside the decide entry (homeApplies).
    const elsewhere = (key: RecordKey) => partitionOfKey(key, this.cluster.partitions) !== home;
    let toLock = dedupe(keys).filter(elsewhere);
    let decision: Decision | undefined;
    try {
      for (let round = 0; decision === undefined; round++) {
        assert(round < MAX_LOCK_ROUNDS, () => `a transaction still needs more records after ${round} rounds`);
        const lockStarted = performance.now();
        const conflict = toLock.length === 0 ? undefined : await this.lockAll(txid, home, toLock, values, participants, deadline);
        const decideStarted = performance.now();
        if (toLock.length > 0) this.observe?.('lock', (decideStarted - lockStarted) / 1000);
        const result = conflict ?? (await this.decide(txid, home, commands, values, participants, deadline));
        if (conflict === undefined) this.observe?.('decide', since(decideStarted));
        if (result.t === 'locked') {
          await this.releaseAll(txid, participants, home, deadline);
          return result;
        }
        if (result.t === 'need') toLock = result.keys.filter((k) => !values.has(keyString(k)));
        else if (result.t === 'decision') decision = result.decision;
        else throw new Error(`unexpected result ${result.t} to decide`);
      }
    } catch (err) {
      // Nothing was decided by us: unlock what we can now; recovery handles the rest later.
      if (decision === undefined && !(err instanceof StoreTimeoutError)) await this.releaseAll(txid, participants, home, deadline).catch(() => undefined);
      throw err;
    }
    if (decision.outcome === 'abort') this.aborted++;
    else this.committed++;
    // A verdict with no replies is an abort by recovery: our locks had expired.
    const replies = decision.replies.length === commands.length ? decision.replies : commands.map(() => NOT_APPLIED);
    // The verdict is durable in the home partition's log: the transaction is committed (or
    // aborted) now, and its callers are answered without waiting for phase 2. Reads that meet
    // its locks before phase 2 takes the value from the verdict (PartitionedBackend), and if
    // phase 2 fails here, whoever meets an expired lock, or the recovery sweep, finishes it.
    const finished = this.finish(txid, decision, participants, home, deadline).catch(() => {
      this.phase2Failures++;
    });
    this.finishing.set(txid, finished);
    void finished.then(() => this.finishing.delete(txid));
    return { t: 'replies', replies };
  }

  /** Settles once phase 2 of every transaction decided so far has run: a portal that stops leaves no lock behind. */
  async drain(): Promise<void> {
    clearTimeout(this.phase2Timer);
    this.phase2Timer = undefined;
    for (const p of [...this.phase2Outbox.keys()]) this.sendPhase2(p);
    while (this.finishing.size > 0) await Promise.all(this.finishing.values());
    clearTimeout(this.forgetTimer);
    this.forgetTimer = undefined;
    await Promise.all([...this.forgets.keys()].map((home) => this.flushForgets(home)));
  }

  /** The decide entry of one attempt, carrying the verdicts this portal has finished with at `home`. */
  private async decide(
    txid: string,
    home: number,
    commands: readonly Command[],
    values: Map<string, readonly [RecordKey, StoredRecord | null]>,
    participants: Set<number>,
    deadline: number,
  ): Promise<PartitionResult> {
    const forget = this.takeForgets(home);
    const op: PartitionOp = {
      t: 'decide',
      txid,
      format: INDEXED,
      homeApplies: true,
      commands,
      values: [...values.values()],
      participants: [...participants].sort((a, b) => a - b),
      ...(forget.length > 0 ? { forget } : {}),
    };
    try {
      return await this.propose(home, op, deadline);
    } catch (err) {
      // Maybe not applied: forgetting is idempotent, so those verdicts go back in the queue.
      for (const done of forget) this.queueForget(home, done);
      throw err;
    }
  }

  /**
   * A verdict whose phase 2 is done is dropped by the next decide entry to its home, or by a
   * forget entry of up to MAX_FORGET_PER_ENTRY of them when none comes soon: an order's own
   * forget entry cost every order a Raft round on the home partition.
   */
  private queueForget(home: number, txid: string): void {
    const queued = this.forgets.get(home) ?? [];
    queued.push(txid);
    this.forgets.set(home, queued);
    if (queued.length >= MAX_FORGET_PER_ENTRY) void this.flushForgets(home);
    else if (this.forgetTimer === undefined) {
      this.forgetTimer = setTimeout(() => {
        this.forgetTimer = undefined;
        for (const p of [...this.forgets.keys()]) void this.flushForgets(p);
      }, this.forgetDelay_ms);
      this.forgetTimer.unref();
    }
  }

  private takeForgets(home: number): string[] {
    const queued = this.forgets.get(home) ?? [];
    this.forgets.delete(home);
    return queued;
  }

  /** Proposes the queued forgets of `home`; one lost is found later by recovery (staleDecisions), so failures are ignored. */
  private async flushForgets(home: number): Promise<void> {
    const [txid, ...more] = this.takeForgets(home);
    if (txid === undefined) return;
    await this.propose(home, { t: 'forget', txid, more }, this.now() + this.requestTimeout_ms).catch(() => undefined);
  }

  /** Waits out a lock: this portal's own transaction in phase 2, an expired one by resolving it, another by backing off. */
  private async waitForHolder(locked: Extract<PartitionResult, { t: 'locked' }>, attempt: number, deadline: number): Promise<void> {
    const ours = this.finishing.get(locked.holder.txid);
    if (ours !== undefined) await ours;
    else if (locked.holder.expired) await this.resolve(locked.holder, partitionOfKey(locked.key, this.cluster.partitions), deadline);
    else await this.backoff(attempt, deadline);
  }

  private async lockAll(
    txid: string,
    home: number,
    keys: RecordKey[],
    values: Map<string, readonly [RecordKey, StoredRecord | null]>,
    participants: Set<number>,
    deadline: number,
  ): Promise<Extract<PartitionResult, { t: 'locked' }> | undefined> {
    const byPartition = new Map<number, RecordKey[]>();
    for (const key of keys) {
      const p = partitionOfKey(key, this.cluster.partitions);
      byPartition.set(p, [...(byPartition.get(p) ?? []), key]);
    }
    const lockDeadline = this.now() + this.lockTtl_ms;
    const results = await Promise.all(
      [...byPartition].map(async ([p, partKeys]) => {
        participants.add(p);
        return this.propose(p, { t: 'lock', txid, home, keys: partKeys, deadline_ms: lockDeadline }, deadline);
      }),
    );
    for (const result of results) {
      if (result.t === 'locked') return result;
      if (result.t !== 'locked-values') throw new Error(`unexpected result ${result.t} to lock`);
      for (const pair of result.values) values.set(keyString(pair[0]), pair);
    }
    return undefined;
  }

  /** Releases the transaction's locks on the partitions other than `home`, which holds none (homeApplies). */
  private async releaseAll(txid: string, participants: Iterable<number>, home: number, deadline: number): Promise<void> {
    await Promise.all([...participants].filter((p) => p !== home).map((p) => this.propose(p, { t: 'release', txid }, deadline)));
  }

  /**
   * Phase 2 on every participant; then the home partition may forget the verdict. The caller
   * is answered without waiting for that: forgetting only frees the verdict's record, and one
   * that is never forgotten is found by recovery (staleDecisions), which runs phase 2 again
   * (it is idempotent) and forgets it then. That takes one Raft round off every order.
   */
  private async finish(txid: string, decision: Decision, participants: ReadonlySet<number>, home: number, deadline: number): Promise<void> {
    // An abort by recovery names no participants: release every lock this portal took.
    const reached = decision.outcome === 'commit' ? decision.participants : [...participants];
    const started = performance.now();
    await Promise.all(reached.filter((p) => p !== home).map((p) => this.applyVerdict(txid, decision, p, deadline, true)));
    this.observe?.('phase2', since(started));
    this.queueForget(home, txid);
  }

  /** Phase 2 on one partition: at once for recovery, or with this portal's next request there (`deferred`). */
  private applyVerdict(txid: string, decision: Decision, partition: number, deadline: number, deferred = false): Promise<PartitionResult> {
    const send = deferred ? this.proposePhase2.bind(this) : this.propose.bind(this);
    if (decision.outcome === 'abort') return send(partition, { t: 'release', txid }, deadline);
    const writes = decision.writes.filter((w: Write) => partitionOfKey(w.key, this.cluster.partitions) === partition);
    return send(partition, { t: 'commit', txid, writes }, deadline);
  }

  /** Every proposal of this portal goes here, so the phase 2 entries waiting for its partition go first. */
  private propose(partition: number, op: PartitionOp, deadline: number): Promise<PartitionResult> {
    this.sendPhase2(partition);
    return this.cluster.propose(partition, op, deadline);
  }

  /**
   * Proposes a phase 2 entry together with this portal's next request to `partition`, or
   * phase2Delay_ms later at the latest. At one order at a time the next order's lock follows
   * within a millisecond: both then share one Raft round (one append, one fsync on each
   * replica) instead of the lock waiting behind the commit's round. The records stay locked
   * that much longer, which readers pass through the verdict (PartitionedBackend).
   */
  private proposePhase2(partition: number, op: PartitionOp, deadline: number): Promise<PartitionResult> {
    if (this.phase2Delay_ms <= 0) return this.propose(partition, op, deadline);
    return new Promise((resolve, reject) => {
      const waiting = this.phase2Outbox.get(partition) ?? [];
      waiting.push(() => void this.cluster.propose(partition, op, deadline).then(resolve, reject));
      this.phase2Outbox.set(partition, waiting);
      this.phase2Timer ??= setTimeout(() => {
        this.phase2Timer = undefined;
        for (const p of [...this.phase2Outbox.keys()]) this.sendPhase2(p);
      }, this.phase2Delay_ms);
    });
  }

  private sendPhase2(partition: number): void {
    const waiting = this.phase2Outbox.get(partition);
    if (waiting === undefined) return;
    this.phase2Outbox.delete(partition);
    for (const send of waiting) send();
  }

  /** Finishes a transaction whose coordinator let its locks expire: its home partition decides. */
  async resolve(holder: Pick<LockHolder, 'txid' | 'home'>, partition: number, deadline: number): Promise<void> {
    const result = await this.propose(holder.home, { t: 'abort', txid: holder.txid }, deadline);
    if (result.t !== 'decision') throw new Error(`unexpected result ${result.t} to abort`);
    await this.applyVerdict(holder.txid, result.decision, partition, deadline);
  }

  /**
   * One pass of recovery over every partition: expired locks are resolved, and old verdicts get
   * phase 2 re-run on all their participants (it is idempotent) before they are forgotten.
   */
  async recover(decisionAge_ms = 30_000): Promise<{ resolvedLocks: number; finishedDecisions: number }> {
    const deadline = this.now() + this.requestTimeout_ms;
    let resolvedLocks = 0;
    let finishedDecisions = 0;
    for (let p = 0; p < this.cluster.partitions; p++) {
      // Expiry is judged by log time, which only moves when entries arrive: a quiet partition
      // gets a no-op so locks left by a dead coordinator can be seen to have expired.
      await this.propose(p, { t: 'noop' }, deadline);
      for (const lock of await this.cluster.expiredLocks(p, deadline)) {
        await this.resolve(lock, p, deadline);
        resolvedLocks++;
        this.recovered++;
      }
      for (const { txid, decision } of await this.cluster.staleDecisions(p, decisionAge_ms, deadline)) {
        await Promise.all(decision.participants.map((q) => this.applyVerdict(txid, decision, q, deadline)));
        await this.propose(p, { t: 'forget', txid }, deadline);
        finishedDecisions++;
        this.recovered++;
      }
    }
    return { resolvedLocks, finishedDecisions };
  }

  private async backoff(attempt: number, deadline: number): Promise<void> {
    const wait_ms = Math.min(50, 2 ** Math.min(attempt, 6)) * (0.5 + Math.random());
    if (this.now() + wait_ms > deadline) throw new DeadlinePassed();
    await new Promise((resolve) => setTimeout(resolve, wait_ms));
  }
}

function failureReply(err: unknown): Reply {
  if (err instanceof StoreTimeoutError) return MAYBE_APPLIED;
  if (err instanceof DeadlinePassed || isUnreachable(err)) return NOT_APPLIED;
  throw err;
}

class DeadlinePassed extends Error {}

function isUnreachable(err: unknown): boolean {
  return err instanceof Error && err.name === 'StoreUnreachableError';
}

function dedupe(keys: RecordKey[]): RecordKey[] {
  return [...new Map(keys.map((k) => [keyString(k), k])).values()];
}

/** Where a command runs first: the partition of the record it is about (the order, for orders). */
function homeId(command: Command): string {
  return namedKeys(command)[0].id;
}
