// The one loop that drives a Raft core: the replica process and the simulator both run it, over
// their own disks, networks, state machines and clocks (./interfaces.ts). The core decides; the
// driver does what it hands back, in the order that keeps its promises: persist, send, apply,
// answer reads, advance (with `applyPiece`, the apply goes on in pieces over the turns after).
// The fsync of a Ready runs off the event loop: inputs go on reaching the core meanwhile, and
// the Ready taken after it holds everything that came (docs/raft.md).
import { RaftError, RaftNode, type RaftOptions, type Ready } from '../core/index.js';
import type { Entry, Membership, Message } from '../types.js';
import type { DurableLog } from '../log/interfaces.js';
import { recoverInitialState } from '../log/recover.js';
import { assert } from '../../util/assert.js';
import { describeDiskFault, isDiskFault } from '../../util/disk-errors.js';
import type { DiskStage, DriverEvents, DriverSnapshotStore, Scheduler, StateMachine, Transport } from './interfaces.js';
import { ApplyBacklog } from './apply-backlog.js';
import { ReadRounds, type ReadWaiter } from './read-rounds.js';
import { Snapshotter } from './snapshots.js';

/** How often a node whose disk refused a write tries again, by default. */
export const DEFAULT_DISK_RETRY_MS = 1_000;

/** How long, by default, a node goes on with heartbeats while one fsync is out (DriverOptions.heartbeatsDuringSync_ms). */
export const DEFAULT_HEARTBEATS_DURING_SYNC_MS = 3_000;

export interface DriverOptions {
  /** The core's options; its initial state comes from `log` and `snapshots`. */
  readonly raft: RaftOptions;
  /** The membership a node starts with when its log and snapshots hold none. */
  readonly bootstrap: Membership;
  readonly log: DurableLog;
  readonly snapshots: DriverSnapshotStore;
  readonly machine: StateMachine;
  readonly transport: Transport;
  readonly scheduler: Scheduler;
  readonly events: DriverEvents;
  /** Applied entries after a snapshot before the next is taken; asked again after each snapshot. */
  readonly snapshotGap: () => number;
  readonly diskRetry_ms?: number;
  /**
   * The longest the driver keeps the event loop carrying Readies before it lets other work in
   * (on the scheduler's clock); unset, it carries all there are. Bound what one Ready carries
   * with the core's max_apply_bytes and max_msg_bytes.
   */
  readonly turnBudget_ms?: number;
  /**
   * Committed entries are applied in pieces of at most this many, one piece per turn, so that a
   * Ready's apply does not hold ticks, heartbeats and votes back (issue #18); unset, a Ready's
   * committed entries are applied as it is carried.
   */
  readonly applyPiece?: ApplyPiece;
  /**
   * While a Ready's fsync is out, the node still sends its heartbeats (a leader) and answers them
   * (a follower), for at most this long (on the scheduler's clock): a slow disk then delays
   * writes without deposing a healthy leader. Past it, the node falls silent as before, so that
   * a leader whose disk has hung lets another replica take over. Default
   * DEFAULT_HEARTBEATS_DURING_SYNC_MS.
   */
  readonly heartbeatsDuringSync_ms?: number;
}

/** How much of the apply backlog one turn applies. */
export interface ApplyPiece {
  /**
   * At most this many entries in one piece (one call of the state machine's apply). A count, not
   * a time: a piece timed on the wall clock shrinks whenever the process loses its core, and the
   * backlog then outgrows its bound (measured: pieces sized to 3 ms of wall time fell behind).
   */
  readonly maxEntries: number;
  /**
   * The backlog's bound: what a Ready brings beyond it is applied as the Ready is carried, as
   * without pieces, so a state machine slower than the log cannot fall behind without end.
   */
  readonly maxBacklog: number;
}

/** What the node found on its disk at start-up, for its first log line. */
export interface Recovered {
  readonly term: number;
  readonly commit: number;
  readonly snapshot: number;
  readonly entries: number;
}

/** How far a turn took a Ready: to the end, to its fsync (finished later), or to a disk fault. */
type Carried = 'done' | 'syncing' | 'stalled';

/**
 * A Ready written to the log whose fsync is under way; `early`: its replication already left;
 * `applied`: its committed entries were taken in meanwhile (applied, or put in the backlog);
 * `since_ms`: when the fsync started (scheduler clock); `silenced`: it has been out so long
 * that the node stopped its heartbeats.
 */
interface Syncing {
  readonly rd: Ready;
  readonly early: boolean;
  readonly applied: boolean;
  readonly since_ms: number;
  silenced: boolean;
}

interface DiskStall {
  /** The Ready to carry on from `stage`, or none: the fault came while applying the backlog. */
  readonly rd: Ready | undefined;
  readonly stage: DiskStage;
  readonly fault: string;
  readonly since_ms: number;
  readonly cancel: () => void;
}

/** What a leader sends to replicate: appends and heartbeats. */
const isReplication = (m: Message): boolean => m.type === 'App' || m.type === 'Heartbeat';

/** Runs `work`, and tells `observe` how long it took in seconds when there is one to tell. */
function timed(work: () => void, observe: ((seconds: number) => void) | undefined): void {
  if (observe === undefined) return work();
  const started = performance.now();
  work();
  observe((performance.now() - started) / 1_000);
}

export class RaftDriver {
  readonly node: RaftNode;
  readonly recovered: Recovered;
  private readonly reads: ReadRounds;
  private readonly snapshotter: Snapshotter;
  private scheduled = false;
  private stopped_ = false;
  private lastRole: string;
  private lastTerm: number;
  /** Set while the disk refuses writes: the Ready that could not be finished, and where it stopped. */
  private stall: DiskStall | undefined;
  /** While a retry runs: when the stall it retries began (a renewed stall is the same one). */
  private retryingSince_ms: number | undefined;
  /** Set while a Ready's fsync is under way: no other Ready is taken until it is durable. */
  private syncing: Syncing | undefined;
  /** Committed entries handed out and not yet applied (always empty without `applyPiece`). */
  private readonly backlog: ApplyBacklog;
  /** The term the disk holds for sure: the only one heartbeats may carry while an fsync is out. */
  private durableTerm: number;

  constructor(private readonly options: DriverOptions) {
    const { log, snapshots, machine } = options;
    const init = recoverInitialState(log, log, snapshots, options.bootstrap);
    // The snapshot is newer than the state: a crash came between saving a received snapshot and installing it.
    if (init.snapshot !== undefined && machine.appliedIndex() < init.snapshot.meta.index) machine.restore(init.snapshot);
    this.node = new RaftNode(options.raft, init);
    this.recovered = { term: init.hardState.term, commit: init.hardState.commit, snapshot: init.snapshot?.meta.index ?? 0, entries: init.entries.length };
    this.reads = new ReadRounds(this.node);
    this.backlog = new ApplyBacklog(machine.appliedIndex());
    this.snapshotter = new Snapshotter(
      { node: this.node, machine, store: snapshots, log, events: options.events, gap: options.snapshotGap, stopped: () => this.stopped_ },
      this.recovered.snapshot,
    );
    this.lastRole = this.node.role;
    this.lastTerm = this.node.term;
    this.durableTerm = init.hardState.term;
  }

  get stopped(): boolean {
    return this.stopped_;
  }

  /** Index of the newest snapshot this node holds. */
  get snapshotIndex(): number {
    return this.snapshotter.index;
  }

  /** The disk fault the node is stalled on, if any, and since when (scheduler clock). */
  get diskFault(): { readonly fault: string; readonly since_ms: number } | undefined {
    return this.stall;
  }

  /**
   * Gives the core an input (a tick, a message, a proposal), then schedules the Ready loop. A
   * refusal of the core is reported and dropped (Raft retries). A node whose disk refuses writes
   * takes no input: like a paused process, which Raft tolerates. One whose fsync is under way
   * does: the core holds it (bounded by its queues) for the next Ready.
   */
  input(run: () => void): void {
    if (this.stopped_ || this.stall !== undefined) return;
    try {
      run();
    } catch (err) {
      if (!(err instanceof RaftError)) throw err;
      this.options.events.refused?.(err);
    }
    this.schedule();
  }

  tick(): void {
    this.input(() => this.node.tick());
  }

  step(message: Message): void {
    this.input(() => this.node.step(message));
  }

  /** A linearizable read: `read` is answered once a ReadIndex round confirms this leader and the state has caught up. */
  read(read: ReadWaiter): void {
    this.reads.add(read);
    this.schedule();
  }

  /** Schedules the Ready loop (once, however often asked before it runs). */
  schedule(): void {
    if (this.scheduled || this.stopped_) return;
    this.scheduled = true;
    this.options.scheduler.soon(() => {
      this.scheduled = false;
      this.processReady();
    });
  }

  /** Takes a snapshot now, or joins the one under way; settles once it is durable or has failed. */
  snapshotNow(): Promise<void> {
    return this.snapshotter.takeNow();
  }

  /** Settles when the snapshot under way, if any, has. */
  snapshotSettled(): Promise<void> {
    return this.snapshotter.settled();
  }

  /** Stops taking input and retrying; what is durable stays so, and an fsync under way finishes unheard. */
  stop(): void {
    this.stopped_ = true;
    this.stall?.cancel();
  }

  /** The scheduled turn: an internal failure halts the node (nothing half-applied is served from). */
  private processReady(): void {
    if (this.stopped_ || this.stall !== undefined) return;
    try {
      this.drain();
    } catch (err) {
      this.halt(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private halt(err: Error): void {
    this.stopped_ = true;
    this.options.events.halted(err);
  }

  /**
   * Applies a piece of the backlog (with `applyPiece`), carries every Ready the core has, then
   * lets a snapshot start; while an fsync is under way it only starts a read round and applies
   * the piece (the core holds the rest for the Ready after it). Throws what it cannot handle (the
   * simulator calls it directly, to see a crash it planted); a disk that refuses a write stalls
   * the node instead.
   */
  drain(): void {
    if (this.stopped_ || this.stall !== undefined) return;
    this.reads.startRound();
    if (!this.applyPiece()) return;
    this.carryReadies();
    // What is left of the backlog is applied a piece a turn, between ticks and messages.
    if (this.backlog.length > 0 && this.stall === undefined) this.schedule();
  }

  /** Carries the Readies the core has, as far as the fsync under way and the turn budget let it. */
  private carryReadies(): void {
    if (this.syncing !== undefined) return this.sendHeartbeatsDuringSync(this.syncing);
    const { scheduler, turnBudget_ms } = this.options;
    const started_ms = scheduler.now_ms();
    while (this.node.hasReady()) {
      if (this.carry(this.node.ready(), 'persist') !== 'done') return;
      // A backlog (a follower catching up, a leader after a stall) is carried over several turns
      // of the event loop, so ticks, heartbeats and votes get in between (issue #18).
      if (turnBudget_ms !== undefined && this.node.hasReady() && scheduler.now_ms() - started_ms >= turnBudget_ms) {
        this.schedule();
        return;
      }
    }
    this.options.events.idle?.();
    this.snapshotter.maybeTake();
  }

  /**
   * Sends the heartbeats and heartbeat answers the core has while an fsync is out, unless it has
   * been out so long that the disk looks hung (DriverOptions.heartbeatsDuringSync_ms).
   */
  private sendHeartbeatsDuringSync(syncing: Syncing): void {
    if (syncing.silenced) return;
    const limit_ms = this.options.heartbeatsDuringSync_ms ?? DEFAULT_HEARTBEATS_DURING_SYNC_MS;
    const out_ms = this.options.scheduler.now_ms() - syncing.since_ms;
    if (out_ms > limit_ms) {
      syncing.silenced = true;
      this.options.events.syncHung?.(out_ms);
      return;
    }
    const beats = this.node.takeHeartbeats(this.durableTerm);
    if (beats.length > 0) this.options.transport.send(beats, true);
  }

  /**
   * Applies one piece of the backlog, if pieces are set and there is one; returns false if the
   * disk refused it (the node is stalled, and applying it is retried).
   */
  private applyPiece(): boolean {
    const piece = this.options.applyPiece;
    if (piece === undefined || this.backlog.length === 0) return true;
    try {
      this.applyFromBacklog(piece.maxEntries);
    } catch (err) {
      if (!isDiskFault(err)) throw err;
      this.stallOnDisk(undefined, 'apply', err);
      return false;
    }
    return true;
  }

  /** Applies the backlog's next `count` entries (all of it with Infinity) and serves the reads that waited for them. */
  private applyFromBacklog(count: number): void {
    const entries = this.backlog.peek(count);
    if (entries.length === 0) return;
    const { machine } = this.options;
    machine.apply(entries);
    this.backlog.drop(entries.length);
    this.reads.applied(machine.appliedIndex());
  }

  /**
   * A Ready's committed entries: into the backlog, applied at once without pieces, or with them
   * only what goes past the backlog's bound.
   */
  private takeCommitted(committed: readonly Entry[]): void {
    if (committed.length === 0) return;
    this.backlog.add(committed);
    const piece = this.options.applyPiece;
    const overflow = piece === undefined ? Infinity : this.backlog.length - piece.maxBacklog;
    if (overflow > 0) this.applyFromBacklog(overflow);
  }

  /**
   * Takes a Ready from `from` as far as it can go now: to the end, or to its fsync, which
   * finishes it later (synced()). A disk that refuses a write (full, failing) pauses the node
   * right there, with nothing acknowledged that is not durable, until a retry gets through; any
   * other failure goes up.
   */
  private carry(rd: Ready, from: DiskStage, appliedWhileSyncing = false): Carried {
    let stage = from;
    const { machine } = this.options;
    try {
      if (stage === 'persist') {
        if (!this.persistAndSend(rd)) return 'syncing';
        stage = 'apply';
      }
      if (!appliedWhileSyncing) {
        // Both are idempotent: a restore replaces the whole state, and the backlog takes no entry twice.
        if (rd.snapshot !== undefined) {
          // The entries handed out before the snapshot are applied first, as without pieces.
          this.applyFromBacklog(Infinity);
          machine.restore(rd.snapshot);
          this.backlog.skipTo(rd.snapshot.meta.index);
        }
        this.takeCommitted(rd.committedEntries);
      }
      // A change of role or term is reported only once everything handed out before it is
      // applied, as without pieces: a leader that steps down (removed, deposed, handing over)
      // answers its callers from their committed entries, not as lost.
      if (this.leadershipChanges(rd)) this.applyFromBacklog(Infinity);
    } catch (err) {
      if (!isDiskFault(err)) throw err;
      this.stallOnDisk(rd, stage, err);
      return 'stalled';
    }
    // Reads confirmed while the fsync was out were answered then; confirming again finds none of them.
    if (rd.readStates.length > 0) this.reads.confirmed(rd.readStates, machine.appliedIndex());
    this.noticeLeadership(rd);
    this.node.advance();
    this.options.events.readyDone?.();
    return 'done';
  }

  /**
   * A Ready's fsync is over: its writes are durable (or the log can no longer be trusted, which
   * halts the node). Sends what waited for them, applies, advances, and takes the next Ready,
   * which holds every input that came during the fsync: the batch grows with the load.
   */
  private synced(err: Error | undefined): void {
    const out = this.syncing;
    this.syncing = undefined;
    if (out === undefined || this.stopped_) return;
    try {
      if (err !== undefined) throw err;
      this.afterPersist(out.rd, out.early);
      if (this.stall !== undefined) {
        // A piece of the backlog stalled on the disk meanwhile: the rest of this Ready waits for the retry.
        assert(this.stall.rd === undefined, 'a Ready stalls on the disk only while none is syncing');
        this.stall = { ...this.stall, rd: out.rd, stage: 'apply' };
        return;
      }
      if (this.carry(out.rd, 'apply', out.applied) === 'stalled') return;
    } catch (e) {
      this.halt(e instanceof Error ? e : new Error(String(e)));
      return;
    }
    this.schedule();
  }

  /**
   * A leader's appends go out before its own fsync, so the followers' disks and its own work at
   * the same time (Raft thesis §10.2.1): the core counts the leader towards a commit only once
   * its entries are durable (its stableIndex, moved by advance()), so nothing is acknowledged on
   * fewer durable copies. Everything else waits for the fsync. Returns whether the Ready is
   * durable now; if not, synced() carries it on once it is.
   */
  private persistAndSend(rd: Ready): boolean {
    const { transport, events } = this.options;
    if (events.snapshotSent !== undefined) {
      for (const m of rd.messages) if (m.type === 'Snap' && m.snapshot !== undefined) events.snapshotSent(m.snapshot.data.length, m.to);
    }
    const early = this.mayReplicateBeforePersist(rd);
    if (early) {
      const replication = rd.messages.filter(isReplication);
      if (replication.length > 0) transport.send(replication, true);
    }
    const since_ms = this.options.scheduler.now_ms();
    if (!this.persist(rd)) {
      this.syncing = { rd, early, applied: this.applyWhileSyncing(rd), since_ms, silenced: false };
      return false;
    }
    this.afterPersist(rd, early);
    return true;
  }

  /**
   * Apply pipelined behind commit: while a Ready's fsync is out, its committed entries are
   * applied (with `applyPiece`, put in the backlog, whose pieces go on in the turns while the
   * fsync is out) and the reads it confirms answered. The core hands out no committed entry
   * beyond this node's durable index, so they are durable here and on a quorum; only the
   * Ready's new entries wait for the disk. A snapshot to install waits for it (it replaces the
   * log being written). Returns whether it took them in; a disk fault leaves them to the end of
   * the Ready, which stalls on it if it comes again.
   */
  private applyWhileSyncing(rd: Ready): boolean {
    if (rd.snapshot !== undefined) return false;
    try {
      this.takeCommitted(rd.committedEntries);
    } catch (err) {
      if (!isDiskFault(err)) throw err;
      return false;
    }
    if (rd.readStates.length > 0) this.reads.confirmed(rd.readStates, this.options.machine.appliedIndex());
    return true;
  }

  /** The Ready's writes are durable: report it, and send what had to wait for them. */
  private afterPersist(rd: Ready, early: boolean): void {
    if (rd.hardState !== undefined) this.durableTerm = rd.hardState.term;
    if (rd.entries.length > 0) this.options.events.persisted?.(rd.entries[rd.entries.length - 1]!.index);
    const rest = early ? rd.messages.filter((m) => !isReplication(m)) : rd.messages;
    if (rest.length > 0) this.options.transport.send(rest, false);
  }

  /**
   * Whether a leader's appends and heartbeats in this Ready need none of its writes: they do
   * when the Ready changes the term or vote (a term must be durable before anyone hears of it)
   * or installs a snapshot.
   */
  private mayReplicateBeforePersist(rd: Ready): boolean {
    if (rd.softState.role !== 'leader' || rd.snapshot !== undefined) return false;
    const durable = this.options.log.hardState();
    return rd.hardState === undefined || (rd.hardState.term === durable.term && rd.hardState.vote === durable.vote);
  }

  /**
   * Writes the Ready to the log and starts its fsync; returns whether it is durable already (no
   * fsync needed, or one that finished at once). A refused write throws, as a disk fault.
   */
  private persist(rd: Ready): boolean {
    const { log, snapshots, events } = this.options;
    if (rd.snapshot !== undefined) {
      snapshots.save(rd.snapshot);
      log.resetTo(rd.snapshot.meta.index);
      this.snapshotter.installed(rd.snapshot.meta.index);
    }
    if (rd.entries.length > 0) {
      events.writing?.(rd.entries[rd.entries.length - 1]!.index);
      timed(() => log.append(rd.entries), events.appended);
    }
    if (rd.hardState !== undefined) log.setHardState(rd.hardState);
    if (!rd.mustSync && rd.snapshot === undefined) return true;
    const started = performance.now();
    let inCall = true;
    let atOnce: { err: Error | undefined } | undefined;
    log.syncAsync((err) => {
      events.synced?.((performance.now() - started) / 1_000);
      if (inCall) atOnce = { err };
      else this.synced(err);
    });
    inCall = false;
    if (atOnce === undefined) return false;
    if (atOnce.err !== undefined) throw atOnce.err;
    return true;
  }

  private leadershipChanges(rd: Ready): boolean {
    return rd.softState.role !== this.lastRole || this.node.term !== this.lastTerm;
  }

  /** Reports a change of role or term; a node that stops leading fails the reads it was confirming. */
  private noticeLeadership(rd: Ready): void {
    if (!this.leadershipChanges(rd)) return;
    const role = rd.softState.role;
    const term = this.node.term;
    const wasLeader = this.lastRole === 'leader';
    this.lastRole = role;
    this.lastTerm = term;
    if (wasLeader && role !== 'leader') this.reads.failAll();
    this.options.events.leadership?.({ role, term, wasLeader });
  }

  private stallOnDisk(rd: Ready | undefined, stage: DiskStage, err: Error & { code: string | number }): void {
    const { scheduler, events } = this.options;
    const retry_ms = this.options.diskRetry_ms ?? DEFAULT_DISK_RETRY_MS;
    const first = this.stall === undefined && this.retryingSince_ms === undefined;
    const since_ms = this.stall?.since_ms ?? this.retryingSince_ms ?? scheduler.now_ms();
    const fault = describeDiskFault(err);
    const cancel = scheduler.after(retry_ms, () => this.retryAfterDiskFault());
    this.stall = { rd, stage, fault, since_ms, cancel };
    if (first) events.diskStalled?.(stage, fault, retry_ms);
  }

  private retryAfterDiskFault(): void {
    const stall = this.stall;
    if (stall === undefined || this.stopped_) return;
    this.stall = undefined;
    this.retryingSince_ms = stall.since_ms;
    let carried: Carried;
    try {
      // A refusal again renews the stall (carry() records it, reported only once).
      carried = stall.rd === undefined ? (this.applyPiece() ? 'done' : 'stalled') : this.carry(stall.rd, stall.stage);
      if (carried === 'stalled') return;
    } catch (err) {
      this.halt(err instanceof Error ? err : new Error(String(err)));
      return;
    } finally {
      this.retryingSince_ms = undefined;
    }
    assert(this.stall === undefined, 'a Ready the disk took leaves no disk stall');
    this.options.events.diskResumed?.(this.options.scheduler.now_ms() - stall.since_ms);
    // A Ready whose fsync is under way goes on in synced().
    if (carried === 'done') this.schedule();
  }
}
