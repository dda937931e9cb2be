import type { ReplicaStatus } from '../storage/common/protocol.js';
import type { Topology } from '../storage/common/topology.js';

/**
 * What the dashboard shows at one instant: each partition with its replicas as they answered
 * one round of status requests. Built from the same status answers `ecom status` prints.
 */
export type StatusAnswer = ReplicaStatus | { id: number; partition: number; unreachable: string };

/** What a process owner (`ecom up`) knows of a replica's process and links; absent for a cluster started by hand. */
export interface ProcessState {
  readonly pid: number | undefined;
  readonly running: boolean;
  readonly paused: boolean;
  /** Its Raft links to and from every peer drop everything (the dashboard's cut); unset when the owner cannot cut links. */
  readonly cut?: boolean;
}

export interface ReplicaView {
  readonly id: number;
  readonly partition: number;
  readonly address: string;
  /** Why it did not answer; unset when it answered. */
  readonly down?: string;
  readonly role?: string;
  readonly term?: number;
  readonly leader?: number;
  /** Whom it voted for in its term (0: nobody). */
  readonly vote?: number;
  readonly lastIndex?: number;
  readonly commitIndex?: number;
  readonly appliedIndex?: number;
  readonly snapshotIndex?: number;
  /** The partition leader's view of this replica: the index it knows it holds, and how it sends to it. */
  readonly match?: number;
  readonly replication?: string;
  readonly lastStepDown?: string;
  readonly lastStepDownTerm?: number;
  readonly diskFault?: string;
  readonly process?: ProcessState;
}

export interface PartitionView {
  readonly partition: number;
  /** The replica that says it leads in the highest term any member answered with; 0 when none does. */
  readonly leader: number;
  readonly term: number;
  readonly replicas: readonly ReplicaView[];
}

export interface ClusterView {
  /** When the round of status requests ended (ms since the epoch). */
  readonly at: number;
  readonly partitions: readonly PartitionView[];
}

export function clusterView(topology: Topology, answers: readonly StatusAnswer[], processOf: (id: number) => ProcessState | undefined, at = Date.now()): ClusterView {
  const partitions: PartitionView[] = [];
  for (let p = 0; p < topology.partitions; p++) {
    const members = answers.filter((a) => a.partition === p);
    const up = members.filter((a): a is ReplicaStatus => !('unreachable' in a));
    const term = Math.max(0, ...up.map((s) => s.term));
    const leading = up.find((s) => s.role === 'leader' && s.term === term);
    const replicas = topology.replicas
      .filter((r) => r.partition === p)
      .map((r) => replicaView(r.id, p, `${r.host}:${r.clientPort}`, members.find((a) => a.id === r.id), leading, processOf(r.id)));
    partitions.push({ partition: p, leader: leading?.id ?? 0, term, replicas });
  }
  return { at, partitions };
}

function replicaView(id: number, partition: number, address: string, answer: StatusAnswer | undefined, leader: ReplicaStatus | undefined, process: ProcessState | undefined): ReplicaView {
  const known = process === undefined ? {} : { process };
  if (answer === undefined || 'unreachable' in answer) return { id, partition, address, down: answer?.unreachable ?? 'no answer', ...known };
  const seen = leader?.followers?.find((f) => f.id === id);
  return {
    id,
    partition,
    address,
    role: answer.role,
    term: answer.term,
    leader: answer.leader,
    ...(answer.vote === undefined ? {} : { vote: answer.vote }),
    lastIndex: answer.lastIndex,
    commitIndex: answer.commitIndex,
    appliedIndex: answer.appliedIndex,
    snapshotIndex: answer.snapshotIndex,
    ...(seen === undefined ? {} : { match: seen.match, replication: seen.state }),
    ...(leader?.id === id ? { match: answer.lastIndex } : {}),
    ...(answer.lastStepDown === undefined ? {} : { lastStepDown: answer.lastStepDown, lastStepDownTerm: answer.lastStepDownTerm }),
    ...(answer.diskFault === undefined ? {} : { diskFault: answer.diskFault }),
    ...known,
  };
}
