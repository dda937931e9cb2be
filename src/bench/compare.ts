import type { LabelledRun, ModeComparison, EtcdComparison } from './results.js';
import type { BenchSession } from './session.js';
import { PORTAL_SYSTEMS, raftTierName, startEtcd, startRaftTier } from './systems.js';

/**
 * `ecom bench compare`: in one run, a 3-member etcd cluster and the ecom raft tier side by
 * side, the same durable-put workload against each (same workers, same concurrency), and the
 * ratio; then the ecom modes on the same portal workload.
 *
 * Durability is the same on both sides: etcd fsyncs its WAL before acknowledging a put, an
 * ecom replica fdatasyncs its Raft log before acknowledging (group commit) and a write is
 * acknowledged once a majority of the 3 replicas has it. ecom is measured twice: on one
 * partition (3 replicas, exactly etcd's shape) and on both partitions (the tier as shipped).
 */
export async function compareWithEtcd(session: BenchSession, concurrency: number): Promise<EtcdComparison> {
  const etcd = session.own(await startEtcd(session.folder));
  const raft = session.own(await startRaftTier(`${session.folder}/raft-compare`));
  const etcdRun = await session.run('etcd durable puts', 'etcd 3 members', { workload: 'etcd-put', target: { kind: 'etcd', endpoints: etcd.endpoints }, concurrency });
  const one = await session.run('ecom durable puts, one partition', `${raftTierName()}, partition 0 only (3 replicas)`, {
    workload: 'put-one-partition',
    target: { kind: 'storage', topologyFile: raft.topologyFile },
    concurrency,
    of: raft,
  });
  const both = await session.run('ecom durable puts, both partitions', `${raftTierName()}, both partitions`, {
    workload: 'put',
    target: { kind: 'storage', topologyFile: raft.topologyFile },
    concurrency,
    of: raft,
  });
  await session.release(raft);
  await session.release(etcd);
  const ratio = (a: LabelledRun) => (etcdRun.ops_per_s > 0 ? a.ops_per_s / etcdRun.ops_per_s : NaN);
  const comparison: EtcdComparison = { concurrency, etcd: etcdRun, ecomOnePartition: one, ecomBothPartitions: both, ratioOnePartition: ratio(one), ratioBothPartitions: ratio(both) };
  session.print(
    `ratio ecom / etcd (durable puts, ${concurrency} in flight, same run): one partition ${comparison.ratioOnePartition.toFixed(1)}×, both partitions ${comparison.ratioBothPartitions.toFixed(1)}×`,
  );
  session.results.comparison = comparison;
  return comparison;
}

export async function compareModes(session: BenchSession, modes: readonly string[], workload: string, concurrency: number): Promise<ModeComparison> {
  const comparison: ModeComparison = { workload, concurrency, runs: [] };
  for (const mode of modes) {
    if (session.aborted) break;
    if (!(mode in PORTAL_SYSTEMS)) throw new Error(`unknown mode "${mode}"; the bench knows: ${Object.keys(PORTAL_SYSTEMS).join(', ')}`);
    const system = session.own(await PORTAL_SYSTEMS[mode]!(`${session.folder}/mode-${mode}`));
    try {
      comparison.runs.push(await session.run(`portal ${workload}`, `${mode} mode`, { workload, target: { kind: 'portal', host: '127.0.0.1', port: system.port }, concurrency, of: system }));
    } finally {
      await session.release(system);
    }
  }
  session.results.modes = comparison;
  return comparison;
}
