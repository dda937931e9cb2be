// One simulated replica: a Raft core driven exactly as a real driver would, over in-memory disks.
import { RaftNode, DEFAULT_OPTIONS, RaftError } from '../raft/core/index.js';
import type { Membership, Message, NodeId, RaftOptions, Ready } from '../raft/core/index.js';
import { MemoryLog, MemorySnapshotStore } from '../raft/log/memory.js';
import { recoverInitialState } from '../raft/log/recover.js';
import type { KvOutput } from '../lincheck/history.js';
import { KvStateMachine, decodeCommand } from './kv.js';
import type { Invariants } from './invariants.js';
import type { Prng } from '../util/random.js';
import { defined } from '../util/assert.js';

/**
 * Deliberate driver bugs, to prove the simulator and checker catch them:
 *  skip-fsync  — send messages without making the Ready durable first;
 *  local-reads — answer reads from the local state machine without ReadIndex.
 */
export type InjectedBug = 'none' | 'skip-fsync' | 'local-reads';

export interface Completion {
  readonly opId: number;
  readonly output: KvOutput;
}

export class SimNode {
  readonly id: NodeId;
  readonly log = new MemoryLog();
  readonly snapshots = new MemorySnapshotStore();
  core: RaftNode | undefined;

  /** The core of a node that is up; the simulation only drives nodes that are. */
  get live(): RaftNode {
    return defined(this.core, () => `core of node ${this.id}, which is down`);
  }
  private kv = new KvStateMachine();
  /** opId of writes this node proposed, awaiting their application here. */
  private pendingWrites = new Set<number>();
  /** ctx → opId/key of reads waiting for their ReadState, then for the apply index. */
  private pendingReads = new Map<number, { key: string; index: number }>();
  completions: Completion[] = [];
  /** Called for every applied client command, so the omniscient simulator can resolve timeouts. */
  onApply: (opId: number, output: KvOutput) => void = () => {};
  failedReads: number[] = [];
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
    this.start();
  }

  /** The next Ready crashes the node after its writes are issued and before they are synced. */
  crashArmed = false;

  get up(): boolean {
    return this.core !== undefined;
  }

  start(): void {
    const init = recoverInitialState(this.log, this.log, this.snapshots, this.bootstrap);
    const prng = this.prng;
    this.core = new RaftNode(
      { ...DEFAULT_OPTIONS, ...this.options, id: this.id, random_int: (n) => prng.int(n) },
      init,
    );
    this.kv = new KvStateMachine();
    const snap = init.snapshot;
    if (snap) this.kv.restore(snap.data);
    this.invariants.resetApplied(this.id, snap?.meta.index ?? 0, snap?.meta.term ?? 0);
    this.invariants.restarted(this.id, this.core.commitIndex);
    this.pendingWrites.clear();
    this.pendingReads.clear();
  }

  /** Loses the process and whatever of the unsynced disk writes did not make it. */
  crash(surviving_ops: number): void {
    this.core = undefined;
    this.log.crash(surviving_ops);
    this.pendingWrites.clear();
    this.pendingReads.clear();
  }

  proposeWrite(opId: number, data: Uint8Array): boolean {
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
    if (this.bug === 'local-reads') {
      this.completions.push({ opId, output: { value: this.kv.read(key) } });
      return true;
    }
    try {
      this.live.readIndex(opId);
      this.pendingReads.set(opId, { key, index: -1 });
      return true;
    } catch (e) {
      if (e instanceof RaftError) return false;
      throw e;
    }
  }

  forget(opId: number): void {
    this.pendingWrites.delete(opId);
    this.pendingReads.delete(opId);
  }

  /** Runs the Ready loop until the core has nothing more to hand out. Returns messages to send. */
  drive(): Message[] {
    const core = this.core;
    if (!core) return [];
    const out: Message[] = [];
    while (core.hasReady()) {
      const rd = core.ready();
      if (this.crashArmed) {
        // Power loss in the middle of persisting: writes issued, fsync never happened.
        this.crashArmed = false;
        this.persist(rd, false);
        this.crash(this.prng.int(this.log.unsyncedCount() + 1));
        return out;
      }
      this.persist(rd, true);
      out.push(...rd.messages);
      this.apply(rd);
      core.advance();
      this.serveReads();
      this.maybeCompact();
      this.invariants.checkCommit(core);
    }
    this.invariants.checkLeader(core);
    return out;
  }

  private persist(rd: Ready, sync: boolean): void {
    if (rd.snapshot) {
      this.snapshots.save(rd.snapshot);
      this.log.resetTo(rd.snapshot.meta.index);
    }
    if (rd.hardState) this.log.setHardState(rd.hardState);
    if (rd.entries.length > 0) {
      this.invariants.checkNewEntries(this.live, rd.entries);
      this.log.append(rd.entries);
    }
    if (sync && rd.mustSync && this.bug !== 'skip-fsync') this.log.sync();
  }

  private apply(rd: Ready): void {
    const snap = rd.snapshot;
    if (snap) {
      this.kv.restore(snap.data);
      this.invariants.resetApplied(this.id, snap.meta.index, snap.meta.term);
    }
    for (const e of rd.committedEntries) {
      this.invariants.checkApply(this.id, this.live.term, e);
      if (e.kind !== 'normal' || e.data.length === 0) continue;
      const cmd = decodeCommand(e.data);
      const output = this.kv.apply(cmd.input);
      this.onApply(cmd.opId, output);
      if (this.pendingWrites.delete(cmd.opId)) this.completions.push({ opId: cmd.opId, output });
    }
    for (const rs of rd.readStates) {
      const pending = this.pendingReads.get(rs.ctx);
      if (!pending) continue;
      if (rs.ok) pending.index = rs.index;
      else {
        this.pendingReads.delete(rs.ctx);
        this.failedReads.push(rs.ctx);
      }
    }
  }

  private serveReads(): void {
    const applied = this.live.appliedIndex;
    for (const [opId, r] of this.pendingReads) {
      if (r.index >= 0 && r.index <= applied) {
        this.pendingReads.delete(opId);
        this.completions.push({ opId, output: { value: this.kv.read(r.key) } });
      }
    }
  }

  private maybeCompact(): void {
    const core = this.live;
    const st = core.status();
    if (st.appliedIndex - st.firstIndex + 1 < this.compact_every_entries) return;
    const snap = core.compact(st.appliedIndex, this.kv.snapshot());
    this.snapshots.save(snap);
    this.log.compact(snap.meta.index);
  }
}
