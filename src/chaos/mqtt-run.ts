import { join } from 'node:path';
import { PortalClient } from '../client/portal-client.js';
import type { Command } from '../domain/commands.js';
import { Recorder, type Violation } from './history.js';
import { checkDivergenceLogs, checkIdentical, checkServed, readerOf } from './mqtt-check.js';
import { MqttChaosCluster, type BrokerKind } from './mqtt-cluster.js';
import { injectMqtt, mqttTargets, type MqttFaultKind } from './mqtt-nemesis.js';
import { replayCommand, runFolder, writeRunFolder, type ChaosResult } from './result.js';
import { planSchedule, playSchedule, type InjectedFault } from './schedule.js';
import { checkShop, newShopModel, PRODUCTS, runShop, setupShop } from './shop.js';

/**
 * One mqtt-mode chaos run: the embedded broker and a few portals in a folder, the shop workload
 * spread over the portals, the seed's faults (broker restarts, portal kills, pauses, cut
 * links), then heal, wait until every portal is live, and check: every portal's state at one
 * point of the log identical, no oversell (conservation, no negative stock), references, every
 * acknowledged write present.
 */
export interface MqttChaosOptions {
  readonly seed: number;
  readonly duration_s: number;
  readonly faults: readonly MqttFaultKind[];
  /** The embedded broker (default) or a real Mosquitto. */
  readonly broker?: BrokerKind;
  /** Planted bugs for the portals (ECOM_TEST_FAULTS). */
  readonly plantedBugs?: readonly string[];
  readonly out?: string;
  readonly portals?: number;
  readonly shopClients?: number;
  readonly progress?: (line: string) => void;
}

/** A restarted portal needs a node start and a state transfer; a busy 2-core machine takes seconds. */
const RECOVERY_TIMEOUT_MS = 60_000;

/** Runs a command through a portal's gRPC API, for the shop's setup. */
async function executeThrough(portal: PortalClient, command: Command): Promise<{ code: number }> {
  const reply =
    command.op === 'CreateProduct'
      ? await portal.createProduct(command.pid, command.data)
      : command.op === 'CreateClient'
        ? await portal.createClient(command.cid, command.data)
        : undefined;
  if (reply === undefined) throw new Error(`shop setup does not send ${command.op}`);
  return { code: reply.error };
}

export async function runMqttChaos(options: MqttChaosOptions): Promise<ChaosResult> {
  const say = options.progress ?? ((line: string) => process.stdout.write(`${line}\n`));
  const folder = runFolder('mqtt', options.seed, options.out);
  const started = Date.now();
  const bugs = options.plantedBugs ?? [];
  const broker = options.broker ?? 'embedded';
  say(`chaos: mqtt mode on the ${broker === 'embedded' ? 'embedded broker' : 'Mosquitto broker'}, seed ${options.seed}, ${options.duration_s} s, faults ${options.faults.join(',') || 'none'}${bugs.length > 0 ? `, ECOM_TEST_FAULTS=${bugs.join(',')}` : ''}`);
  say(`chaos: everything is kept in ${folder}`);
  const cluster = await MqttChaosCluster.create({ dataDir: join(folder, 'data'), portals: options.portals ?? 3, testFaults: bugs.join(','), broker });
  let recorder = new Recorder();
  let injected: InjectedFault[] = [];
  const violations: Violation[] = [];
  const checked = { shop: 0, portals: 0 };
  try {
    await cluster.start();
    say(`chaos: ${broker} broker and ${cluster.portals.length} portals up`);
    const setupPortal = new PortalClient({ host: '127.0.0.1', port: cluster.portals[0]!.port, timeout_ms: 10_000 });
    try {
      await setupShop((command) => executeThrough(setupPortal, command));
    } finally {
      setupPortal.close();
    }
    const schedule = planSchedule({
      seed: options.seed,
      duration_ms: options.duration_s * 1_000,
      kinds: options.faults,
      partitions: 1,
      targets: (kind) => mqttTargets(kind, cluster.portals.length),
    });
    say(`chaos: schedule of ${schedule.length} faults: ${schedule.map((f) => `${(f.at_ms / 1000).toFixed(1)}s ${f.kind}`).join(', ')}`);

    const model = newShopModel();
    recorder = new Recorder();
    let running = true;
    const workloadStart = recorder.now();
    const shop = runShop({ portalPorts: cluster.portals.map((p) => p.port), clients: options.shopClients ?? 6, seed: options.seed, recorder, model, running: () => running });
    injected = await playSchedule({
      schedule,
      inject: (fault) => injectMqtt(cluster, fault),
      // Every portal live again, i.e. answering a state request in step with the log.
      recovered: async () => void (await cluster.allLive(RECOVERY_TIMEOUT_MS)),
      recorder,
      workloadStart_ms: workloadStart,
      duration_ms: options.duration_s * 1_000,
      say,
    });
    running = false;
    say('chaos: stopping the workload, healing everything');
    await shop;
    await cluster.healAll();
    const states = await cluster.allLive(RECOVERY_TIMEOUT_MS);
    checked.portals = states.length;
    const identical = [...checkIdentical(states), ...checkDivergenceLogs(cluster.processes.logDir)];
    identical.push(...(await checkServed(cluster.portals, states[0]!, PRODUCTS.map((p) => p.pid))));
    violations.push(...identical);
    say(`chaos: ${states.length} portals answered at log position ${states[0]!.position}: ${identical.length === 0 ? 'identical' : 'NOT identical'}`);
    const result = await checkShop(readerOf(states[0]!), model, recorder.ops);
    checked.shop = result.checked;
    violations.push(...result.violations);
    say(`chaos: shop: ${result.checked} operations, final state ${result.violations.length === 0 ? 'consistent (no oversell, every acknowledged write present)' : 'INCONSISTENT'}`);
  } catch (err) {
    violations.push({ checker: 'harness', message: `the run did not complete: ${(err as Error).message}`, keys: [] });
  } finally {
    await cluster.stop();
  }
  for (const crash of cluster.crashes) {
    violations.push({ checker: 'process-crash', message: `${crash.name} exited on its own (${crash.exit}); see logs/${crash.name}.log`, keys: [] });
  }
  const result: ChaosResult = {
    ok: violations.length === 0,
    mode: 'mqtt',
    folder,
    seed: options.seed,
    operations: recorder.ops.length,
    checked,
    faults: injected,
    violations,
    duration_s: (Date.now() - started) / 1000,
    replay: replayCommand('mqtt', options.seed, options.duration_s, options.faults, bugs) + (broker === 'mosquitto' ? ' --broker mosquitto' : ''),
  };
  writeRunFolder(result, recorder);
  return result;
}
