import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ChaosCluster } from './cluster.js';
import type { Violation } from './history.js';
import { Recorder } from './history.js';
import { inject, planSchedule, type FaultKind, type InjectedFault } from './nemesis.js';
import { checkRegister, runRegister } from './register.js';
import { renderReport } from './report.js';
import { checkShop, newShopModel, runShop, setupShop } from './shop.js';

/**
 * One chaos run: start a raft-mode cluster in a folder, drive the register and shop workloads,
 * inject the seed's fault schedule, heal, wait for recovery, check, and write the history, the
 * logs and the report into the folder.
 */
export interface ChaosOptions {
  readonly seed: number;
  readonly duration_s: number;
  readonly faults: readonly FaultKind[];
  /** Planted bugs for the replicas (ECOM_TEST_FAULTS), e.g. ['skip-commit-check']. */
  readonly plantedBugs?: readonly string[];
  /** Where to keep everything; a new temporary folder by default. */
  readonly out?: string;
  readonly registerClients?: number;
  readonly shopClients?: number;
  readonly progress?: (line: string) => void;
}

export interface ChaosResult {
  readonly ok: boolean;
  readonly folder: string;
  readonly seed: number;
  readonly operations: number;
  readonly checkedRegister: number;
  readonly checkedShop: number;
  readonly faults: readonly InjectedFault[];
  readonly violations: readonly Violation[];
  readonly duration_s: number;
}

const LOCK_TTL_MS = 1_000;
const RECOVERY_TIMEOUT_MS = 60_000;
/** Once leaders are back, followers catch up in seconds; one stuck this long is a finding. */
const CONVERGENCE_TIMEOUT_MS = 30_000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));

export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  const say = options.progress ?? ((line: string) => process.stdout.write(`${line}\n`));
  const folder = resolve(options.out ?? mkdtempSync(join(tmpdir(), `ecom-chaos-${options.seed}-`)));
  mkdirSync(folder, { recursive: true });
  const started = Date.now();
  const testFaults = [...(options.plantedBugs ?? [])];
  if (options.faults.includes('lose-unsynced') && !testFaults.includes('lose-unsynced-on-crash')) testFaults.push('lose-unsynced-on-crash');
  say(`chaos: seed ${options.seed}, ${options.duration_s} s, faults ${options.faults.join(',') || 'none'}${testFaults.length > 0 ? `, ECOM_TEST_FAULTS=${testFaults.join(',')}` : ''}`);
  say(`chaos: everything is kept in ${folder}`);
  const cluster = await ChaosCluster.create({ dataDir: join(folder, 'data'), testFaults: testFaults.join(','), lockTtl_ms: LOCK_TTL_MS, requestTimeout_ms: 3_000 });
  let recorder = new Recorder();
  const injected: InjectedFault[] = [];
  const violations: Violation[] = [];
  let checkedRegister = 0;
  let checkedShop = 0;
  try {
    await cluster.start();
    say(`chaos: ${cluster.topology.replicas.length} storage replicas and ${cluster.portals.length} portals up`);
    const harness = cluster.backend();
    await setupShop(harness);
    const schedule = planSchedule({
      seed: options.seed,
      duration_ms: options.duration_s * 1_000,
      kinds: options.faults,
      partitions: cluster.topology.partitions,
      replicasPerPartition: cluster.topology.replicas.length / cluster.topology.partitions,
      portals: cluster.portals.length,
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
    ]);
    for (const fault of schedule) {
      // Recovery waits can push the schedule late: never inject past the run's end.
      if (recorder.now() - workloadStart + fault.hold_ms > options.duration_s * 1_000) {
        say(`chaos: no time left for fault #${fault.seq} ${fault.kind} or the rest of the schedule`);
        break;
      }
      await sleep(workloadStart + fault.at_ms - recorder.now());
      const start_ms = recorder.now();
      let done: Awaited<ReturnType<typeof inject>>;
      try {
        done = await inject(cluster, fault);
      } catch (err) {
        say(`chaos: fault #${fault.seq} ${fault.kind} could not be injected: ${(err as Error).message}`);
        continue;
      }
      const record: InjectedFault = { seq: fault.seq, kind: fault.kind, start_ms, end_ms: start_ms + fault.hold_ms, description: done.description, targets: done.targets };
      injected.push(record);
      say(`chaos: [${(start_ms / 1000).toFixed(1)}s] fault #${fault.seq} ${done.description}`);
      await sleep(fault.hold_ms);
      await done.heal();
      record.end_ms = recorder.now();
      say(`chaos: [${(record.end_ms / 1000).toFixed(1)}s] healed #${fault.seq} ${fault.kind} (ops so far: ${recorder.ops.length})`);
      // Restarted processes need seconds on a busy machine: the next fault waits for leaders, so
      // each fault meets a working cluster instead of piling onto one still starting.
      try {
        await cluster.waitForLeaders(RECOVERY_TIMEOUT_MS);
      } catch (err) {
        say(`chaos: the cluster did not recover after #${fault.seq}: ${(err as Error).message}`);
        break;
      }
    }
    await sleep(workloadStart + options.duration_s * 1_000 - recorder.now());
    running = false;
    say('chaos: stopping the workload, healing everything');
    await workloads;
    // The register history needs nothing from the cluster: check it even if recovery fails.
    const register = checkRegister(recorder.ops);
    checkedRegister = register.checked;
    violations.push(...register.violations);
    say(`chaos: register history: ${register.checked} operations checked, ${register.violations.length === 0 ? 'linearizable' : 'NOT linearizable'}`);
    await cluster.healAll();
    await cluster.waitForLeaders(RECOVERY_TIMEOUT_MS);
    await recoverTransactions(cluster, say);
    await cluster.waitForConvergence(CONVERGENCE_TIMEOUT_MS);
    const shop = await checkShop(harness, model, recorder.ops);
    checkedShop = shop.checked;
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
    folder,
    seed: options.seed,
    operations: recorder.ops.length,
    checkedRegister,
    checkedShop,
    faults: injected,
    violations,
    duration_s: (Date.now() - started) / 1000,
  };
  const summary = {
    seed: result.seed,
    ok: result.ok,
    operations: result.operations,
    registerOperationsChecked: checkedRegister,
    shopOperations: checkedShop,
    faultsInjected: injected.length,
    violations: violations.length,
    wallClock_s: result.duration_s,
    replay: `npm run chaos -- --seed ${options.seed} --duration ${options.duration_s} --faults ${options.faults.join(',')}${options.plantedBugs?.length ? ` --planted-bugs ${options.plantedBugs.join(',')}` : ''}`,
  };
  writeFileSync(join(folder, 'history.jsonl'), recorder.ops.map((o) => JSON.stringify(o)).join('\n') + '\n');
  writeFileSync(join(folder, 'faults.json'), `${JSON.stringify(injected, null, 2)}\n`);
  writeFileSync(join(folder, 'summary.json'), `${JSON.stringify({ ...summary, violationList: violations }, null, 2)}\n`);
  writeFileSync(join(folder, 'report.html'), renderReport({ title: `ecom chaos run, seed ${options.seed}`, summary, ops: recorder.ops, faults: injected, violations }));
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
