import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ClusterSecretError, readClusterSecret, SECRET_HINT } from '../../net/cluster-secret.js';
import { freePort, isPort } from '../../util/ports.js';

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
  /**
   * The file holding the cluster's secret (net/cluster-secret.ts), never the secret itself:
   * topologies are written to files that other processes read. Relative to the topology file
   * in a file, absolute once loaded.
   */
  readonly secretFile?: string;
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

/** Checks a topology read from a file (anything JSON can hold) and says everything wrong with it at once. */
export function validateTopology(input: unknown): Topology {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new Error('invalid storage topology: the file must hold a JSON object {"partitions": N, "replicas": [...]}');
  }
  const topology = input as { partitions?: unknown; replicas?: unknown; secretFile?: unknown };
  const problems: string[] = [];
  if (topology.secretFile !== undefined && (typeof topology.secretFile !== 'string' || topology.secretFile === '')) problems.push('"secretFile" must be the path of the cluster secret file');
  const partitions = topology.partitions;
  const partitionsOk = typeof partitions === 'number' && Number.isSafeInteger(partitions) && partitions >= 1 && partitions <= 1_000;
  if (!partitionsOk) problems.push('"partitions" must be a whole number from 1 to 1000');
  if (!Array.isArray(topology.replicas)) problems.push('"replicas" must be an array of {id, partition, host, clientPort, raftPort}');
  const replicas = Array.isArray(topology.replicas) ? (topology.replicas as unknown[]) : [];
  const ids = new Set<number>();
  const ports = new Set<string>();
  for (const [i, item] of replicas.entries()) {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      problems.push(`replicas[${i}] must be an object {id, partition, host, clientPort, raftPort}`);
      continue;
    }
    const r = item as Record<string, unknown>;
    const id = r.id as number;
    if (!Number.isSafeInteger(id) || id < 1) problems.push(`replica id ${JSON.stringify(r.id)} must be a positive integer`);
    if (ids.has(id)) problems.push(`replica id ${id} appears twice`);
    ids.add(id);
    if (typeof r.host !== 'string' || r.host === '') problems.push(`replica ${JSON.stringify(r.id)}: host must be a non-empty string`);
    const partition = r.partition as number;
    if (!Number.isSafeInteger(partition) || partition < 0 || (partitionsOk && partition >= (partitions as number))) {
      problems.push(`replica ${JSON.stringify(r.id)}: partition ${JSON.stringify(r.partition)} is not in 0..${partitionsOk ? (partitions as number) - 1 : '?'}`);
    }
    for (const port of [r.clientPort, r.raftPort]) {
      if (!isPort(port)) problems.push(`replica ${JSON.stringify(r.id)}: port ${JSON.stringify(port)} is not a port number`);
      const where = `${String(r.host)}:${String(port)}`;
      if (ports.has(where)) problems.push(`address ${where} is used twice`);
      ports.add(where);
    }
  }
  for (let p = 0; partitionsOk && p < (partitions as number); p++) {
    if (!replicas.some((r) => typeof r === 'object' && r !== null && (r as { partition?: unknown }).partition === p)) problems.push(`partition ${p} has no replica`);
  }
  if (problems.length > 0) throw new Error(`invalid storage topology: ${problems.join('; ')}`);
  return topology as Topology;
}

export function loadTopology(file: string): Topology {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read the topology file ${file}: ${(err as Error).message}`);
  }
  let topology: Topology;
  try {
    topology = validateTopology(parsed);
  } catch (err) {
    throw new Error(`${(err as Error).message} (in ${file})`);
  }
  return topology.secretFile === undefined ? topology : { ...topology, secretFile: resolve(dirname(file), topology.secretFile) };
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

/** The secret every internal connection of this topology's cluster proves; refused clearly when there is none. */
export function clusterSecretOf(topology: Topology): Buffer {
  if (topology.secretFile === undefined) throw new ClusterSecretError(`no cluster secret given: ${SECRET_HINT}`);
  return readClusterSecret(topology.secretFile);
}
