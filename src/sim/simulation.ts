// One deterministic run of a whole cluster from a seed: virtual time, faulty network, crashing
// disks, KV clients, and a safety check after every step.
import type { Message, NodeId, RaftOptions } from '../raft/core/index.js';
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
  const prng = new Prng(seed);
  const nodeCount = prng.chance(0.5) ? 3 : 5;
  const ids: NodeId[] = [];
  for (let i = 1; i <= nodeCount; i++) ids.push(i);
  const options: Partial<RaftOptions> = {
    election_timeout_ticks: 10,
    heartbeat_interval_ticks: 2,
    max_entries_per_msg: 1 + prng.int(8),
    max_inflight_msgs: 1 + prng.int(8),
    pre_vote: prng.chance(0.8),
    check_quorum: prng.chance(0.8),
  };
  const compact_every_entries = 5 + prng.int(40);
  const invariants = new Invariants();
  const network = new SimNetwork(prng.fork(), {
    drop_probability: config.faults ? prng.int(10) / 100 : 0,
    duplicate_probability: config.faults ? prng.int(5) / 100 : 0,
    delay_probability: config.faults ? prng.int(20) / 100 : 0,
    max_in_flight: 2000,
  });
  const bootstrap = { voters: ids, learners: [] as NodeId[] };
  const nodes = new Map<NodeId, SimNode>();
  for (const id of ids) {
    nodes.set(id, new SimNode(id, bootstrap, prng.fork(), invariants, options, compact_every_entries, config.inject_bug));
  }
  /** opId → when and with what result a replica first applied it. */
  const firstApplied = new Map<number, { at: number; output: KvOutput }>();
  for (const n of nodes.values()) {
    n.onApply = (opId, output) => {
      if (!firstApplied.has(opId)) firstApplied.set(opId, { at: ++clock, output });
    };
  }
  /** Writes whose client gave up; resolved against firstApplied when the run ends. */
  const timedOut: ClientOp[] = [];
  const trace: string[] = [];
  const note = (s: string): void => {
    if (keepTrace) trace.push(`[${step}] ${s}`);
  };

  let clock = 0; // history timestamps: strictly increasing
  let tick = 0;
  let step = 0;
  let nextOpId = 1;
  const history: KvOperation[] = [];
  const inFlight = new Map<number, ClientOp>();
  const busy = new Set<number>();
  const counters: Record<string, number> = {};
  const count = (what: string): void => {
    counters[what] = (counters[what] ?? 0) + 1;
  };
  let completedWrites = 0;
  let completedReads = 0;

  const send = (msgs: Message[]): void => {
    // Every message goes through the wire codec, as it would over TCP.
    network.send(msgs.map((m) => decodeMessage(encodeMessage(m))));
  };
  const driveAll = (): void => {
    for (const n of nodes.values()) {
      if (!n.up) continue;
      send(n.drive());
      collect(n);
    }
  };
  const collect = (n: SimNode): void => {
    for (const c of n.completions) {
      const op = inFlight.get(c.opId);
      if (!op) continue;
      inFlight.delete(c.opId);
      busy.delete(op.client);
      history.push({ client: op.client, input: op.input, output: c.output, call: op.call, ret: ++clock });
      if (op.input.kind === 'get') completedReads++;
      else completedWrites++;
    }
    n.completions = [];
    for (const opId of n.failedReads) {
      const op = inFlight.get(opId);
      if (!op) continue;
      inFlight.delete(opId);
      busy.delete(op.client);
    }
    n.failedReads = [];
  };
  const leaderGuess = (): SimNode => {
    const up = [...nodes.values()].filter((n) => n.up);
    const leaders = up.filter((n) => n.core!.role === 'leader');
    if (leaders.length > 0 && prng.chance(0.9)) return prng.pick(leaders);
    return prng.pick(up.length > 0 ? up : [...nodes.values()]);
  };
  const issue = (client: number): void => {
    const node = leaderGuess();
    if (!node.up) return;
    const key = `k${prng.int(config.keys)}`;
    const opId = nextOpId++;
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
    const call = ++clock;
    const accepted = input.kind === 'get' ? node.read(opId, key) : node.proposeWrite(opId, encodeCommand({ opId, input }));
    if (!accepted) return; // refused up front: definitely not applied, not part of the history
    inFlight.set(opId, { client, opId, input, call, node: node.id, deadline_tick: tick + config.op_timeout_ticks });
    busy.add(client);
  };
  const expire = (): void => {
    for (const [opId, op] of inFlight) {
      if (op.deadline_tick > tick) continue;
      count('op-timeout');
      inFlight.delete(opId);
      busy.delete(op.client);
      nodes.get(op.node)!.forget(opId);
      // A read that timed out tells nothing; a write that timed out may still take effect.
      if (op.input.kind !== 'get') timedOut.push(op);
    }
  };
  const fault = (): void => {
    const r = prng.int(100);
    const all = [...nodes.values()];
    if (r < 20) {
      const victim = prng.pick(all.filter((n) => n.up).concat(all.slice(0, 1)));
      if (!victim.up) return;
      for (const op of inFlight.values()) if (op.node === victim.id) nodes.get(op.node)!.forget(op.opId);
      const survive = prng.int(victim.log.unsyncedCount() + 1);
      note(`crash ${victim.id} keeping ${survive}/${victim.log.unsyncedCount()} unsynced writes`);
      victim.crash(survive);
      count('crash');
    } else if (r < 28) {
      const victim = prng.pick(all);
      if (!victim.up) return;
      for (const op of inFlight.values()) if (op.node === victim.id) nodes.get(op.node)!.forget(op.opId);
      note(`crash ${victim.id} during its next persist`);
      victim.crashArmed = true;
      count('crash-mid-persist');
    } else if (r < 45) {
      const down = all.filter((n) => !n.up);
      if (down.length === 0) return;
      const n = prng.pick(down);
      note(`restart ${n.id}`);
      n.start();
      count('restart');
    } else if (r < 60) {
      const shuffled = ids.slice().sort(() => prng.int(3) - 1);
      const cut = 1 + prng.int(ids.length - 1);
      note(`partition ${shuffled.slice(0, cut).join(',')} | ${shuffled.slice(cut).join(',')}`);
      network.partition(shuffled.slice(0, cut), shuffled.slice(cut));
    } else if (r < 70) {
      const from = prng.pick(ids);
      const to = prng.pick(ids.filter((i) => i !== from));
      note(`one-way block ${from}>${to}`);
      network.blockOneWay(from, to);
    } else if (r < 90) {
      note('heal');
      network.heal();
    } else if (r < 95) {
      transferOrReconfigure();
    } else {
      reconfigure();
    }
  };
  const transferOrReconfigure = (): void => {
    const leader = [...nodes.values()].find((n) => n.up && n.core!.role === 'leader');
    if (!leader) return;
    const voters = leader.core!.membership.voters.filter((v) => v !== leader.id);
    if (voters.length === 0) return;
    const to = prng.pick(voters);
    try {
      leader.core!.transferLeadership(to);
      note(`transfer ${leader.id} -> ${to}`);
      count('transfer');
    } catch (e) {
      if (!(e instanceof RaftError)) throw e;
    }
  };
  const reconfigure = (): void => {
    const leader = [...nodes.values()].find((n) => n.up && n.core!.role === 'leader');
    if (!leader) return;
    const m = leader.core!.membership;
    const members = new Set([...m.voters, ...m.learners]);
    const outside = ids.filter((i) => !members.has(i));
    let cc: { type: 'addLearner' | 'promote' | 'remove'; node: NodeId };
    if (m.learners.length > 0) cc = { type: 'promote', node: prng.pick(m.learners) };
    else if (outside.length > 0) cc = { type: 'addLearner', node: prng.pick(outside) };
    else if (m.voters.length > 3) cc = { type: 'remove', node: prng.pick(m.voters) };
    else return;
    try {
      leader.core!.proposeConfChange(cc);
      note(`conf ${cc.type} ${cc.node} via ${leader.id}`);
      count(`conf-${cc.type}`);
    } catch (e) {
      if (!(e instanceof RaftError)) throw e;
    }
  };

  let violation: string | undefined;
  try {
    for (step = 0; step < config.steps; step++) {
      // Mostly deliver (so the network drains faster than heartbeats fill it), sometimes let
      // time pass, issue client operations or inject a fault.
      const r = prng.int(1000);
      if (r < 880 && network.size() > 0) {
        const m = network.next();
        if (m) {
          const target = nodes.get(m.to);
          if (m.type === 'Snap' || m.type === 'TimeoutNow' || m.type === 'PreVote' || m.type === 'Vote') count(m.type);
          if (m.type === 'AppResp' && m.reject) count('AppReject');
          if (target?.up) {
            try {
              target.core!.step(m);
            } catch (e) {
              if (!(e instanceof RaftError && e.code === 'OutboxFull')) throw e;
            }
          }
        }
      } else if (r < 940) {
        tick++;
        for (const n of nodes.values()) if (n.up) n.core!.tick();
        expire();
      } else if (r < 995) {
        for (let c = 0; c < config.clients; c++) if (!busy.has(c) && prng.chance(0.5)) issue(c);
      } else if (config.faults) {
        fault();
      }
      driveAll();
    }
    for (const op of inFlight.values()) if (op.input.kind !== 'get') timedOut.push(op);
    inFlight.clear();
    // The client never learnt the outcome of these writes, but the simulator sees every replica:
    // a write some replica applied took effect by then, with the result that replica computed
    // (as if its answer had reached the client); a write no replica applied cannot have
    // influenced any observation. Resolving them keeps the search small; the checker's own
    // tests cover genuinely unknown outcomes.
    for (const op of timedOut) {
      const applied = firstApplied.get(op.opId);
      if (applied) history.push({ client: op.client, input: op.input, output: applied.output, call: op.call, ret: applied.at });
      else count('write-never-applied');
    }
    const lin = checkKvHistory(history);
    if (!lin.ok) throw new SimViolation(`history not linearizable for key ${lin.badKey ?? '?'} (${history.length} ops)`);
  } catch (e) {
    if (e instanceof Error) violation = `${e.name}: ${e.message}`;
    else throw e;
  }
  counters['msg-dropped'] = network.dropped;
  counters['msg-delayed'] = network.delayed;
  counters['msg-delivered'] = network.delivered;
  counters['msg-duplicated'] = network.duplicated;
  return {
    seed,
    steps: step,
    nodes: nodeCount,
    operations: history.length,
    completedWrites,
    completedReads,
    appliedEntries: invariants.appliedCount(),
    violation,
    trace,
    counters,
    history: keepTrace ? history : [],
  };
}
