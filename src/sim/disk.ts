// A simulated node's disk: the in-memory log with real crash semantics, wrapped with the checks
// and faults the simulator plants (the driver and the core never branch on them).
import type { RaftNode } from '../raft/core/index.js';
import type { Entry } from '../raft/types.js';
import { MemoryLog } from '../raft/log/memory.js';
import type { SnapshotStore } from '../raft/log/interfaces.js';
import { SimViolation, type Invariants } from './invariants.js';

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

  /**
   * @param core the node's core while it is up: new entries are checked against what it holds
   * @param snapshots the node's snapshot store: the log may forget only what its snapshot covers
   * @param skipFsync the planted bug `skip-fsync`: fsync returns without making anything durable
   */
  constructor(
    private readonly core: () => RaftNode | undefined,
    private readonly invariants: Invariants,
    private readonly snapshots: SnapshotStore,
    private readonly skipFsync: boolean,
  ) {
    super();
  }

  /** The next fsync loses power instead: everything issued since the last one may or may not survive. */
  armPowerLoss(): void {
    this.powerLossArmed = true;
  }

  disarm(): void {
    this.powerLossArmed = false;
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
    if (this.powerLossArmed) {
      this.powerLossArmed = false;
      throw new PowerLoss();
    }
    if (!this.skipFsync) super.sync();
  }
}
