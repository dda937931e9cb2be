import { join } from 'node:path';
import { checkCache, runCache, setupCache } from './cache.js';
import { ChaosCluster } from './raft-cluster.js';
import type { Violation } from './history.js';
import { Recorder } from './history.js';
import { inject, raftTargets, type RaftFaultKind } from './raft-nemesis.js';
import { checkRegister, runRegister } from './register.js';
import { replayCommand, runFolder, writeRunFolder, type ChaosResult } from './result.js';
import { planSchedule, playSchedule, type InjectedFault } from './schedule.js';
import { checkShop, newShopModel, runShop, setupShop } from './shop.js';

/**
 * One raft-mode chaos run: start a cluster in a folder, drive the register, shop and cache workloads,
 * inject the seed's fault schedule, heal, wait for recovery, check, and write the history, the
 * logs and the report into the folder.
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
}

const LOCK_TTL_MS = 1_000;
/** The portals' read cache bound: short enough that staleness beyond it shows within a fault's hold. */
const CACHE_BOUND_MS = 400;
const RECOVERY_TIMEOUT_MS = 60_000;
/** Once leaders are back, followers catch up in seconds; one stuck this long is a finding. */
const CONVERGENCE_TIMEOUT_MS = 30_000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));

export async function runRaftChaos(options: RaftChaosOptions): Promise<ChaosResult> {
  const say = options.progress ?? ((line: string) => process.stdout.write(`${line}\n`));
  const folder = runFolder('raft', options.seed, options.out);
  const started = Date.now();
  const testFaults = [...(options.plantedBugs ?? [])];
  if (options.faults.includes('lose-unsynced') && !testFaults.includes('lose-unsynced-on-crash')) testFaults.push('lose-unsynced-on-crash');
  say(`chaos: raft mode, seed ${options.seed}, ${options.duration_s} s, faults ${options.faults.join(',') || 'none'}${testFaults.length > 0 ? `, ECOM_TEST_FAULTS=${testFaults.join(',')}` : ''}`);
  say(`chaos: everything is kept in ${folder}`);
  const cluster = await ChaosCluster.create({ dataDir: join(folder, 'data'), testFaults: testFaults.join(','), lockTtl_ms: LOCK_TTL_MS, requestTimeout_ms: 3_000, cacheBound_ms: CACHE_BOUND_MS });
  let recorder = new Recorder();
  let injected: InjectedFault[] = [];
  const violations: Violation[] = [];
  const checked = { register: 0, shop: 0, cache: 0 };
  try {
    await cluster.start();
    say(`chaos: ${cluster.topology.replicas.length} storage replicas, ${cluster.portals.length} portals (read cache ${cluster.cacheBound_ms} ms) and the MQTT broker up`);
    const harness = cluster.backend();
    await setupShop((command) => harness.execute(command));
    await setupCache((command) => harness.execute(command));
    const shape = { replicasPerPartition: cluster.topology.replicas.length / cluster.topology.partitions, portals: cluster.portals.length };
    const schedule = planSchedule({
      seed: options.seed,
      duration_ms: options.duration_s * 1_000,
      kinds: options.faults,
      partitions: cluster.topology.partitions,
      targets: (kind) => raftTargets(kind, shape),
    });
    say(`chaos: schedule of ${schedule.length} faults: ${schedule.map((f) => `${(f.at_ms / 1000).toFixed(1)}s ${f.kind}`).join(', ')}`);

    const model = newShopModel();
    // Times in the history and the progress output count from here, the start of the workload.
    recorder = new Recorder();
    let running = true;
    const workloadStart = recorder.now();
    const workloads = Promise.all([
      runRegister({ backends: [cluster.backend(), cluster.backend()], clients: options.registerClients ?? 6, seed: options.seed, recorder, running: () => running }),
      runShop({ portalPorts: cluster.portals.map((p) => p.port), clients: options.shopClients ?? 6, seed: options.seed, recorder, model, running: () => running }),
      runCache({ portalPorts: cluster.portals.map((p) => p.port), seed: options.seed, recorder, running: () => running }),
    ]);
    injected = await playSchedule({
      schedule,
      inject: (fault) => inject(cluster, fault),
      recovered: () => cluster.waitForLeaders(RECOVERY_TIMEOUT_MS),
      recorder,
      workloadStart_ms: workloadStart,
      duration_ms: options.duration_s * 1_000,
      say,
    });
    running = false;
    say('chaos: stopping the workload, healing everything');
    await workloads;
    // The register history needs nothing from the cluster: check it even if recovery fails.
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
    const shop = await checkShop(harness, model, recorder.ops);
    checked.shop = shop.checked;
    violations.push(...shop.violations);
    say(`chaos: shop: ${shop.checked} operations, final state ${shop.violations.length === 0 ? 'consistent' : 'INCONSISTENT'}`);
  } catch (err) {
    // The crash itself is reported below; the harness message adds what could not be done.
    violations.push({ checker: 'harness', message: `the run did not complete: ${(err as Error).message}`, keys: [] });
  } finally {
    await cluster.stop();
  }
  for (const crash of cluster.crashes) {
    violations.push({ checker: 'process-crash', message: `${crash.name} exited on its own (${crash.exit}); see logs/${crash.name}.log`, keys: [] });
  }
  const result: ChaosResult = {
    ok: violations.length === 0,
    mode: 'raft',
    folder,
    seed: options.seed,
    operations: recorder.ops.length,
    checked,
    faults: injected,
    violations,
    duration_s: (Date.now() - started) / 1000,
    replay: replayCommand('raft', options.seed, options.duration_s, options.faults, options.plantedBugs),
  };
  writeRunFolder(result, recorder);
  return result;
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
