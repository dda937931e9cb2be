import { existsSync, readdirSync } from 'node:fs';
import { withClusterClient } from '../storage/client/cluster-client.js';
import type { ReplicaStatus } from '../storage/common/protocol.js';
import type { ReplicaAddress, Topology } from '../storage/common/topology.js';
import { replicaDir } from '../storage/replica/layout.js';
import type { Logger } from '../util/log.js';

/** `ecom storage ID --join ...`: where the new replica listens, as `ecom member add` was told. */
export interface JoinOptions {
  readonly join?: boolean;
  readonly partition?: number;
  readonly host?: string;
  readonly clientPort?: number;
  readonly raftPort?: number;
}

/**
 * The topology a replica runs with. A replica added online (`ecom member add`) is in no
 * --storage-config: its own address comes from the flags, and on its first start it asks the
 * partition's replicas where every member listens, so it can answer a leader that was itself
 * added online. Later starts find that in its own state (the address entries of the log).
 */
export async function topologyForReplica(topology: Topology, id: number, opts: JoinOptions, dataDir: string, log: Logger): Promise<Topology> {
  const listed = topology.replicas.find((r) => r.id === id);
  const { partition, host, clientPort, raftPort } = opts;
  const given = [partition, host, clientPort, raftPort];
  if (!opts.join) {
    if (given.some((v) => v !== undefined)) throw new Error('--partition, --host, --client-port and --raft-port go with --join (a replica added by ecom member add)');
    return topology;
  }
  if (listed !== undefined && given.every((v) => v === undefined)) return topology;
  if (partition === undefined || host === undefined || clientPort === undefined || raftPort === undefined) {
    throw new Error(`replica ${id} joins with --join --partition P --host H --client-port N --raft-port M, as \`ecom member add\` printed them`);
  }
  const self: ReplicaAddress = { id, partition, host, clientPort, raftPort };
  if (self.partition >= topology.partitions) throw new Error(`there are ${topology.partitions} partitions (0 to ${topology.partitions - 1}); no partition ${self.partition}`);
  if (listed !== undefined && (listed.partition !== self.partition || listed.host !== self.host || listed.clientPort !== self.clientPort || listed.raftPort !== self.raftPort)) {
    throw new Error(`replica ${id} is in --storage-config at ${listed.host}:${listed.clientPort}/${listed.raftPort} (partition ${listed.partition}); the --join flags say otherwise`);
  }
  const others = topology.replicas.filter((r) => r.id !== id);
  const dir = replicaDir(dataDir, id);
  const firstStart = !existsSync(dir) || readdirSync(dir).length === 0;
  const learned = firstStart ? await membersOf(topology, self.partition, log) : [];
  const extra = learned.filter((a) => a.id !== id && !others.some((r) => r.id === a.id));
  log.info({ replica: id, partition: self.partition, learned: extra.map((a) => a.id) }, firstStart ? 'joining: waiting for the leader to send a snapshot and the log (added with ecom member add?)' : 'rejoining with the data already here');
  return { ...topology, replicas: [...others, ...extra, self] };
}

/** Where the partition's members listen, from its leader (or the most advanced replica that answers). */
async function membersOf(topology: Topology, partition: number, log: Logger): Promise<ReplicaAddress[]> {
  const statuses = await withClusterClient(topology, (client) => client.statuses(2_000));
  const mine = statuses.filter((s): s is ReplicaStatus => !('unreachable' in s) && s.partition === partition && s.members !== undefined);
  const best = mine.find((s) => s.role === 'leader') ?? mine.sort((a, b) => b.commitIndex - a.commitIndex)[0];
  if (best === undefined) {
    log.warn({ partition }, 'no replica of the partition answered; going on with the addresses in --storage-config');
    return [];
  }
  return (best.members ?? []).flatMap((m) => (m.address === undefined ? [] : [m.address]));
}
