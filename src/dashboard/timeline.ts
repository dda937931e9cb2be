import type { ClusterView, PartitionView, ReplicaView } from './cluster-view.js';

/**
 * The dashboard's timeline: what changed between two successive views of the cluster
 * (elections, leaders, replicas down and back, snapshots), plus what the process owner reports
 * (exits, restarts) and what the user did from the page. Replicas publish no events, so
 * everything here is inferred from polls at least twice a second: a change that comes and goes
 * between two polls is not seen, which the page says.
 */
export type EventKind = 'election' | 'leader' | 'down' | 'up' | 'snapshot' | 'process' | 'control' | 'transaction' | 'cache';

export interface TimelineEvent {
  /** Increases by one per event, so a page can tell which it has already shown. */
  readonly seq: number;
  readonly at: number;
  readonly kind: EventKind;
  readonly partition?: number;
  readonly replica?: number;
  readonly text: string;
}

export type NewEvent = Omit<TimelineEvent, 'seq' | 'at'>;

/** The events between `before` and `after`, in the order a reader would tell them. */
export function changesBetween(before: ClusterView | undefined, after: ClusterView): NewEvent[] {
  if (before === undefined) return after.partitions.map(firstLook);
  const events: NewEvent[] = [];
  for (const now of after.partitions) {
    const then = before.partitions.find((p) => p.partition === now.partition);
    if (then === undefined) continue;
    for (const replica of now.replicas) {
      const was = then.replicas.find((r) => r.id === replica.id);
      if (was !== undefined) events.push(...replicaChanges(was, replica, now));
    }
    events.push(...leaderChanges(then, now));
  }
  return events;
}

function firstLook(p: PartitionView): NewEvent {
  const down = p.replicas.filter((r) => r.down !== undefined).map((r) => r.id);
  const who = p.leader === 0 ? 'no leader yet' : `replica ${p.leader} leads in term ${p.term}`;
  return { kind: 'leader', partition: p.partition, text: `partition ${p.partition}: ${who}${down.length > 0 ? `; down: ${down.join(', ')}` : ''}` };
}

function replicaChanges(was: ReplicaView, now: ReplicaView, partition: PartitionView): NewEvent[] {
  const at = { partition: partition.partition, replica: now.id };
  if (was.down === undefined && now.down !== undefined) return [{ kind: 'down', ...at, text: `replica ${now.id} stopped answering (${now.down})` }];
  if (now.down !== undefined) return [];
  if (was.down !== undefined) return [{ kind: 'up', ...at, text: `replica ${now.id} answers again: ${now.role} in term ${now.term}, log at ${now.lastIndex}` }];
  const events: NewEvent[] = [];
  const standing = now.role === 'candidate' || now.role === 'preCandidate';
  if (standing && (was.role !== now.role || was.term !== now.term)) {
    const how = now.role === 'preCandidate' ? 'asks whether it could win (pre-vote) after term' : 'stands for election in term';
    events.push({ kind: 'election', ...at, text: `replica ${now.id} ${how} ${now.term}` });
  }
  if ((now.snapshotIndex ?? 0) > (was.snapshotIndex ?? 0)) {
    events.push({ kind: 'snapshot', ...at, text: `replica ${now.id} took a snapshot at index ${now.snapshotIndex} and compacted its log up to it` });
  }
  if (now.replication === 'snapshot' && was.replication !== 'snapshot') {
    events.push({ kind: 'snapshot', ...at, text: `leader ${partition.leader} sends a snapshot to replica ${now.id}: it is behind the start of the leader's log` });
  }
  return events;
}

function leaderChanges(then: PartitionView, now: PartitionView): NewEvent[] {
  const at = { partition: now.partition };
  if (now.leader !== 0 && (now.leader !== then.leader || now.term !== then.term)) {
    const before = then.leader === 0 ? 'no leader' : `replica ${then.leader} in term ${then.term}${whyStepped(now, then)}`;
    return [{ kind: 'leader', ...at, replica: now.leader, text: `partition ${now.partition}: replica ${now.leader} won the election for term ${now.term}${ballot(now)} (before: ${before})` }];
  }
  if (now.leader === 0 && then.leader !== 0) return [{ kind: 'election', ...at, text: `partition ${now.partition}: no leader (replica ${then.leader} led in term ${then.term}${whyStepped(now, then)})` }];
  return [];
}

/** Why the old leader stopped leading, when it answers and says so for that term ("; it stepped down: ..."). */
function whyStepped(now: PartitionView, then: PartitionView): string {
  const old = now.replicas.find((r) => r.id === then.leader);
  if (old?.lastStepDown === undefined || old.lastStepDownTerm !== then.term) return '';
  return `; it stepped down: ${old.lastStepDown.replace(/^term \d+: /, '')}`;
}

/**
 * Who stood and who voted for the winner, from the votes the replicas report for the new term:
 * a candidate votes for itself, so the replicas that did are the ones that stood.
 */
function ballot(p: PartitionView): string {
  const inTerm = p.replicas.filter((r) => r.term === p.term && r.vote !== undefined);
  if (inTerm.length === 0) return '';
  const stood = inTerm.filter((r) => r.vote === r.id).map((r) => r.id);
  const voters = inTerm.filter((r) => r.vote === p.leader).map((r) => r.id);
  return ` with votes from ${voters.join(', ')}${stood.length > 1 ? ` (candidates: ${stood.join(', ')})` : ''}`;
}

/** The last `capacity` events; older ones are dropped (the page keeps what it has shown). */
export class Timeline {
  private readonly events: TimelineEvent[] = [];
  private seq = 0;

  constructor(private readonly capacity = 500) {}

  add(event: NewEvent, at = Date.now()): TimelineEvent {
    const stamped = { ...event, seq: ++this.seq, at };
    this.events.push(stamped);
    if (this.events.length > this.capacity) this.events.splice(0, this.events.length - this.capacity);
    return stamped;
  }

  recent(): readonly TimelineEvent[] {
    return this.events;
  }
}
