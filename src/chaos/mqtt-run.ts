import { join } from 'node:path';
import { PortalClient } from '../client/portal-client.js';
import type { Command } from '../domain/commands.js';
import type { Recorder, Violation } from './history.js';
import { checkDivergenceLogs, checkIdentical, checkServed, readerOf } from './mqtt-check.js';
import { MqttChaosCluster, type BrokerKind } from './mqtt-cluster.js';
import { injectMqtt, mqttTargets, type MqttFaultKind } from './mqtt-nemesis.js';
import { replayCommand, type ChaosResult } from './result.js';
import { runChaos, type ChaosSystem } from './run.js';
import type { Injection, PlannedFault } from './schedule.js';
import { checkFinalShop, newShopModel, PRODUCTS, runShop, setupShop, type ShopModel } from './shop.js';
import type { Crash } from '../util/process-group.js';

/**
 * An mqtt-mode chaos run: the embedded broker (or Mosquitto) and a few portals, the shop workload
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

class MqttSystem implements ChaosSystem<MqttFaultKind> {
  private readonly model: ShopModel = newShopModel();

  constructor(
    private readonly cluster: MqttChaosCluster,
    private readonly options: MqttChaosOptions,
  ) {}

  get crashes(): readonly Crash[] {
    return this.cluster.crashes;
  }

  get shape(): ChaosSystem<MqttFaultKind>['shape'] {
    return { partitions: 1, targets: (kind) => mqttTargets(kind, this.cluster.portals.length) };
  }

  async start(say: (line: string) => void): Promise<void> {
    await this.cluster.start();
    say(`chaos: ${this.options.broker ?? 'embedded'} broker and ${this.cluster.portals.length} portals up`);
    const setupPortal = new PortalClient({ host: '127.0.0.1', port: this.cluster.portals[0]!.port, timeout_ms: 10_000 });
    try {
      await setupShop((command) => executeThrough(setupPortal, command));
    } finally {
      setupPortal.close();
    }
  }

  inject(fault: PlannedFault<MqttFaultKind>): Promise<Injection> {
    return injectMqtt(this.cluster, fault);
  }

  /** Every portal live again, i.e. answering a state request in step with the log. */
  async recovered(): Promise<void> {
    await this.cluster.allLive(RECOVERY_TIMEOUT_MS);
  }

  workloads(recorder: Recorder, running: () => boolean): Promise<void> {
    return runShop({ portalPorts: this.cluster.portals.map((p) => p.port), clients: this.options.shopClients ?? 6, seed: this.options.seed, recorder, model: this.model, running });
  }

  async check(recorder: Recorder, checked: Record<string, number>, violations: Violation[], say: (line: string) => void): Promise<void> {
    const { cluster } = this;
    await cluster.healAll();
    const states = await cluster.allLive(RECOVERY_TIMEOUT_MS);
    checked.portals = states.length;
    const identical = [...checkIdentical(states), ...checkDivergenceLogs(cluster.processes.logDir)];
    identical.push(...(await checkServed(cluster.portals, states[0]!, PRODUCTS.map((p) => p.pid))));
    violations.push(...identical);
    say(`chaos: ${states.length} portals answered at log position ${states[0]!.position}: ${identical.length === 0 ? 'identical' : 'NOT identical'}`);
    await checkFinalShop(readerOf(states[0]!), this.model, recorder, { checked, violations, say }, ' (no oversell, every acknowledged write present)');
  }

  stop(): Promise<void> {
    return this.cluster.stop();
  }
}

export async function runMqttChaos(options: MqttChaosOptions): Promise<ChaosResult> {
  const bugs = options.plantedBugs ?? [];
  const broker = options.broker ?? 'embedded';
  const build = async (folder: string) =>
    new MqttSystem(await MqttChaosCluster.create({ dataDir: join(folder, 'data'), portals: options.portals ?? 3, testFaults: bugs.join(','), broker }), options);
  return runChaos('mqtt', build, {
    ...options,
    about: `${broker === 'embedded' ? 'embedded broker' : 'Mosquitto'}${bugs.length > 0 ? `, ECOM_TEST_FAULTS=${bugs.join(',')}` : ''}`,
    replay: replayCommand('mqtt', options.seed, options.duration_s, options.faults, bugs) + (broker === 'mosquitto' ? ' --broker mosquitto' : ''),
  });
}
