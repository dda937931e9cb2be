import { compareModes, compareWithEtcd } from './compare.js';
import { runFailover } from './failover.js';
import type { BenchSession } from './session.js';
import { PORTAL_SYSTEMS, raftTierName, startPortal, startRaftTier } from './systems.js';
import { runMqttFigures } from './mqtt-figures.js';
import { checkTargets, verdictMark } from './targets-check.js';

/**
 * `ecom bench suite`: every figure issue #6 asks for, in one run on one machine, so that the
 * ratios between them mean something even when the machine is busy.
 */
export interface SuiteOptions {
  readonly kills: number;
  /** Closed-loop concurrencies of the storage put curve. */
  readonly sweep: readonly number[];
}

const PORTAL_WORKLOADS = ['create-client', 'create-product', 'create-order', 'update-order', 'retrieve', 'retrieve-client-orders', 'shop'] as const;

export async function runSuite(session: BenchSession, options: SuiteOptions): Promise<void> {
  const raft = session.own(await startRaftTier(`${session.folder}/raft`));
  const storage = { kind: 'storage', topologyFile: raft.topologyFile } as const;
  const system = raftTierName();

  // Throughput against concurrency: where the curve flattens is the tier's capacity.
  let peak = 0;
  for (const concurrency of options.sweep) {
    if (session.aborted) return;
    const run = await session.run('storage durable writes, both partitions', system, { workload: 'put', target: storage, concurrency, of: raft });
    peak = Math.max(peak, run.ops_per_s);
  }
  if (!options.sweep.includes(1)) await session.run('one client in series', system, { workload: 'put', target: storage, concurrency: 1, of: raft });
  // Open loop below the peak: the latency a user sees when the tier is not saturated.
  for (const fraction of [0.25, 0.5, 0.75]) {
    if (session.aborted || peak === 0) break;
    await session.run(`storage durable writes, open loop at ${fraction * 100} % of the peak`, system, { workload: 'put', target: storage, rate_per_s: Math.max(1, Math.round(peak * fraction)), of: raft });
  }
  await session.run('linearizable reads', system, { workload: 'get', target: storage, concurrency: 256, of: raft });
  await session.run('mixed reads and updates', system, { workload: 'mixed', target: storage, concurrency: 64, of: raft });
  session.note(`get-stale skipped: the storage API offers no stale local read yet (every read is a ReadIndex read)`);

  // Portal workloads in raft mode, over the same tier.
  const portal = session.own(await startPortal(['--mode', 'raft', '--storage-config', raft.topologyFile], 'portal-raft'));
  const target = { kind: 'portal', host: '127.0.0.1', port: portal.port } as const;
  for (const workload of PORTAL_WORKLOADS) {
    if (session.aborted) return;
    await session.run(`portal ${workload}`, 'portal, raft mode', { workload, target, concurrency: workload === 'create-order' ? 128 : 64, of: [raft, portal] });
  }
  await session.release(portal);

  if (session.aborted) return;
  session.print(`failover: ${options.kills} kills of a partition leader under load…`);
  session.results.failover = await runFailover(raft, {
    kills: options.kills,
    backgroundConcurrency: 16,
    runTag: session.runTag,
    aborted: () => session.aborted,
    onKill: (k, partition, leader, ms) => session.print(`  kill ${k}/${options.kills}: leader ${leader} of partition ${partition}, first successful write after ${ms.toFixed(0)} ms`),
  });
  await session.release(raft);

  if (session.aborted) return;
  await compareWithEtcd(session, 256);
  if (session.aborted) return;
  await compareModes(session, Object.keys(PORTAL_SYSTEMS), 'shop', 64);
  if (session.aborted) return;
  await runMqttFigures(session, ['embedded', 'mosquitto']);

  session.print('\ntargets (issues #6, #12, #17), this run:');
  for (const v of checkTargets(session.results)) session.print(`  ${verdictMark(v).padEnd(12)} ${v.target}: ${v.reached}`);
}
