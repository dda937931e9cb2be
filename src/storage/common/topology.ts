import { readFileSync } from 'node:fs';
import { freePort } from '../../util/ports.js';

/**
 * Where every storage replica runs. The default is the original's: 2 partitions × 3 replicas,
 * ids 1–3 for partition 0 (even IDs) and 4–6 for partition 1 (odd IDs), requests on
 * 20001–20006 and Raft on 30001–30006. A JSON file describes any other P × R.
 */
export interface ReplicaAddress {
  readonly id: number;
  readonly partition: number;
  readonly host: string;
  /** Requests from portals. */
  readonly clientPort: number;
  /** Raft messages from the other replicas of the partition. */
  readonly raftPort: number;
}

export interface Topology {
  readonly partitions: number;
  readonly replicas: readonly ReplicaAddress[];
}

export const DEFAULT_CLIENT_PORT_BASE = 20_000;
export const DEFAULT_RAFT_PORT_BASE = 30_000;

export function defaultTopology(options: { partitions?: number; replicasPerPartition?: number; host?: string; clientPortBase?: number; raftPortBase?: number } = {}): Topology {
  const partitions = options.partitions ?? 2;
  const perPartition = options.replicasPerPartition ?? 3;
  const replicas: ReplicaAddress[] = [];
  for (let p = 0; p < partitions; p++) {
    for (let r = 0; r < perPartition; r++) {
      const id = p * perPartition + r + 1;
      replicas.push({
        id,
        partition: p,
        host: options.host ?? '127.0.0.1',
        clientPort: (options.clientPortBase ?? DEFAULT_CLIENT_PORT_BASE) + id,
        raftPort: (options.raftPortBase ?? DEFAULT_RAFT_PORT_BASE) + id,
      });
    }
  }
  return validateTopology({ partitions, replicas });
}

export function validateTopology(topology: Topology): Topology {
  const problems: string[] = [];
  if (!Number.isSafeInteger(topology.partitions) || topology.partitions < 1) problems.push('"partitions" must be a positive integer');
  const ids = new Set<number>();
  const ports = new Set<string>();
  for (const r of topology.replicas ?? []) {
    if (!Number.isSafeInteger(r.id) || r.id < 1) problems.push(`replica id ${JSON.stringify(r.id)} must be a positive integer`);
    if (ids.has(r.id)) problems.push(`replica id ${r.id} appears twice`);
    ids.add(r.id);
    if (!Number.isSafeInteger(r.partition) || r.partition < 0 || r.partition >= topology.partitions) problems.push(`replica ${r.id}: partition ${r.partition} is not in 0..${topology.partitions - 1}`);
    for (const port of [r.clientPort, r.raftPort]) {
      if (!Number.isSafeInteger(port) || port < 1 || port > 65535) problems.push(`replica ${r.id}: port ${port} is not a port number`);
      const where = `${r.host}:${port}`;
      if (ports.has(where)) problems.push(`address ${where} is used twice`);
      ports.add(where);
    }
  }
  for (let p = 0; p < topology.partitions; p++) {
    if (!(topology.replicas ?? []).some((r) => r.partition === p)) problems.push(`partition ${p} has no replica`);
  }
  if (problems.length > 0) throw new Error(`invalid storage topology: ${problems.join('; ')}`);
  return topology;
}

export function loadTopology(file: string): Topology {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read the topology file ${file}: ${(err as Error).message}`);
  }
  return validateTopology(parsed as Topology);
}

export function replicaById(topology: Topology, id: number): ReplicaAddress {
  const replica = topology.replicas.find((r) => r.id === id);
  if (replica === undefined) throw new Error(`no replica ${id} in the topology (ids: ${topology.replicas.map((r) => r.id).join(', ')})`);
  return replica;
}

export function replicasOf(topology: Topology, partition: number): ReplicaAddress[] {
  return topology.replicas.filter((r) => r.partition === partition);
}

/**
 * The default layout (P partitions × R replicas, ids as in defaultTopology) on free loopback
 * ports, for tests, benchmarks and chaos runs that must not collide with a running system.
 */
export async function freeLocalTopology(partitions = 2, replicasPerPartition = 3): Promise<Topology> {
  const replicas: ReplicaAddress[] = [];
  for (let p = 0; p < partitions; p++) {
    for (let r = 0; r < replicasPerPartition; r++) {
      replicas.push({ id: p * replicasPerPartition + r + 1, partition: p, host: '127.0.0.1', clientPort: await freePort(), raftPort: await freePort() });
    }
  }
  return validateTopology({ partitions, replicas });
}
