import type { ChaosCluster } from './raft-cluster.js';
import type { Injection, PlannedFault } from './schedule.js';
import { replicasOf } from '../storage/common/topology.js';

/** The faults of a raft-mode run and their injection into a ChaosCluster. */
export const RAFT_FAULT_KINDS = [
  'kill-leader',
  'kill-follower',
  'kill-all',
  'pause',
  'partition-symmetric',
  'partition-oneway',
  'partition-bridge',
  'lose-unsynced',
  'portal-kill',
  // Appended at the end: a run that names its kinds keeps its schedule (see raftTargets); an
  // `all` run now draws these two as well, so its old seeds give other schedules.
  'broker-restart',
  'cache-feed-cut',
] as const;
export type RaftFaultKind = (typeof RAFT_FAULT_KINDS)[number];

/**
 * How many targets a fault of this kind picks among: a portal, the one broker, or a replica of a
 * partition. The existing kinds' ranges must not change: old seeds would draw other schedules.
 */
export function raftTargets(kind: RaftFaultKind, shape: { replicasPerPartition: number; portals: number }): number {
  switch (kind) {
    case 'portal-kill':
    case 'cache-feed-cut':
      return shape.portals;
    case 'broker-restart':
      return 1;
    default:
      return shape.replicasPerPartition;
  }
}

/** Where a fault lands: the partition's members, its leader (or a stand-in) and the picked replica. */
interface Aim {
  readonly members: number[];
  readonly leader: number;
  readonly followers: number[];
  readonly picked: number;
}

/** Applies one planned fault now; returns what it did and how to heal it. */
export async function inject(cluster: ChaosCluster, fault: PlannedFault<RaftFaultKind>): Promise<Injection> {
  const members = replicasOf(cluster.topology, fault.partition).map((r) => r.id);
  const leader = (await cluster.leaderOf(fault.partition)) ?? members[fault.pick % members.length]!;
  const aim: Aim = { members, leader, followers: members.filter((id) => id !== leader), picked: members[fault.pick % members.length]! };
  switch (fault.kind) {
    case 'kill-leader':
    case 'kill-follower':
    case 'lose-unsynced':
    case 'kill-all':
    case 'pause':
      return stopReplicas(cluster, fault, aim);
    case 'partition-symmetric':
    case 'partition-oneway':
    case 'partition-bridge':
      return cutLinks(cluster, fault, aim);
    case 'portal-kill':
    case 'broker-restart':
    case 'cache-feed-cut':
      return disturbPortals(cluster, fault);
  }
}

function restartReplicas(cluster: ChaosCluster, ids: number[]): () => Promise<void> {
  return async () => {
    for (const id of ids) if (!cluster.isRunning(id)) cluster.startReplica(id);
    await Promise.resolve();
  };
}

/** Kills or pauses replicas; healing starts or resumes them. */
async function stopReplicas(cluster: ChaosCluster, fault: PlannedFault<RaftFaultKind>, aim: Aim): Promise<Injection> {
  const { leader, followers, picked } = aim;
  switch (fault.kind) {
    case 'kill-leader':
      await cluster.killReplica(leader);
      return { description: `kill -9 leader ${leader} of partition ${fault.partition}`, targets: [cluster.processName(leader)], heal: restartReplicas(cluster, [leader]) };
    case 'kill-follower': {
      const victim = followers[fault.pick % followers.length]!;
      await cluster.killReplica(victim);
      return { description: `kill -9 follower ${victim} of partition ${fault.partition}`, targets: [cluster.processName(victim)], heal: restartReplicas(cluster, [victim]) };
    }
    case 'lose-unsynced': {
      // With ECOM_TEST_FAULTS=lose-unsynced-on-crash the victim restarts from its log cut back to its last fsync.
      await cluster.killReplica(picked);
      return { description: `crash ${picked} (partition ${fault.partition}) losing unsynced log data`, targets: [cluster.processName(picked)], heal: restartReplicas(cluster, [picked]) };
    }
    case 'kill-all': {
      const all = cluster.topology.replicas.map((r) => r.id);
      await Promise.all(all.map((id) => cluster.killReplica(id)));
      return { description: 'kill -9 every storage replica at once', targets: [...new Set(all.map((id) => cluster.processName(id)))], heal: restartReplicas(cluster, all) };
    }
    default: {
      const victim = fault.pick % 2 === 0 ? leader : picked;
      await cluster.pauseReplica(victim);
      return {
        description: `SIGSTOP ${victim === leader ? 'leader ' : ''}${victim} of partition ${fault.partition}`,
        targets: [cluster.processName(victim)],
        heal: async () => {
          cluster.resumeReplica(victim);
          await Promise.resolve();
        },
      };
    }
  }
}

/** Cuts links between replicas of the partition (drop or stall); healing lets them pass again. */
function cutLinks(cluster: ChaosCluster, fault: PlannedFault<RaftFaultKind>, aim: Aim): Injection {
  const { members, leader, followers, picked } = aim;
  const targets = members.map((id) => cluster.processName(id));
  const cut = (pairs: Array<[number, number]>) => {
    for (const [a, b] of pairs) cluster.setLink(a, b, fault.link);
    return async () => {
      for (const [a, b] of pairs) cluster.setLink(a, b, 'pass');
      await Promise.resolve();
    };
  };
  switch (fault.kind) {
    case 'partition-symmetric': {
      // Isolate the leader (half the time) or a random replica from the rest, both directions.
      const alone = fault.pick % 2 === 0 ? leader : picked;
      const rest = members.filter((id) => id !== alone);
      const pairs = rest.flatMap((id): Array<[number, number]> => [[alone, id], [id, alone]]);
      return { description: `partition ${fault.partition}: ${alone} | ${rest.join(',')} (${fault.link})`, targets, heal: cut(pairs) };
    }
    case 'partition-oneway': {
      // The leader's messages to its followers are lost, but it still hears them.
      const pairs = followers.map((id): [number, number] => [leader, id]);
      return { description: `partition ${fault.partition}: ${leader} -/-> ${followers.join(',')} one way (${fault.link})`, targets, heal: cut(pairs) };
    }
    default: {
      // The bridge talks to both sides, the two sides not to each other.
      const bridge = picked;
      const [a, b] = members.filter((id) => id !== bridge) as [number, number];
      return { description: `partition ${fault.partition}: ${a} <-> ${bridge} <-> ${b}, ${a} -/- ${b} (${fault.link})`, targets, heal: cut([[a, b], [b, a]]) };
    }
  }
}

/** Faults of the portal side: a portal killed, the broker restarted, a portal's change feed cut. */
async function disturbPortals(cluster: ChaosCluster, fault: PlannedFault<RaftFaultKind>): Promise<Injection> {
  const index = fault.pick % cluster.portals.length;
  switch (fault.kind) {
    case 'portal-kill':
      await cluster.killPortal(index);
      return {
        description: `kill -9 portal ${index} amid cross-partition orders`,
        targets: [`portal-${index}`],
        heal: async () => {
          if (!cluster.portalRunning(index)) cluster.startPortal(index);
          await cluster.waitForPortal(index);
        },
      };
    case 'broker-restart':
      // Every change feed goes down at once: announcements published meanwhile are lost.
      await cluster.killBroker();
      return {
        description: 'kill -9 the MQTT broker (every portal loses its change feed)',
        targets: ['broker'],
        heal: async () => {
          if (!cluster.brokerRunning()) cluster.startBroker();
          await cluster.waitForBroker();
        },
      };
    default:
      // drop: the portal sees its feed close; stall: it does not, and announcements arrive late.
      cluster.setFeedLink(index, fault.link);
      return {
        description: `cut portal ${index}'s change feed from the broker (${fault.link})`,
        targets: [`portal-${index}`],
        heal: async () => {
          cluster.setFeedLink(index, 'pass');
          await Promise.resolve();
        },
      };
  }
}
