import { join } from 'node:path';
import type { PartitionedBackend } from '../storage/client/partitioned-backend.js';
import { checkCache, runCache, setupCache } from './cache.js';
import type { Recorder, Violation } from './history.js';
import { ChaosCluster } from './raft-cluster.js';
import { inject, raftTargets, type RaftFaultKind } from './raft-nemesis.js';
import { checkRegister, runRegister } from './register.js';
import { replayCommand, type ChaosResult } from './result.js';
import { runChaos, type ChaosSystem } from './run.js';
import type { Injection, PlannedFault } from './schedule.js';
import { checkFinalShop, newShopModel, runShop, setupShop, type ShopModel } from './shop.js';
import type { Crash } from '../util/process-group.js';
import { defined } from '../util/assert.js';

/**
 * A raft-mode chaos run: the replicas, portals and broker of ChaosCluster, driven by the
 * register (storage API, linearizability), shop (gRPC, conservation and acknowledged writes)
 * and cache (gRPC, bounded staleness) workloads.
 */
export interface RaftChaosOptions {
  readonly seed: number;
  readonly duration_s: number;
  readonly faults: readonly RaftFaultKind[];
  /** Planted bugs for the replicas and portals (ECOM_TEST_FAULTS), e.g. ['skip-commit-check']. */
  readonly plantedBugs?: readonly string[];
  /** Where to keep everything; a new temporary folder by default. */
  readonly out?: string;
  readonly registerClients?: number;
  readonly shopClients?: number;
  readonly progress?: (line: string) => void;
  /** The storage tier colocated, as `ecom up` runs it: replica i of every partition in one process. */
  readonly colocate?: boolean;
}

const LOCK_TTL_MS = 1_000;
/** The portals' read cache bound: short enough that staleness beyond it shows within a fault's hold. */
const CACHE_BOUND_MS = 400;
const RECOVERY_TIMEOUT_MS = 60_000;
/** Once leaders are back, followers catch up in seconds; one stuck this long is a finding. */
const CONVERGENCE_TIMEOUT_MS = 30_000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));

class RaftSystem implements ChaosSystem<RaftFaultKind> {
  private readonly model: ShopModel = newShopModel();
  private harness: PartitionedBackend | undefined;

  constructor(
    private readonly cluster: ChaosCluster,
    private readonly options: RaftChaosOptions,
  ) {}

  get crashes(): readonly Crash[] {
    return this.cluster.crashes;
  }

  get shape(): ChaosSystem<RaftFaultKind>['shape'] {
    const { topology, portals } = this.cluster;
    const shape = { replicasPerPartition: topology.replicas.length / topology.partitions, portals: portals.length };
    return { partitions: topology.partitions, targets: (kind) => raftTargets(kind, shape) };
  }

  async start(say: (line: string) => void): Promise<void> {
    await this.cluster.start();
    say(`chaos: ${this.cluster.topology.replicas.length} storage replicas, ${this.cluster.portals.length} portals (read cache ${this.cluster.cacheBound_ms} ms) and the MQTT broker up`);
    const harness = this.cluster.backend();
    this.harness = harness;
    await setupShop((command) => harness.execute(command));
    await setupCache((command) => harness.execute(command));
  }

  inject(fault: PlannedFault<RaftFaultKind>): Promise<Injection> {
    return inject(this.cluster, fault);
  }

  recovered(): Promise<void> {
    return this.cluster.waitForLeaders(RECOVERY_TIMEOUT_MS);
  }

  async workloads(recorder: Recorder, running: () => boolean): Promise<void> {
    const { cluster, options } = this;
    const portalPorts = cluster.portals.map((p) => p.port);
    await Promise.all([
      runRegister({ backends: [cluster.backend(), cluster.backend()], clients: options.registerClients ?? 6, seed: options.seed, recorder, running }),
      runShop({ portalPorts, clients: options.shopClients ?? 6, seed: options.seed, recorder, model: this.model, running }),
      runCache({ portalPorts, seed: options.seed, recorder, running }),
    ]);
  }

  async check(recorder: Recorder, checked: Record<string, number>, violations: Violation[], say: (line: string) => void): Promise<void> {
    const { cluster } = this;
    // The histories need nothing from the cluster: check them even if recovery fails.
    const register = checkRegister(recorder.ops);
    checked.register = register.checked;
    violations.push(...register.violations);
    say(`chaos: register history: ${register.checked} operations checked, ${register.violations.length === 0 ? 'linearizable' : 'NOT linearizable'}`);
    const cache = checkCache(recorder.ops, cluster.cacheBound_ms);
    checked.cache = cache.checked;
    violations.push(...cache.violations);
    say(`chaos: cache: ${cache.checked} reads checked, ${cache.violations.length === 0 ? `none older than the ${cluster.cacheBound_ms} ms bound` : 'STALE READS'}`);
    await cluster.healAll();
    await cluster.waitForLeaders(RECOVERY_TIMEOUT_MS);
    await recoverTransactions(cluster, say);
    await cluster.waitForConvergence(CONVERGENCE_TIMEOUT_MS);
    await checkFinalShop(defined(this.harness, 'the shop harness'), this.model, recorder, { checked, violations, say });
  }

  stop(): Promise<void> {
    return this.cluster.stop();
  }
}

export async function runRaftChaos(options: RaftChaosOptions): Promise<ChaosResult> {
  const testFaults = [...(options.plantedBugs ?? [])];
  if (options.faults.includes('lose-unsynced') && !testFaults.includes('lose-unsynced-on-crash')) testFaults.push('lose-unsynced-on-crash');
  const build = async (folder: string) =>
    new RaftSystem(
      await ChaosCluster.create({ dataDir: join(folder, 'data'), testFaults: testFaults.join(','), lockTtl_ms: LOCK_TTL_MS, requestTimeout_ms: 3_000, cacheBound_ms: CACHE_BOUND_MS, colocate: options.colocate }),
      options,
    );
  return runChaos('raft', build, {
    ...options,
    about: testFaults.length > 0 ? `ECOM_TEST_FAULTS=${testFaults.join(',')}` : undefined,
    replay: replayCommand('raft', options.seed, options.duration_s, options.faults, options.plantedBugs, options.colocate === true),
  });
}

/** Finishes or rolls back what dead portals left: recovery passes until one finds nothing to do. */
async function recoverTransactions(cluster: ChaosCluster, say: (line: string) => void): Promise<void> {
  const backend = cluster.backend();
  const deadline = Date.now() + RECOVERY_TIMEOUT_MS;
  for (;;) {
    // Locks become recoverable only once their time to live has passed.
    await sleep(LOCK_TTL_MS + 200);
    try {
      const done = await backend.coordinator.recover(0);
      if (done.resolvedLocks + done.finishedDecisions === 0) return;
      say(`chaos: recovery resolved ${done.resolvedLocks} locks, finished ${done.finishedDecisions} decisions`);
    } catch (err) {
      say(`chaos: recovery pass failed (${(err as Error).message}); retrying`);
    }
    if (Date.now() > deadline) throw new Error('transactions were still being recovered after the deadline');
  }
}
