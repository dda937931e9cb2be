import { Prng } from '../sim/prng.js';
import type { ChaosCluster } from './cluster.js';
import type { LinkState } from './proxy.js';
import { replicasOf } from '../replica/topology.js';

/**
 * The fault schedule, drawn from the seed before the run starts (same seed → same schedule), and
 * its injection. Targets such as "the leader of partition 1" are named in the schedule and
 * resolved when the fault fires, since who leads depends on the run.
 */
export const FAULT_KINDS = [
  'kill-leader',
  'kill-follower',
  'kill-all',
  'pause',
  'partition-symmetric',
  'partition-oneway',
  'partition-bridge',
  'lose-unsynced',
  'portal-kill',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export function parseFaults(list: string | undefined): FaultKind[] {
  if (list === undefined || list === '' || list === 'all') return [...FAULT_KINDS];
  const kinds = list.split(',').map((w) => w.trim()).filter((w) => w !== '');
  for (const k of kinds) if (!(FAULT_KINDS as readonly string[]).includes(k)) throw new Error(`unknown fault "${k}" (known: ${FAULT_KINDS.join(', ')}, or all)`);
  return kinds as FaultKind[];
}

export interface PlannedFault {
  readonly seq: number;
  readonly kind: FaultKind;
  /** When to inject, from the start of the workload. */
  readonly at_ms: number;
  /** How long it lasts before it is healed. */
  readonly hold_ms: number;
  readonly partition: number;
  /** Which replica of the partition (index into its replicas) when the kind does not pick one itself. */
  readonly pick: number;
  /** Partitions: cut links drop or stall traffic. */
  readonly link: Exclude<LinkState, 'pass'>;
}

export interface ScheduleOptions {
  readonly seed: number;
  readonly duration_ms: number;
  readonly kinds: readonly FaultKind[];
  readonly partitions: number;
  readonly replicasPerPartition: number;
  readonly portals: number;
  /** Quiet time at the start (the workload warms up) and at the end (before the final heal). */
  readonly quiet_ms?: number;
}

export function planSchedule(options: ScheduleOptions): PlannedFault[] {
  const rng = new Prng(options.seed);
  const quiet = options.quiet_ms ?? 2_000;
  const faults: PlannedFault[] = [];
  if (options.kinds.length === 0) return faults;
  // Every kind once in a shuffled order first, so a short run still covers all of them; then random.
  const order = [...options.kinds];
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  let at = quiet;
  for (let seq = 0; ; seq++) {
    const kind = seq < order.length ? order[seq]! : rng.pick(options.kinds);
    const hold_ms = 800 + rng.int(1_700);
    if (at + hold_ms > options.duration_ms - quiet) break;
    faults.push({
      seq,
      kind,
      at_ms: at,
      hold_ms,
      partition: rng.int(options.partitions),
      pick: rng.int(kind === 'portal-kill' ? options.portals : options.replicasPerPartition),
      link: rng.chance(0.5) ? 'drop' : 'stall',
    });
    // Time for the system to recover between faults, so each one meets a working cluster.
    at += hold_ms + 700 + rng.int(1_000);
  }
  return faults;
}

export interface InjectedFault {
  readonly seq: number;
  readonly kind: FaultKind;
  readonly start_ms: number;
  end_ms: number;
  readonly description: string;
  readonly targets: readonly string[];
}

/** Applies one planned fault now; returns what it did and how to heal it. */
export async function inject(cluster: ChaosCluster, fault: PlannedFault): Promise<{ description: string; targets: string[]; heal: () => Promise<void> }> {
  const members = replicasOf(cluster.topology, fault.partition).map((r) => r.id);
  const leader = (await cluster.leaderOf(fault.partition)) ?? members[fault.pick % members.length]!;
  const followers = members.filter((id) => id !== leader);
  const picked = members[fault.pick % members.length]!;
  const restart = (ids: number[]) => async () => {
    for (const id of ids) if (!cluster.isRunning(id)) cluster.startReplica(id);
    await Promise.resolve();
  };
  const cut = (pairs: Array<[number, number]>) => {
    for (const [a, b] of pairs) cluster.setLink(a, b, fault.link);
    return async () => {
      for (const [a, b] of pairs) cluster.setLink(a, b, 'pass');
      await Promise.resolve();
    };
  };
  switch (fault.kind) {
    case 'kill-leader':
      await cluster.killReplica(leader);
      return { description: `kill -9 leader ${leader} of partition ${fault.partition}`, targets: [`storage-${leader}`], heal: restart([leader]) };
    case 'kill-follower': {
      const victim = followers[fault.pick % followers.length]!;
      await cluster.killReplica(victim);
      return { description: `kill -9 follower ${victim} of partition ${fault.partition}`, targets: [`storage-${victim}`], heal: restart([victim]) };
    }
    case 'lose-unsynced': {
      // With ECOM_TEST_FAULTS=lose-unsynced-on-crash the victim restarts from its log cut back to its last fsync.
      await cluster.killReplica(picked);
      return { description: `crash ${picked} (partition ${fault.partition}) losing unsynced log data`, targets: [`storage-${picked}`], heal: restart([picked]) };
    }
    case 'kill-all': {
      const all = cluster.topology.replicas.map((r) => r.id);
      await Promise.all(all.map((id) => cluster.killReplica(id)));
      return { description: 'kill -9 every storage replica at once', targets: all.map((id) => `storage-${id}`), heal: restart(all) };
    }
    case 'pause': {
      const victim = fault.pick % 2 === 0 ? leader : picked;
      cluster.pauseReplica(victim);
      return {
        description: `SIGSTOP ${victim === leader ? 'leader ' : ''}${victim} of partition ${fault.partition}`,
        targets: [`storage-${victim}`],
        heal: async () => {
          cluster.resumeReplica(victim);
          await Promise.resolve();
        },
      };
    }
    case 'partition-symmetric': {
      // Isolate the leader (half the time) or a random replica from the rest, both directions.
      const alone = fault.pick % 2 === 0 ? leader : picked;
      const rest = members.filter((id) => id !== alone);
      const pairs = rest.flatMap((id): Array<[number, number]> => [[alone, id], [id, alone]]);
      return { description: `partition ${fault.partition}: ${alone} | ${rest.join(',')} (${fault.link})`, targets: members.map((id) => `storage-${id}`), heal: cut(pairs) };
    }
    case 'partition-oneway': {
      // The leader's messages to its followers are lost, but it still hears them.
      const pairs = followers.map((id): [number, number] => [leader, id]);
      return { description: `partition ${fault.partition}: ${leader} -/-> ${followers.join(',')} one way (${fault.link})`, targets: members.map((id) => `storage-${id}`), heal: cut(pairs) };
    }
    case 'partition-bridge': {
      // The bridge talks to both sides, the two sides not to each other.
      const bridge = picked;
      const [a, b] = members.filter((id) => id !== bridge) as [number, number];
      return { description: `partition ${fault.partition}: ${a} <-> ${bridge} <-> ${b}, ${a} -/- ${b} (${fault.link})`, targets: members.map((id) => `storage-${id}`), heal: cut([[a, b], [b, a]]) };
    }
    case 'portal-kill': {
      const index = fault.pick % cluster.portals.length;
      await cluster.killPortal(index);
      return {
        description: `kill -9 portal ${index} amid cross-partition orders`,
        targets: [`portal-${index}`],
        heal: async () => {
          if (!cluster.portalRunning(index)) cluster.startPortal(index);
          await cluster.waitForPortal(index);
        },
      };
    }
  }
}
