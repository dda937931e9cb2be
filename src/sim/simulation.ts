// One deterministic run of a whole cluster from a seed: virtual time, faulty network, crashing
// disks, KV clients, and a safety check after every step.
import type { ConfChange, Message, NodeId, RaftOptions } from '../raft/core/index.js';
import { RaftError } from '../raft/core/index.js';
import { decodeMessage, encodeMessage } from '../raft/codec.js';
import { checkKvHistory } from '../lincheck/checker.js';
import type { KvInput, KvOperation, KvOutput } from '../lincheck/history.js';
import { Prng } from '../util/random.js';
import { SimNetwork } from './network.js';
import { SimNode } from './node.js';
import type { InjectedBug } from './node.js';
import { Invariants, SimViolation } from './invariants.js';
import { encodeCommand } from './kv.js';
import { defined } from '../util/assert.js';

export interface SimConfig {
  readonly steps: number;
  readonly faults: boolean;
  readonly clients: number;
  readonly keys: number;
  /** Give up on a client operation after this many ticks (its outcome becomes unknown). */
  readonly op_timeout_ticks: number;
  /** A deliberate driver bug (tests of the checks themselves); 'none' normally. */
  readonly inject_bug: InjectedBug;
}

export const DEFAULT_SIM_CONFIG: SimConfig = { steps: 3000, faults: true, clients: 3, keys: 3, op_timeout_ticks: 40, inject_bug: 'none' };

export interface SimResult {
  readonly seed: number;
  readonly steps: number;
  readonly nodes: number;
  readonly operations: number;
  readonly completedWrites: number;
  readonly completedReads: number;
  readonly appliedEntries: number;
  readonly violation: string | undefined;
  readonly trace: string[];
  /** How often the run exercised each mechanism, to show the faults actually bite. */
  readonly counters: Record<string, number>;
  /** The client history (only when tracing). */
  readonly history: readonly KvOperation[];
}

interface ClientOp {
  readonly client: number;
  readonly opId: number;
  readonly input: KvInput;
  readonly call: number;
  readonly node: NodeId;
  readonly deadline_tick: number;
}

/** The one command that replays a seed exactly, including every non-default setting. */
export function replayCommand(seed: number, config: SimConfig = DEFAULT_SIM_CONFIG): string {
  let cmd = `npm run sim -- --seed ${seed}`;
  if (config.steps !== DEFAULT_SIM_CONFIG.steps) cmd += ` --steps ${config.steps}`;
  if (!config.faults) cmd += ' --no-faults';
  if (config.inject_bug !== 'none') cmd += ` --bug ${config.inject_bug}`;
  return cmd;
}

export function runSimulation(seed: number, config: SimConfig = DEFAULT_SIM_CONFIG, keepTrace = false): SimResult {
  return new Simulation(seed, config, keepTrace).run();
}

/** The state of one run; each method is one kind of step. The PRNG is drawn in a fixed order, so a seed replays. */
class Simulation {
  private readonly prng: Prng;
  private readonly ids: NodeId[] = [];
  private readonly invariants = new Invariants();
  private readonly network: SimNetwork;
  private readonly nodes = new Map<NodeId, SimNode>();
  /** opId → when and with what result a replica first applied it. */
  private readonly firstApplied = new Map<number, { at: number; output: KvOutput }>();
  /** Writes whose client gave up; resolved against firstApplied when the run ends. */
  private readonly timedOut: ClientOp[] = [];
  private readonly trace: string[] = [];
  private readonly history: KvOperation[] = [];
  private readonly inFlight = new Map<number, ClientOp>();
  /** The last membership change proposed, and nodes removed so far (for the counters of issue #16's cases). */
  private pendingChange: { leader: NodeId; index: number } | undefined;
  private readonly removed = new Set<NodeId>();
  /**
   * A learner this run added and wants promoted: tried after every step until the leader takes
   * it, as a replica's membership code promotes a learner once it has caught up. A
   * reconfiguration comes only a couple of times a run, and under the clients' writes a learner
   * has rarely caught up with the commit index right then.
   */
  private promoteWanted: NodeId | undefined;
  private readonly busy = new Set<number>();
  private readonly counters: Record<string, number> = {};
  private clock = 0; // history timestamps: strictly increasing
  private tick = 0;
  private step = 0;
  private nextOpId = 1;
  private completedWrites = 0;
  private completedReads = 0;

  constructor(
    private readonly seed: number,
    private readonly config: SimConfig,
    private readonly keepTrace: boolean,
  ) {
    const prng = (this.prng = new Prng(seed));
    const nodeCount = prng.chance(0.5) ? 3 : 5;
    for (let i = 1; i <= nodeCount; i++) this.ids.push(i);
    const options: Partial<RaftOptions> = {
      election_timeout_ticks: 10,
      heartbeat_interval_ticks: 2,
      max_entries_per_msg: 1 + prng.int(8),
      max_inflight_msgs: 1 + prng.int(8),
      pre_vote: prng.chance(0.8),
      check_quorum: prng.chance(0.8),
    };
    const compact_every_entries = 5 + prng.int(40);
    this.network = new SimNetwork(prng.fork(), {
      drop_probability: config.faults ? prng.int(10) / 100 : 0,
      duplicate_probability: config.faults ? prng.int(5) / 100 : 0,
      delay_probability: config.faults ? prng.int(20) / 100 : 0,
      max_in_flight: 2000,
    });
    const bootstrap = { voters: this.ids, learners: [] as NodeId[] };
    for (const id of this.ids) {
      const node = new SimNode(id, bootstrap, prng.fork(), this.invariants, options, compact_every_entries, config.inject_bug);
      node.log.slowSyncs = config.faults;
      this.nodes.set(id, node);
    }
    for (const n of this.nodes.values()) {
      n.onApply = (opId, output) => {
        if (!this.firstApplied.has(opId)) this.firstApplied.set(opId, { at: ++this.clock, output });
      };
    }
  }

  run(): SimResult {
    let violation: string | undefined;
    try {
      for (this.step = 0; this.step < this.config.steps; this.step++) this.oneStep();
      this.finishHistory();
      const lin = checkKvHistory(this.history);
      if (!lin.ok) throw new SimViolation(`history not linearizable for key ${lin.badKey ?? '?'} (${this.history.length} ops)`);
    } catch (e) {
      if (e instanceof Error) violation = `${e.name}: ${e.message}`;
      else throw e;
    }
    const { network } = this;
    this.counters['msg-dropped'] = network.dropped;
    this.counters['msg-delayed'] = network.delayed;
    this.counters['msg-delivered'] = network.delivered;
    this.counters['msg-duplicated'] = network.duplicated;
    for (const n of this.nodes.values()) {
      this.counters['disk-stall'] = (this.counters['disk-stall'] ?? 0) + n.diskStalls;
      this.counters['disk-resume'] = (this.counters['disk-resume'] ?? 0) + n.diskResumes;
      this.counters['snapshot-taken'] = (this.counters['snapshot-taken'] ?? 0) + n.snapshotsTaken;
      this.counters['capture-deferred'] = (this.counters['capture-deferred'] ?? 0) + n.capturesDeferred;
      this.counters['sync-deferred'] = (this.counters['sync-deferred'] ?? 0) + n.log.syncsDeferred;
      this.counters['apply-mid-sync'] = (this.counters['apply-mid-sync'] ?? 0) + n.appliesWhileSyncing;
      this.counters['apply-behind-log'] = (this.counters['apply-behind-log'] ?? 0) + n.appliesBehindLog;
      this.counters['sync-slow'] = (this.counters['sync-slow'] ?? 0) + n.log.syncsSlow;
      this.counters['heartbeat-mid-sync'] = (this.counters['heartbeat-mid-sync'] ?? 0) + n.heartbeatsMidSync;
    }
    return {
      seed: this.seed,
      steps: this.step,
      nodes: this.ids.length,
      operations: this.history.length,
      completedWrites: this.completedWrites,
      completedReads: this.completedReads,
      appliedEntries: this.invariants.appliedCount(),
      violation,
      trace: this.trace,
      counters: this.counters,
      history: this.keepTrace ? this.history : [],
    };
  }

  /** Mostly deliver (so the network drains faster than heartbeats fill it), sometimes let time pass, issue client operations or inject a fault. */
  private oneStep(): void {
    const r = this.prng.int(1000);
    if (r < 880 && this.network.size() > 0) {
      this.deliverOne();
    } else if (r < 940) {
      this.tick++;
      for (const n of this.nodes.values()) if (n.up) n.tick();
      this.expire();
    } else if (r < 995) {
      for (let c = 0; c < this.config.clients; c++) if (!this.busy.has(c) && this.prng.chance(0.5)) this.issue(c);
    } else if (this.config.faults) {
      this.fault();
    }
    this.driveAll();
    if (this.promoteWanted !== undefined) this.promoteLearner(this.promoteWanted);
  }

  private deliverOne(): void {
    const m = this.network.next();
    if (!m) return;
    const target = this.nodes.get(m.to);
    if (m.type === 'Snap' || m.type === 'TimeoutNow' || m.type === 'PreVote' || m.type === 'Vote') this.count(m.type);
    if (m.type === 'AppResp' && m.reject) this.count('AppReject');
    if (!target?.up) return;
    if (target.log.syncsOutstanding > 0) this.count('msg-mid-sync');
    target.step(m);
  }

  /**
   * The client never learnt the outcome of the writes still open or timed out, but the simulator
   * sees every replica: a write some replica applied took effect by then, with the result that
   * replica computed (as if its answer had reached the client); a write no replica applied
   * cannot have influenced any observation. Resolving them keeps the search small; the
   * checker's own tests cover genuinely unknown outcomes.
   */
  private finishHistory(): void {
    for (const op of this.inFlight.values()) if (op.input.kind !== 'get') this.timedOut.push(op);
    this.inFlight.clear();
    for (const op of this.timedOut) {
      const applied = this.firstApplied.get(op.opId);
      if (applied) this.history.push({ client: op.client, input: op.input, output: applied.output, call: op.call, ret: applied.at });
      else this.count('write-never-applied');
    }
  }

  private note(s: string): void {
    if (this.keepTrace) this.trace.push(`[${this.step}] ${s}`);
  }

  private count(what: string): void {
    this.counters[what] = (this.counters[what] ?? 0) + 1;
  }

  private send(msgs: Message[]): void {
    // Every message goes through the wire codec, as it would over TCP.
    this.network.send(msgs.map((m) => decodeMessage(encodeMessage(m))));
  }

  private driveAll(): void {
    for (const n of this.nodes.values()) {
      // Also a node that just went down: what it sent before it lost power is on the wire.
      this.send(n.drive());
      if (n.up) this.collect(n);
    }
  }

  private collect(n: SimNode): void {
    for (const c of n.completions) {
      const op = this.inFlight.get(c.opId);
      if (!op) continue;
      this.inFlight.delete(c.opId);
      this.busy.delete(op.client);
      this.history.push({ client: op.client, input: op.input, output: c.output, call: op.call, ret: ++this.clock });
      if (op.input.kind === 'get') this.completedReads++;
      else this.completedWrites++;
    }
    n.completions = [];
    for (const opId of n.failedReads) {
      const op = this.inFlight.get(opId);
      if (!op) continue;
      this.inFlight.delete(opId);
      this.busy.delete(op.client);
    }
    n.failedReads = [];
  }

  private leaderGuess(): SimNode {
    const up = [...this.nodes.values()].filter((n) => n.up);
    const leaders = up.filter((n) => n.live.role === 'leader');
    if (leaders.length > 0 && this.prng.chance(0.9)) return this.prng.pick(leaders);
    return this.prng.pick(up.length > 0 ? up : [...this.nodes.values()]);
  }

  private issue(client: number): void {
    const { prng } = this;
    const node = this.leaderGuess();
    if (!node.up) return;
    const key = `k${prng.int(this.config.keys)}`;
    const opId = this.nextOpId++;
    const value = `v${opId}`;
    const r = prng.int(10);
    const input: KvInput =
      r < 4
        ? { kind: 'get', key }
        : r < 7
          ? { kind: 'put', key, value }
          : r < 8
            ? { kind: 'delete', key }
            : { kind: 'createIfAbsent', key, value };
    const call = ++this.clock;
    const accepted = input.kind === 'get' ? node.read(opId, key) : node.proposeWrite(opId, encodeCommand({ opId, input }));
    if (!accepted) return; // refused up front: definitely not applied, not part of the history
    this.inFlight.set(opId, { client, opId, input, call, node: node.id, deadline_tick: this.tick + this.config.op_timeout_ticks });
    this.busy.add(client);
  }

  private expire(): void {
    for (const [opId, op] of this.inFlight) {
      if (op.deadline_tick > this.tick) continue;
      this.count('op-timeout');
      this.inFlight.delete(opId);
      this.busy.delete(op.client);
      defined(this.nodes.get(op.node), 'the node of an operation in flight').forget(opId);
      // A read that timed out tells nothing; a write that timed out may still take effect.
      if (op.input.kind !== 'get') this.timedOut.push(op);
    }
  }

  private fault(): void {
    const r = this.prng.int(100);
    if (r < 20) this.crashNow();
    else if (r < 28) this.crashDuringPersist();
    else if (r < 45) this.restartOne();
    else if (r < 60) this.partitionNetwork();
    else if (r < 70) this.blockOneWay();
    else if (r < 84) this.heal();
    else if (r < 90) this.fillDisk();
    else if (r < 95) this.transferLeadership();
    else this.reconfigure();
  }

  /** The network heals and full disks get space again. */
  private heal(): void {
    this.note('heal');
    this.network.heal();
    for (const n of this.nodes.values()) n.log.full = false;
  }

  /** A node's disk fills up: its driver stalls on the refused write and retries until a heal. */
  private fillDisk(): void {
    const victim = this.prng.pick([...this.nodes.values()]);
    if (!victim.up || victim.log.full) return;
    this.note(`disk of ${victim.id} full`);
    victim.log.full = true;
    this.count('disk-full');
  }

  private forgetOpsOn(victim: SimNode): void {
    for (const op of this.inFlight.values()) if (op.node === victim.id) defined(this.nodes.get(op.node), 'the node of an operation in flight').forget(op.opId);
  }

  private crashNow(): void {
    const all = [...this.nodes.values()];
    const victim = this.prng.pick(all.filter((n) => n.up).concat(all.slice(0, 1)));
    if (!victim.up) return;
    this.forgetOpsOn(victim);
    const survive = this.prng.int(victim.log.unsyncedCount() + 1);
    this.note(`crash ${victim.id} keeping ${survive}/${victim.log.unsyncedCount()} unsynced writes`);
    const change = this.pendingChange;
    if (change?.leader === victim.id && victim.live.commitIndex < change.index) this.count('crash-mid-change');
    if (victim.log.syncsOutstanding > 0) this.count('crash-mid-sync');
    victim.crash(survive);
    this.count('crash');
  }

  private crashDuringPersist(): void {
    const victim = this.prng.pick([...this.nodes.values()]);
    if (!victim.up) return;
    this.forgetOpsOn(victim);
    this.note(`crash ${victim.id} during its next fsync`);
    victim.armCrashDuringPersist();
    this.count('crash-mid-persist');
  }

  private restartOne(): void {
    const down = [...this.nodes.values()].filter((n) => !n.up);
    if (down.length === 0) return;
    const n = this.prng.pick(down);
    this.note(`restart ${n.id}`);
    n.start();
    this.count('restart');
    if (this.removed.has(n.id)) this.count('removed-node-back');
  }

  private partitionNetwork(): void {
    const shuffled = this.ids.slice().sort(() => this.prng.int(3) - 1);
    const cut = 1 + this.prng.int(this.ids.length - 1);
    this.note(`partition ${shuffled.slice(0, cut).join(',')} | ${shuffled.slice(cut).join(',')}`);
    this.network.partition(shuffled.slice(0, cut), shuffled.slice(cut));
  }

  private blockOneWay(): void {
    const from = this.prng.pick(this.ids);
    const to = this.prng.pick(this.ids.filter((i) => i !== from));
    this.note(`one-way block ${from}>${to}`);
    this.network.blockOneWay(from, to);
  }

  private currentLeader(): SimNode | undefined {
    return [...this.nodes.values()].find((n) => n.up && n.live.role === 'leader');
  }

  private transferLeadership(): void {
    const leader = this.currentLeader();
    if (!leader) return;
    const voters = leader.live.membership.voters.filter((v) => v !== leader.id);
    if (voters.length === 0) return;
    const to = this.prng.pick(voters);
    try {
      leader.live.transferLeadership(to);
      this.note(`transfer ${leader.id} -> ${to}`);
      this.count('transfer');
    } catch (e) {
      if (!(e instanceof RaftError)) throw e;
    }
  }

  private reconfigure(): void {
    const leader = this.currentLeader();
    if (!leader) return;
    const m = leader.live.membership;
    const members = new Set([...m.voters, ...m.learners]);
    const outside = this.ids.filter((i) => !members.has(i));
    let cc: { type: 'addLearner' | 'promote' | 'remove'; node: NodeId };
    if (m.learners.length > 0) cc = { type: 'promote', node: this.prng.pick(m.learners) };
    else if (outside.length > 0) cc = { type: 'addLearner', node: this.prng.pick(outside) };
    else if (m.voters.length > 3) cc = { type: 'remove', node: this.prng.pick(m.voters) };
    else return;
    this.propose(leader, cc);
  }

  /** Promotes `learner` once a leader holds it as a caught-up learner; stops trying once it votes. */
  private promoteLearner(learner: NodeId): void {
    const leader = this.currentLeader();
    if (!leader) return;
    const { voters, learners } = leader.live.membership;
    if (voters.includes(learner)) this.promoteWanted = undefined;
    else if (learners.includes(learner) && this.propose(leader, { type: 'promote', node: learner })) this.promoteWanted = undefined;
  }

  /** Proposes a membership change through `leader`; returns whether it took it. */
  private propose(leader: SimNode, cc: ConfChange): boolean {
    try {
      const index = leader.live.proposeConfChange(cc);
      this.note(`conf ${cc.type} ${cc.node} via ${leader.id}`);
      this.count(`conf-${cc.type}`);
      if (cc.type === 'addLearner') this.promoteWanted = cc.node;
      // The cases issue #16 names, counted so a test can see they happen: a change while the
      // network is split, a leader that dies before its change commits, a removed node back.
      if (this.network.describePartitions() !== '') this.count('conf-during-partition');
      this.pendingChange = { leader: leader.id, index };
      if (cc.type === 'remove') this.removed.add(cc.node);
      return true;
    } catch (e) {
      if (!(e instanceof RaftError)) throw e;
      return false;
    }
  }
}
