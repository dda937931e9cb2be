// One simulated replica: the shipped Raft driver (src/raft/driver) over an in-memory disk, the
// simulated network and a KV state machine. Only these fakes differ from a storage replica.
import { DEFAULT_OPTIONS, RaftError, isHeartbeat } from '../raft/core/index.js';
import type { Entry, Membership, Message, NodeId, RaftNode, RaftOptions, Snapshot } from '../raft/core/index.js';
import { RaftDriver, type DriverOptions } from '../raft/driver/driver.js';
import type { CapturedState, StateMachine } from '../raft/driver/interfaces.js';
import { MemorySnapshotStore } from '../raft/log/memory.js';
import type { KvOutput } from '../lincheck/history.js';
import { KvStateMachine, decodeCommand } from './kv.js';
import type { Invariants } from './invariants.js';
import { PowerLoss, SimDisk } from './disk.js';
import { SIM_TICK_MS, SimClock } from './clock.js';
import type { Prng } from '../util/random.js';
import { defined } from '../util/assert.js';

/**
 * Deliberate bugs, to prove the simulator and checker catch them:
 *  skip-fsync  — the disk's fsync makes nothing durable (messages leave on writes a crash loses);
 *  local-reads — answer reads from the local state machine without ReadIndex.
 */
export type InjectedBug = 'none' | 'skip-fsync' | 'local-reads';

/** A snapshot's state is captured at once or up to this many ticks later (the replica: on a worker thread). */
const MAX_CAPTURE_TICKS = 3;

/** A node whose disk is full tries again this often (the replica: every second). */
const DISK_RETRY_TICKS = 3;

/**
 * How a node applies committed entries: the nodes of one run differ (ids 1 and 4: pieces of one
 * entry, a backlog of at most 6; 2 and 5: pieces of 4, at most 64; 3: each Ready's whole), so
 * every seed runs the backlog applied a piece a step, as the replica applies one a turn, beside
 * the whole Ready applied at once. Chosen by id rather than drawn: it takes nothing from the
 * seed's generator.
 */
function applyPieceOf(id: NodeId): Pick<DriverOptions, 'applyPiece'> {
  switch (id % 3) {
    case 1:
      return { applyPiece: { maxEntries: 1, maxBacklog: 6 } };
    case 2:
      return { applyPiece: { maxEntries: 4, maxBacklog: 64 } };
    default:
      return {};
  }
}

export interface Completion {
  readonly opId: number;
  readonly output: KvOutput;
}

/** The KV machine as the driver sees it, checking State Machine Safety on every entry applied. */
class CheckedKvMachine implements StateMachine {
  private readonly kv = new KvStateMachine();
  private applied = 0;

  constructor(
    private readonly node: SimNode,
    private readonly invariants: Invariants,
    private readonly later: (run: () => void) => void,
  ) {}

  appliedIndex(): number {
    return this.applied;
  }

  apply(entries: readonly Entry[]): void {
    if (this.node.log.syncsOutstanding > 0) this.node.appliesWhileSyncing++;
    // The core handed out more than this piece: the rest waits in the driver's backlog.
    if (entries.length > 0 && entries[entries.length - 1]!.index < this.node.live.appliedIndex) this.node.appliesBehindLog++;
    // No entry is skipped: the machine restarts empty, so one handed out twice is a bug to catch.
    for (const e of entries) {
      this.invariants.checkApply(this.node.id, this.node.live.term, e);
      this.applied = e.index;
      if (e.kind !== 'normal' || e.data.length === 0) continue;
      const cmd = decodeCommand(e.data);
      this.node.applied(cmd.opId, this.kv.apply(cmd.input));
    }
  }

  restore(snapshot: Snapshot): void {
    this.kv.restore(snapshot.data);
    this.invariants.resetApplied(this.node.id, snapshot.meta.index, snapshot.meta.term);
    this.applied = snapshot.meta.index;
  }

  /** Captures at once or some ticks later, as the replica's worker thread does, while Readies go on. */
  capture(done: (state: CapturedState) => void): void {
    this.later(() => done({ applied: this.applied, data: this.kv.snapshot() }));
  }

  read(key: string): string | null {
    return this.kv.read(key);
  }
}

export class SimNode {
  readonly id: NodeId;
  readonly log: SimDisk;
  readonly snapshots = new MemorySnapshotStore();
  private driver: RaftDriver | undefined;
  private machine: CheckedKvMachine | undefined;
  /** Virtual time of the running process: a crash takes its timers with it. */
  private clock = new SimClock();
  /** Messages the driver sent during the current drive(). */
  private outbox: Message[] = [];
  /** opId of writes this node proposed, awaiting their application here. */
  private readonly pendingWrites = new Set<number>();
  /** opId of reads waiting for their ReadIndex round and then for the apply index. */
  private readonly pendingReads = new Set<number>();
  completions: Completion[] = [];
  /** Called for every applied client command, so the omniscient simulator can resolve timeouts. */
  onApply: (opId: number, output: KvOutput) => void = () => {};
  failedReads: number[] = [];
  /** How often this node's driver stalled on a full disk, and got going again. */
  diskStalls = 0;
  diskResumes = 0;
  /** Snapshots taken, and how many of them were captured ticks after they were asked for. */
  snapshotsTaken = 0;
  capturesDeferred = 0;
  /** Batches applied while an fsync of the same node was out (apply pipelined behind it). */
  appliesWhileSyncing = 0;
  /** Pieces applied while the core had handed out later entries still waiting in the backlog. */
  appliesBehindLog = 0;
  /** Heartbeats and their answers sent while an fsync of this node was out. */
  heartbeatsMidSync = 0;
  readonly options: Partial<RaftOptions>;

  constructor(
    id: NodeId,
    private readonly bootstrap: Membership,
    private readonly prng: Prng,
    private readonly invariants: Invariants,
    options: Partial<RaftOptions>,
    private readonly compact_every_entries: number,
    private readonly bug: InjectedBug = 'none',
  ) {
    this.id = id;
    this.options = options;
    this.log = new SimDisk(() => this.driver?.node, invariants, this.snapshots, bug === 'skip-fsync', () => this.clock, prng);
    this.start();
  }

  get up(): boolean {
    return this.driver !== undefined;
  }

  /** The core of a node that is up; the simulation only drives nodes that are. */
  get live(): RaftNode {
    return defined(this.driver, () => `driver of node ${this.id}, which is down`).node;
  }

  private get running(): RaftDriver {
    return defined(this.driver, () => `driver of node ${this.id}, which is down`);
  }

  start(): void {
    const prng = this.prng;
    this.invariants.resetApplied(this.id, 0, 0);
    const clock = new SimClock();
    this.clock = clock;
    const machine = new CheckedKvMachine(this, this.invariants, (run) => {
      const ticks = prng.int(MAX_CAPTURE_TICKS + 1);
      if (ticks === 0) return run();
      this.capturesDeferred++;
      clock.after(ticks * SIM_TICK_MS, run);
    });
    this.machine = machine;
    this.driver = new RaftDriver({
      raft: { ...DEFAULT_OPTIONS, ...this.options, id: this.id, random_int: (n) => prng.int(n) },
      bootstrap: this.bootstrap,
      log: this.log,
      snapshots: this.snapshots,
      machine,
      transport: {
        send: (messages) => {
          if (this.log.syncsOutstanding > 0) for (const m of messages) if (isHeartbeat(m)) this.heartbeatsMidSync++;
          this.outbox.push(...messages);
        },
      },
      scheduler: this.clock,
      events: {
        halted: (err) => {
          throw err;
        },
        refused: (err) => {
          // A full outbox drops the input (Raft retries); any other refusal of a tick or message is a bug.
          if (err.code !== 'OutboxFull') throw err;
        },
        readyDone: () => this.invariants.checkCommit(this.live),
        diskStalled: () => this.diskStalls++,
        diskResumed: () => this.diskResumes++,
        snapshotTaken: () => this.snapshotsTaken++,
        snapshotFailed: (err) => {
          throw err;
        },
      },
      snapshotGap: () => this.compact_every_entries,
      diskRetry_ms: DISK_RETRY_TICKS * SIM_TICK_MS,
      ...applyPieceOf(this.id),
    });
    this.invariants.restarted(this.id, this.live.commitIndex);
    this.pendingWrites.clear();
    this.pendingReads.clear();
  }

  /** Loses the process and whatever of the unsynced disk writes did not make it. */
  crash(surviving_ops: number): void {
    // The process is gone: nothing it scheduled (a retry of a write the disk refused) runs again.
    this.driver?.stop();
    this.driver = undefined;
    this.machine = undefined;
    this.log.disarm();
    // Space is freed while the node is down, so it restarts on a disk that takes writes.
    this.log.full = false;
    this.log.crash(surviving_ops);
    this.pendingWrites.clear();
    this.pendingReads.clear();
  }

  /** The node's next fsync loses power: its writes since the last one are issued, not synced. */
  armCrashDuringPersist(): void {
    this.log.armPowerLoss();
  }

  tick(): void {
    // A timer may retry a write the disk refused: that fsync can be the one that loses power.
    this.survivingPowerLoss(() => {
      this.clock.tick();
      this.driver?.tick();
    });
  }

  step(message: Message): void {
    this.running.step(message);
  }

  /** Whether the node's disk refuses writes and it is stalled on that: it takes no requests, as a replica does. */
  get stalled(): boolean {
    return this.driver?.diskFault !== undefined;
  }

  proposeWrite(opId: number, data: Uint8Array): boolean {
    if (this.stalled) return false;
    try {
      this.live.propose(data);
      this.pendingWrites.add(opId);
      return true;
    } catch (e) {
      if (e instanceof RaftError) return false;
      throw e;
    }
  }

  read(opId: number, key: string): boolean {
    const machine = defined(this.machine, () => `state machine of node ${this.id}, which is down`);
    if (this.stalled) return false;
    if (this.bug === 'local-reads') {
      this.completions.push({ opId, output: { value: machine.read(key) } });
      return true;
    }
    // As the replica does: only a leader takes a read (a follower would be refused by ReadIndex).
    if (this.live.role !== 'leader') return false;
    this.pendingReads.add(opId);
    this.running.read((outcome) => {
      if (!this.pendingReads.delete(opId)) return; // forgotten (timed out) meanwhile
      if (outcome.ok) this.completions.push({ opId, output: { value: machine.read(key) } });
      else this.failedReads.push(opId);
    });
    return true;
  }

  forget(opId: number): void {
    this.pendingWrites.delete(opId);
    this.pendingReads.delete(opId);
  }

  /** A client command was applied here (called by the state machine). */
  applied(opId: number, output: KvOutput): void {
    this.onApply(opId, output);
    if (this.pendingWrites.delete(opId)) this.completions.push({ opId, output });
  }

  /**
   * Runs the driver until the core has nothing more to hand out; returns the messages it sent
   * since the last call (a leader that lost power in an fsync may have sent its appends first).
   */
  drive(): Message[] {
    this.survivingPowerLoss(() => {
      const driver = this.driver;
      if (driver === undefined) return;
      driver.drain();
      this.invariants.checkLeader(driver.node);
    });
    const out = this.outbox;
    this.outbox = [];
    return out;
  }

  /** Runs `work`; a planted power loss in it crashes the node, keeping a random prefix of its unsynced writes. */
  private survivingPowerLoss(work: () => void): void {
    try {
      work();
    } catch (e) {
      if (!(e instanceof PowerLoss)) throw e;
      this.crash(this.prng.int(this.log.unsyncedCount() + 1));
    }
  }
}
