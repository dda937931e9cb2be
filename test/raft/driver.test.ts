// The Raft driver (src/raft/driver) on its own, over in-memory parts: the order of its writes and
// sends, its disk-fault stall, its read rounds and its snapshots. The simulator's seeds run the
// same driver under every fault (test/sim); these pin the individual promises down.
import { describe, expect, it } from 'vitest';
import { DEFAULT_OPTIONS } from '../../src/raft/core/index.js';
import type { Entry, Message, NodeId, Snapshot } from '../../src/raft/core/index.js';
import { RaftDriver, type ApplyPiece } from '../../src/raft/driver/driver.js';
import type { CapturedState, ReadOutcome, StateMachine } from '../../src/raft/driver/interfaces.js';
import { MemoryLog, MemorySnapshotStore } from '../../src/raft/log/memory.js';
import type { SyncDone } from '../../src/raft/log/interfaces.js';
import { SimClock } from '../../src/sim/clock.js';

/** A log that writes into `journal` what the disk did, and can be told to refuse its fsync or hold it. */
class JournalLog extends MemoryLog {
  refuse: string | undefined;
  /** While set, an fsync is issued and finishes only at release(), as one on a thread pool does. */
  hold = false;
  private held: Array<() => void> = [];
  constructor(private readonly journal: string[]) {
    super();
  }
  override syncAsync(done: SyncDone): void {
    if (!this.hold) return super.syncAsync(done);
    this.journal.push('fsync issued');
    this.held.push(() => super.syncAsync(done));
  }
  /** Finishes the fsyncs held so far. */
  release(): void {
    const held = this.held;
    this.held = [];
    for (const finish of held) finish();
  }
  override sync(): void {
    if (this.refuse !== undefined) {
      const err = Object.assign(new Error('no space left on device'), { code: this.refuse });
      throw err;
    }
    this.journal.push('fsync');
    super.sync();
  }
}

/** A state machine that records the entries it applied and snapshots as their count. */
class ListMachine implements StateMachine {
  readonly data: string[] = [];
  /** How many entries each call of apply() brought. */
  readonly pieces: number[] = [];
  /** Entries brought again after they were applied. */
  again = 0;
  /** While set, apply() throws a disk error with this code, as LMDB on a full disk would. */
  refuse: string | undefined;
  private applied = 0;
  appliedIndex(): number {
    return this.applied;
  }
  apply(entries: readonly Entry[]): void {
    if (this.refuse !== undefined) throw Object.assign(new Error('no space left on device'), { code: this.refuse });
    this.pieces.push(entries.length);
    for (const e of entries) {
      if (e.index <= this.applied) {
        this.again++;
        continue;
      }
      this.applied = e.index;
      if (e.kind === 'normal' && e.data.length > 0) this.data.push(new TextDecoder().decode(e.data));
    }
  }
  restore(snapshot: Snapshot): void {
    this.applied = snapshot.meta.index;
  }
  capture(done: (state: CapturedState) => void): void {
    done({ applied: this.applied, data: new TextEncoder().encode(JSON.stringify(this.data)) });
  }
}

interface Member {
  readonly driver: RaftDriver;
  readonly log: JournalLog;
  readonly machine: ListMachine;
  readonly clock: SimClock;
  readonly journal: string[];
  readonly snapshots: MemorySnapshotStore;
}

/** Three drivers on one synchronous network: `settle()` delivers until nothing moves. */
class Trio {
  readonly members = new Map<NodeId, Member>();
  private wire: Message[] = [];
  halted: Error[] = [];
  /** Disk stalls reported, and resumptions, over all three. */
  stalls = 0;
  resumed = 0;
  /** Readies carried to the end (persisted, sent, applied or taken in, advanced), over all three. */
  readiesDone = 0;
  /** Each change of role a member reported, with how far its state machine and its core had got then. */
  readonly leadership: Array<{ id: NodeId; wasLeader: boolean; applied: number; handedOut: number }> = [];

  /** Each fsync a member said was out too long for heartbeats (DriverEvents.syncHung). */
  readonly hung: Array<{ id: NodeId; out_ms: number }> = [];

  constructor(snapshotGap = 1_000_000, applyPiece?: ApplyPiece, heartbeatsDuringSync_ms?: number) {
    for (const id of [1, 2, 3]) {
      const journal: string[] = [];
      const log = new JournalLog(journal);
      const machine = new ListMachine();
      const clock = new SimClock();
      const snapshots = new MemorySnapshotStore();
      const driver = new RaftDriver({
        raft: { ...DEFAULT_OPTIONS, id, random_int: () => 0, election_timeout_ticks: 10, heartbeat_interval_ticks: 2 },
        bootstrap: { voters: [1, 2, 3], learners: [] },
        log,
        snapshots,
        machine,
        transport: {
          send: (messages) => {
            for (const m of messages) journal.push(`send ${m.type}`);
            this.wire.push(...messages);
          },
        },
        scheduler: clock,
        events: {
          halted: (err) => this.halted.push(err),
          diskStalled: () => this.stalls++,
          diskResumed: () => this.resumed++,
          readyDone: () => this.readiesDone++,
          syncHung: (out_ms) => this.hung.push({ id, out_ms }),
          leadership: ({ wasLeader }) => this.leadership.push({ id, wasLeader, applied: machine.appliedIndex(), handedOut: driver.node.appliedIndex }),
        },
        snapshotGap: () => snapshotGap,
        ...(applyPiece === undefined ? {} : { applyPiece }),
        ...(heartbeatsDuringSync_ms === undefined ? {} : { heartbeatsDuringSync_ms }),
      });
      this.members.set(id, { driver, log, machine, clock, journal, snapshots });
    }
  }

  member(id: NodeId): Member {
    const m = this.members.get(id);
    if (m === undefined) throw new Error(`no member ${id}`);
    return m;
  }

  /** `drained`, when given, is told of each member after each of its turns. */
  settle(drained?: (m: Member) => void): void {
    for (let round = 0; round < 1_000; round++) {
      for (const m of this.members.values()) {
        m.driver.drain();
        drained?.(m);
      }
      if (this.wire.length === 0) return;
      const wire = this.wire;
      this.wire = [];
      for (const msg of wire) this.member(msg.to).driver.step(msg);
    }
    throw new Error('the trio did not settle');
  }

  elect(id: NodeId): Member {
    const m = this.member(id);
    m.driver.input(() => m.driver.node.campaign());
    this.settle();
    expect(m.driver.node.role).toBe('leader');
    return m;
  }

  /** Loses every message in flight. */
  dropWire(): void {
    this.wire = [];
  }

  /** Heartbeats carry the commit index to the followers. */
  heartbeat(leader: Member): void {
    for (let t = 0; t < 2; t++) leader.driver.tick();
    this.settle();
  }

  /** One tick of every member's core and clock, then delivery until nothing moves. */
  tickAll(): void {
    for (const m of this.members.values()) {
      m.driver.tick();
      m.clock.tick();
    }
    this.settle();
  }

  propose(leader: Member, text: string): void {
    leader.driver.input(() => leader.driver.node.propose(new TextEncoder().encode(text)));
  }
}

/**
 * Three drivers applying a piece of one entry a turn, whose leader has committed `texts` and
 * handed them all out, but still holds some of them in its backlog.
 */
function leaderWithBacklog(texts: readonly string[]): { trio: Trio; leader: Member } {
  const trio = new Trio(1_000_000, { maxEntries: 1, maxBacklog: 100 });
  const leader = trio.elect(1);
  trio.heartbeat(leader);
  for (const t of texts) trio.propose(leader, t);
  trio.settle();
  expect(leader.machine.appliedIndex()).toBeLessThan(leader.driver.node.appliedIndex);
  return { trio, leader };
}

describe('the Raft driver', () => {
  it('a candidate asks for votes only after its new term is durable', () => {
    const trio = new Trio();
    const one = trio.member(1);
    one.driver.input(() => one.driver.node.campaign());
    trio.settle();
    expect(one.driver.node.role).toBe('leader');
    // A pre-vote changes no term and needs no fsync; the vote request does.
    const firstVote = one.journal.indexOf('send Vote');
    expect(firstVote).toBeGreaterThan(0);
    expect(one.journal[firstVote - 1]).toBe('fsync');
  });

  it("a leader's appends leave before its own fsync (thesis §10.2.1), its answers wait for it", () => {
    const trio = new Trio();
    const leader = trio.elect(1);
    const follower = trio.member(2);
    leader.journal.length = 0;
    follower.journal.length = 0;
    trio.propose(leader, 'a');
    leader.driver.drain();
    expect(leader.journal).toEqual(['send App', 'send App', 'fsync']);
    trio.settle();
    // The follower acknowledges only what its own disk holds.
    expect(follower.journal.slice(0, 2)).toEqual(['fsync', 'send AppResp']);
    trio.heartbeat(leader);
    for (const m of trio.members.values()) expect(m.machine.data).toEqual(['a']);
  });

  it('while its fsync is out a leader takes input and acknowledges nothing new; the next Ready batches what came', () => {
    const trio = new Trio();
    const leader = trio.elect(1);
    trio.heartbeat(leader);
    leader.journal.length = 0;
    leader.log.hold = true;
    trio.propose(leader, 'a');
    leader.driver.drain();
    expect(leader.journal).toEqual(['send App', 'send App', 'fsync issued']);
    // Proposals, the followers' answers and ticks all reach the core while the fsync is out…
    trio.propose(leader, 'b');
    trio.propose(leader, 'c');
    trio.settle();
    leader.driver.tick();
    leader.driver.drain();
    expect(leader.driver.node.commitIndex).toBeGreaterThan(leader.driver.node.appliedIndex);
    // …but nothing more leaves it and nothing is applied until it is durable.
    expect(leader.journal).toEqual(['send App', 'send App', 'fsync issued']);
    expect(leader.machine.data).toEqual([]);
    leader.log.release();
    leader.driver.drain();
    // The held fsync finished; one Ready took both proposals that came meanwhile: one append per
    // follower, one fsync. Its committed entry, durable already, is applied while that fsync is out.
    expect(leader.journal.slice(3)).toEqual(['fsync', 'send App', 'send App', 'fsync issued']);
    expect(leader.machine.data).toEqual(['a']);
    leader.log.hold = false;
    leader.log.release();
    trio.settle();
    trio.heartbeat(leader);
    expect(trio.halted).toEqual([]);
    for (const m of trio.members.values()) expect(m.machine.data).toEqual(['a', 'b', 'c']);
  });

  it('while fsyncs are out, heartbeats go on and keep a healthy leader; one out too long silences its node', () => {
    // Fsyncs of 0.3-1 s under load deposed healthy leaders by check-quorum (issue #18).
    const trio = new Trio(1_000_000, undefined, 200);
    const leader = trio.elect(1);
    trio.heartbeat(leader);
    for (const m of trio.members.values()) m.log.hold = true;
    trio.propose(leader, 'a');
    trio.settle();
    const [, two, three] = [...trio.members.values()];
    for (const m of trio.members.values()) m.journal.length = 0;
    // Every disk holds its fsync for 15 ticks (150 ms), longer than the election timeout (10 ticks).
    for (let t = 0; t < 15; t++) trio.tickAll();
    expect(leader.driver.node.role).toBe('leader');
    expect(leader.driver.node.term).toBe(1);
    for (const m of [two!, three!]) {
      expect(m.driver.node.role).toBe('follower');
      expect(m.journal).toContain('send HeartbeatResp');
      // What needs the disk waits for it: no append is acknowledged.
      expect(m.journal).not.toContain('send AppResp');
    }
    expect(leader.journal.filter((j) => j === 'send Heartbeat').length).toBeGreaterThanOrEqual(14);
    expect(leader.journal).not.toContain('send App');
    expect(trio.hung).toEqual([]);
    // Past 200 ms the disks look hung: every node says so once and falls silent, and the leader
    // steps down by check-quorum, so that a replica with a working disk could take over.
    for (let t = 0; t < 10 && trio.hung.length < 3; t++) trio.tickAll();
    expect(trio.hung.map((h) => h.id).sort()).toEqual([1, 2, 3]);
    expect(trio.hung.every((h) => h.out_ms > 200)).toBe(true);
    for (const m of trio.members.values()) m.journal.length = 0;
    for (let t = 0; t < 15; t++) trio.tickAll();
    expect(trio.hung.length).toBe(3);
    for (const m of trio.members.values()) expect(m.journal).toEqual([]);
    expect(leader.driver.node.role).not.toBe('leader');
    for (const m of trio.members.values()) {
      m.log.hold = false;
      m.log.release();
    }
    trio.settle();
    for (let t = 0; t < 40 && ![...trio.members.values()].some((m) => m.driver.node.role === 'leader'); t++) trio.tickAll();
    const next = [...trio.members.values()].find((m) => m.driver.node.role === 'leader');
    expect(next).toBeDefined();
    trio.heartbeat(next!);
    expect(trio.halted).toEqual([]);
    for (const m of trio.members.values()) expect(m.machine.data).toEqual(['a']);
  });

  it('an answer to a heartbeat waits for the fsync when it would tell a term not yet durable', () => {
    const trio = new Trio();
    const one = trio.elect(1);
    trio.heartbeat(one);
    const two = trio.member(2);
    const three = trio.member(3);
    two.log.hold = true;
    // Leadership goes to replica 3 in term 2; replica 2 votes, and its new term waits for its held fsync.
    one.driver.input(() => one.driver.node.transferLeadership(3));
    trio.settle();
    expect(two.journal).toContain('fsync issued');
    expect(two.driver.node.term).toBe(2);
    expect(three.driver.node.role).toBe('leader');
    two.journal.length = 0;
    trio.heartbeat(three);
    expect(two.journal).not.toContain('send HeartbeatResp');
    two.log.hold = false;
    two.log.release();
    trio.settle();
    trio.heartbeat(three);
    expect(two.journal).toContain('send HeartbeatResp');
    expect(trio.halted).toEqual([]);
  });

  it('a disk that refuses a write stalls the node without applying, and it resumes when the disk does', () => {
    const trio = new Trio();
    const leader = trio.elect(1);
    leader.log.refuse = 'ENOSPC';
    trio.propose(leader, 'b');
    trio.settle();
    expect(leader.driver.diskFault?.fault).toMatch(/^ENOSPC/);
    expect(leader.machine.data).toEqual([]);
    // Input is dropped while stalled: like a paused process. Retries that fail renew the one stall.
    for (let t = 0; t < 300; t++) {
      leader.driver.tick();
      leader.clock.tick();
    }
    expect(leader.driver.diskFault).toBeDefined();
    expect([trio.stalls, trio.resumed]).toEqual([1, 0]);
    leader.log.refuse = undefined;
    for (let t = 0; t < 100 && leader.driver.diskFault !== undefined; t++) leader.clock.tick();
    expect(leader.driver.diskFault).toBeUndefined();
    expect(trio.resumed).toBe(1);
    trio.settle();
    trio.heartbeat(leader);
    expect(trio.halted).toEqual([]);
    for (const m of trio.members.values()) expect(m.machine.data).toEqual(['b']);
  });

  it('reads are answered once confirmed and applied, and fail when leadership is lost first', () => {
    const trio = new Trio();
    const leader = trio.elect(1);
    trio.propose(leader, 'c');
    const outcomes: ReadOutcome[] = [];
    leader.driver.read((o) => outcomes.push(o));
    leader.driver.read((o) => outcomes.push(o));
    trio.settle();
    expect(outcomes).toEqual([{ ok: true }, { ok: true }]);
    // A round still waiting for its confirmation fails when the leader hands over meanwhile.
    const lost: ReadOutcome[] = [];
    leader.driver.read((o) => lost.push(o));
    leader.driver.drain();
    trio.dropWire();
    leader.driver.input(() => leader.driver.node.transferLeadership(2));
    trio.settle();
    expect(trio.member(2).driver.node.role).toBe('leader');
    expect(lost).toEqual([{ ok: false }]);
  });

  it('with pieces, committed entries are applied a piece a turn, in order, and a read waits for them', () => {
    const trio = new Trio(1_000_000, { maxEntries: 1, maxBacklog: 100 });
    const leader = trio.elect(1);
    trio.heartbeat(leader);
    const texts = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
    for (const t of texts) trio.propose(leader, t);
    trio.settle();
    // Committed and handed out by the core, but still partly in the backlog.
    expect(leader.driver.node.appliedIndex).toBe(leader.driver.node.commitIndex);
    expect(leader.machine.appliedIndex()).toBeLessThan(leader.driver.node.commitIndex);
    const readAt = leader.driver.node.commitIndex;
    const answers: Array<{ outcome: ReadOutcome; applied: number }> = [];
    leader.driver.read((outcome) => answers.push({ outcome, applied: leader.machine.appliedIndex() }));
    for (let turn = 0; turn < 20 && leader.machine.data.length < texts.length; turn++) trio.settle();
    // The followers learn the last commit index from a heartbeat, then apply a piece a turn too.
    trio.heartbeat(leader);
    for (let turn = 0; turn < 20; turn++) trio.settle();
    expect(answers).toEqual([{ outcome: { ok: true }, applied: expect.any(Number) as number }]);
    expect(answers[0]!.applied).toBeGreaterThanOrEqual(readAt);
    for (const m of trio.members.values()) {
      expect(m.machine.data).toEqual(texts);
      expect(Math.max(...m.machine.pieces)).toBe(1);
      expect(m.machine.again).toBe(0);
    }
    expect(trio.halted).toEqual([]);
  });

  it("with pieces, the backlog stays within its bound: what a Ready brings past it is applied as it is carried", () => {
    const trio = new Trio(1_000_000, { maxEntries: 1, maxBacklog: 3 });
    const leader = trio.elect(1);
    trio.heartbeat(leader);
    const texts = Array.from({ length: 12 }, (_, i) => `e${i}`);
    for (const t of texts) trio.propose(leader, t);
    let longest = 0;
    const lag = (m: Member) => (longest = Math.max(longest, m.driver.node.appliedIndex - m.machine.appliedIndex()));
    trio.settle(lag);
    trio.heartbeat(leader);
    for (let turn = 0; turn < 20; turn++) trio.settle(lag);
    expect(longest).toBe(3);
    for (const m of trio.members.values()) {
      expect(m.machine.data).toEqual(texts);
      expect(Math.max(...m.machine.pieces)).toBeGreaterThan(1);
    }
  });

  it('with pieces, a disk that refuses a piece stalls the node; it resumes and applies every entry once, in order', () => {
    const trio = new Trio(1_000_000, { maxEntries: 1, maxBacklog: 100 });
    const leader = trio.elect(1);
    trio.heartbeat(leader);
    leader.machine.refuse = 'ENOSPC';
    for (const t of ['a', 'b', 'c']) trio.propose(leader, t);
    trio.settle();
    // The committed entries went to the backlog; the next turn applies a piece of it.
    leader.driver.drain();
    expect(leader.driver.diskFault?.fault).toMatch(/^ENOSPC/);
    for (let t = 0; t < 300; t++) {
      leader.driver.tick();
      leader.clock.tick();
    }
    expect([trio.stalls, trio.resumed]).toEqual([1, 0]);
    expect(leader.machine.data).toEqual([]);
    leader.machine.refuse = undefined;
    for (let t = 0; t < 100 && leader.driver.diskFault !== undefined; t++) leader.clock.tick();
    expect(trio.resumed).toBe(1);
    trio.heartbeat(leader);
    for (let turn = 0; turn < 10; turn++) trio.settle();
    expect(trio.halted).toEqual([]);
    for (const m of trio.members.values()) expect(m.machine.data).toEqual(['a', 'b', 'c']);
    expect(leader.machine.again).toBe(0);
  });

  it('with pieces, a leader that steps down has applied all it handed out before it says so', () => {
    const { trio, leader } = leaderWithBacklog(['a', 'b', 'c', 'd', 'e', 'f']);
    leader.driver.input(() => leader.driver.node.transferLeadership(2));
    trio.settle();
    expect(trio.member(2).driver.node.role).toBe('leader');
    // The replica fails its callers' waiting proposals when it stops leading: their entries,
    // committed and handed out, must have been applied (and answered) before.
    const steppedDown = trio.leadership.find((c) => c.id === 1 && c.wasLeader);
    expect(steppedDown).toBeDefined();
    expect(steppedDown!.applied).toBe(steppedDown!.handedOut);
    expect(trio.halted).toEqual([]);
  });

  it('with pieces, a piece refused while an fsync is out leaves the rest of that Ready to the retry', () => {
    const { trio, leader } = leaderWithBacklog(['a', 'b', 'c', 'd', 'e', 'f']);
    leader.log.hold = true;
    trio.propose(leader, 'g');
    leader.driver.drain();
    expect(leader.journal.at(-1)).toBe('fsync issued');
    trio.settle();
    leader.machine.refuse = 'EIO';
    leader.driver.drain();
    expect(leader.driver.diskFault?.fault).toMatch(/^EIO/);
    // The fsync finishes while the node is stalled: what waited for it leaves, the rest of the
    // Ready (taking in its committed entries, its advance) waits for the retry: a stalled node moves nothing.
    const readiesDone = trio.readiesDone;
    leader.log.hold = false;
    leader.log.release();
    expect(leader.driver.diskFault).toBeDefined();
    expect(trio.readiesDone).toBe(readiesDone);
    leader.machine.refuse = undefined;
    for (let t = 0; t < 100 && leader.driver.diskFault !== undefined; t++) leader.clock.tick();
    expect([trio.stalls, trio.resumed]).toEqual([1, 1]);
    // The appends of 'g' left before the fsync: delivered now, they commit it.
    trio.settle();
    trio.heartbeat(leader);
    for (let turn = 0; turn < 10; turn++) trio.settle();
    expect(trio.halted).toEqual([]);
    for (const m of trio.members.values()) expect(m.machine.data).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g']);
    expect(leader.machine.again).toBe(0);
  });

  it('takes a snapshot every `snapshotGap` applied entries and compacts the log behind it', async () => {
    const trio = new Trio(5);
    const leader = trio.elect(1);
    for (let i = 0; i < 12; i++) trio.propose(leader, `e${i}`);
    trio.settle();
    await leader.driver.snapshotSettled();
    expect(leader.driver.snapshotIndex).toBeGreaterThanOrEqual(5);
    expect(leader.snapshots.latest()?.meta.index).toBe(leader.driver.snapshotIndex);
    expect(leader.log.firstIndex()).toBe(leader.driver.snapshotIndex + 1);
  });

  it('carries a backlog over several turns when a turn budget is set, applying all of it in order', () => {
    // A clock on which each reading is 15 ms later: every Ready looks slow.
    let now = 0;
    const turns: Array<() => void> = [];
    const machine = new ListMachine();
    const driver = new RaftDriver({
      raft: { ...DEFAULT_OPTIONS, id: 1, random_int: () => 0, election_timeout_ticks: 10, heartbeat_interval_ticks: 2, max_apply_bytes: 1 },
      bootstrap: { voters: [1], learners: [] },
      log: new MemoryLog(),
      snapshots: new MemorySnapshotStore(),
      machine,
      transport: { send: () => undefined },
      scheduler: { soon: (run) => turns.push(run), after: () => () => undefined, now_ms: () => (now += 15) },
      events: { halted: (err) => { throw err; } },
      snapshotGap: () => 1_000_000,
      turnBudget_ms: 20,
    });
    driver.input(() => driver.node.campaign());
    const runTurns = () => {
      let count = 0;
      while (turns.length > 0) {
        turns.shift()!();
        count++;
      }
      return count;
    };
    runTurns();
    expect(driver.node.role).toBe('leader');
    for (let i = 0; i < 10; i++) driver.input(() => driver.node.propose(new TextEncoder().encode(`e${i}`)));
    // One committed entry per Ready (max_apply_bytes: 1), at most two Readies per turn of 20 ms.
    expect(runTurns()).toBeGreaterThanOrEqual(5);
    expect(machine.data).toEqual(Array.from({ length: 10 }, (_, i) => `e${i}`));
  });
});
