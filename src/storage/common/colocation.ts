import { replicasOf, type Topology } from './topology.js';

/**
 * Which replicas one storage process may host (`ecom storage 1 4`): each keeps its own log,
 * state, ports and Raft driver; the process shares its event loop, metrics server and shutdown.
 * Two replicas of one partition in one process would put two votes of the group in one failure
 * domain (one crash could cost the partition its majority), so that is refused.
 */

/** What is wrong with hosting `ids` in one process, or undefined when nothing is. */
export function hostedReplicasProblem(topology: Topology, ids: readonly number[]): string | undefined {
  if (ids.length === 0) return 'name at least one replica id';
  const repeated = ids.filter((id, i) => ids.indexOf(id) !== i);
  if (repeated.length > 0) return `replica ${repeated[0]} is named twice; name each hosted replica once`;
  const unknown = ids.filter((id) => !topology.replicas.some((r) => r.id === id));
  if (unknown.length > 0 && ids.length > 1) return `replica ${unknown.join(', ')} ${unknown.length === 1 ? 'is' : 'are'} not in the storage topology (its replicas: ${topology.replicas.map((r) => r.id).join(', ')}); a process hosting several replicas takes only listed ones`;
  if (ids.length === 1) return undefined;
  const partitionOf = (id: number) => topology.replicas.find((r) => r.id === id)?.partition;
  for (const [i, id] of ids.entries()) {
    const twin = ids.slice(0, i).find((other) => partitionOf(other) === partitionOf(id));
    if (twin !== undefined) return `replicas ${twin} and ${id} both belong to partition ${partitionOf(id)}: one process may host one replica of each partition, or one crash would take two votes of the same group`;
  }
  return undefined;
}

/**
 * The colocated layout `ecom up --colocate` runs: process i hosts replica i of every partition
 * (in the default topology, 1 and 4, 2 and 5, 3 and 6). A partition with fewer replicas than
 * another leaves the last processes without one of it.
 */
export function colocatedGroups(topology: Topology): number[][] {
  const groups: number[][] = [];
  for (let p = 0; p < topology.partitions; p++) {
    for (const [i, replica] of replicasOf(topology, p).entries()) (groups[i] ??= []).push(replica.id);
  }
  return groups;
}

/** The replicas each storage process hosts: one of every partition per process when `colocate`, else one each. */
export function processGroups(topology: Topology, colocate: boolean): number[][] {
  return colocate ? colocatedGroups(topology) : topology.replicas.map((r) => [r.id]);
}

/** The group of `groups` (one per process) that hosts replica `id`. */
export function groupOf(groups: ReadonlyArray<readonly number[]>, id: number): readonly number[] {
  const group = groups.find((ids) => ids.includes(id));
  if (group === undefined) throw new Error(`replica ${id} is hosted by none of the storage processes`);
  return group;
}

/**
 * Who shares a process with a replica, as a process hosting `hosted` can tell: its own replicas,
 * and, when it runs the colocated layout, the other processes' groups of that layout. In any
 * other layout a replica elsewhere is known to share its process with no one.
 */
export function sameProcessAs(topology: Topology, hosted: readonly number[]): (id: number) => readonly number[] {
  const groups = colocatedGroups(topology);
  const standard = groups.some((g) => g.length === hosted.length && g.every((id) => hosted.includes(id)));
  return (id) => {
    if (hosted.includes(id)) return hosted;
    return (standard ? groups.find((g) => g.includes(id)) : undefined) ?? [id];
  };
}
