// A simulated node's disk: the in-memory log with real crash semantics, wrapped with the checks
// and faults the simulator plants (the driver and the core never branch on them).
import type { RaftNode } from '../raft/core/index.js';
import type { Entry } from '../raft/types.js';
import { MemoryLog } from '../raft/log/memory.js';
import type { SnapshotStore, SyncDone } from '../raft/log/interfaces.js';
import type { Scheduler } from '../raft/driver/interfaces.js';
import type { Prng } from '../util/random.js';
import { SimViolation, type Invariants } from './invariants.js';
import { SIM_TICK_MS } from './clock.js';

/** An fsync finishes at once or up to this many ticks later (the replica's runs on libuv's thread pool). */
const MAX_SYNC_TICKS = 2;
/**
 * With slow fsyncs on, one in this many takes SLOW_SYNC_TICKS instead: one to four election
 * timeouts, as fsyncs of 0.3-1 s did on a loaded machine (issue #18). Heartbeats must go on
 * meanwhile, and nothing that needs the write may leave before it.
 */
const SLOW_SYNC_ONE_IN = 50;
const SLOW_SYNC_TICKS = { min: 10, max: 40 };

/** Thrown by a disk armed to lose power: the node dies with its writes issued and not synced. */
export class PowerLoss extends Error {
  constructor() {
    super('power lost during an fsync');
    this.name = 'PowerLoss';
  }
}

/** What a full disk answers a write, as Node's fs does (the driver stalls on it and retries). */
function noSpace(): Error {
  return Object.assign(new Error('ENOSPC: no space left on device (simulated)'), { code: 'ENOSPC' });
}

export class SimDisk extends MemoryLog {
  private powerLossArmed = false;
  /** While set, every append and fsync is refused, leaving the disk as it was. */
  full = false;
  /** fsyncs issued and not finished yet (their timers die with the process). */
  syncsOutstanding = 0;
  /** How many fsyncs finished ticks after they were issued. */
  syncsDeferred = 0;
  /** Whether some fsyncs are slow (SLOW_SYNC_ONE_IN): a fault, set by the simulation. */
  slowSyncs = false;
  /** How many fsyncs were slow. */
  syncsSlow = 0;

  /**
   * @param core the node's core while it is up: new entries are checked against what it holds
   * @param snapshots the node's snapshot store: the log may forget only what its snapshot covers
   * @param skipFsync the planted bug `skip-fsync`: fsync returns without making anything durable
   * @param clock the running process's virtual time, on which a deferred fsync finishes
   * @param prng draws how many ticks each fsync takes
   */
  constructor(
    private readonly core: () => RaftNode | undefined,
    private readonly invariants: Invariants,
    private readonly snapshots: SnapshotStore,
    private readonly skipFsync: boolean,
    private readonly clock: () => Scheduler,
    private readonly prng: Prng,
  ) {
    super();
  }

  /** The next fsync loses power instead: everything issued since the last one may or may not survive. */
  armPowerLoss(): void {
    this.powerLossArmed = true;
  }

  /** The process is gone: no power loss armed, and the fsyncs it had issued will never finish. */
  disarm(): void {
    this.powerLossArmed = false;
    this.syncsOutstanding = 0;
  }

  override append(entries: readonly Entry[]): void {
    if (this.full) throw noSpace();
    const core = this.core();
    if (core !== undefined) this.invariants.checkNewEntries(core, entries);
    super.append(entries);
  }

  override compact(index: number): void {
    const covered = this.snapshots.latest()?.meta.index ?? 0;
    if (index > covered) throw new SimViolation(`log compacted to ${index}, beyond its durable snapshot at ${covered}`);
    super.compact(index);
  }

  override sync(): void {
    if (this.full) throw noSpace();
    this.loseArmedPower();
    if (!this.skipFsync) super.sync();
  }

  /**
   * Finishes at once or some ticks later, so messages, ticks, proposals and crashes land while
   * it is out. It covers only the writes issued before it; power lost before it finishes keeps
   * a prefix of them, as a crash does.
   */
  override syncAsync(done: SyncDone): void {
    if (this.full) throw noSpace();
    const through = this.issuedCount();
    const finish = (): void => {
      this.loseArmedPower();
      if (!this.skipFsync) this.syncThrough(through);
      done(undefined);
    };
    const slow = this.slowSyncs && this.prng.int(SLOW_SYNC_ONE_IN) === 0;
    const ticks = slow ? SLOW_SYNC_TICKS.min + this.prng.int(SLOW_SYNC_TICKS.max - SLOW_SYNC_TICKS.min + 1) : this.prng.int(MAX_SYNC_TICKS + 1);
    if (slow) this.syncsSlow++;
    if (ticks === 0) return finish();
    this.syncsDeferred++;
    this.syncsOutstanding++;
    this.clock().after(ticks * SIM_TICK_MS, () => {
      this.syncsOutstanding--;
      finish();
    });
  }

  private loseArmedPower(): void {
    if (!this.powerLossArmed) return;
    this.powerLossArmed = false;
    throw new PowerLoss();
  }
}
