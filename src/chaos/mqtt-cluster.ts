import { join } from 'node:path';
import { DEFAULT_TOPIC_PREFIX, type StateReply } from '../modes/mqtt/protocol.js';
import { findMosquitto, writeMosquittoConfig } from '../util/mosquitto.js';
import { freePort } from '../util/ports.js';
import { StateProbe } from './mqtt-probe.js';
import { ProcessGroup, type Crash } from '../util/process-group.js';
import { LinkProxy, type LinkState } from '../net/link-proxy.js';

/**
 * An mqtt-mode system under test: the embedded broker (`ecom broker`) and a few portal
 * processes, each connected to the broker through its own LinkProxy so the nemesis can cut or
 * stall one portal's link (both directions: one TCP connection carries its publishes and its
 * deliveries). The harness's state probe talks to the broker directly.
 */
export type BrokerKind = 'embedded' | 'mosquitto';

export interface MqttChaosClusterOptions {
  readonly dataDir: string;
  /** The embedded broker (`ecom broker`, aedes) or a real Mosquitto. */
  readonly broker?: BrokerKind;
  readonly portals?: number;
  /** ECOM_TEST_FAULTS given to the portals (planted bugs). */
  readonly testFaults?: string;
  /** The portals' wait for a peer's state before going on alone. */
  readonly syncTimeout_ms?: number;
  readonly startTimeout_ms?: number;
}

export interface MqttPortal {
  readonly index: number;
  readonly name: string;
  /** gRPC port. */
  readonly port: number;
  /** Its link to the broker. */
  readonly link: LinkProxy;
}

export class MqttChaosCluster {
  readonly processes: ProcessGroup;
  readonly portals: MqttPortal[] = [];
  private probe_: StateProbe | undefined;

  private constructor(
    readonly options: MqttChaosClusterOptions,
    readonly brokerPort: number,
  ) {
    this.processes = new ProcessGroup(join(options.dataDir, 'logs'));
  }

  static async create(options: MqttChaosClusterOptions): Promise<MqttChaosCluster> {
    const cluster = new MqttChaosCluster(options, await freePort());
    for (let index = 0; index < (options.portals ?? 3); index++) {
      const link = new LinkProxy(`portal-${index}<->broker`, await freePort(), cluster.brokerPort, '127.0.0.1', 'both');
      await link.listen();
      cluster.portals.push({ index, name: `portal-${index}`, port: await freePort(), link });
    }
    return cluster;
  }

  get brokerUrl(): string {
    return `mqtt://127.0.0.1:${this.brokerPort}`;
  }

  get crashes(): readonly Crash[] {
    return this.processes.crashes;
  }

  private get startTimeout_ms(): number {
    return this.options.startTimeout_ms ?? 60_000;
  }

  async startBroker(): Promise<void> {
    if (this.options.broker === 'mosquitto') {
      const binary = findMosquitto();
      if (binary === undefined) throw new Error('mosquitto is not installed: apt-get install -y mosquitto, or use the embedded broker');
      const config = join(this.options.dataDir, 'mosquitto.conf');
      writeMosquittoConfig(config, '127.0.0.1', this.brokerPort);
      this.processes.startProgram('broker', binary, ['-c', config]);
    } else {
      this.processes.start('broker', ['broker', '--port', String(this.brokerPort), '--host', '127.0.0.1']);
    }
    await this.processes.waitForPort('broker', this.brokerPort, this.startTimeout_ms);
  }

  async startPortal(index: number): Promise<void> {
    const portal = this.portals[index]!;
    const args = ['order-server', String(portal.port), '--mode', 'mqtt', '--broker', `mqtt://127.0.0.1:${portal.link.port}`];
    if (this.options.syncTimeout_ms !== undefined) args.push('--sync-timeout-ms', String(this.options.syncTimeout_ms));
    this.processes.start(portal.name, args, { env: { ECOM_TEST_FAULTS: this.options.testFaults ?? '' } });
    // A portal opens its gRPC port once it holds the current state.
    await this.processes.waitForPort(portal.name, portal.port, this.startTimeout_ms);
  }

  async start(): Promise<void> {
    await this.startBroker();
    // One after the other: the first starts empty (nobody to ask), each next one takes a peer's state.
    for (const portal of this.portals) await this.startPortal(portal.index);
    this.probe_ = new StateProbe(this.brokerUrl, DEFAULT_TOPIC_PREFIX);
  }

  brokerRunning(): boolean {
    return this.processes.isRunning('broker');
  }

  portalRunning(index: number): boolean {
    return this.processes.isRunning(this.portals[index]!.name);
  }

  setLink(index: number, state: LinkState): void {
    this.portals[index]!.link.set(state);
  }

  /** Resolves once every portal answers the same state request, i.e. is live and in step with the log. */
  async allLive(timeout_ms: number): Promise<StateReply[]> {
    if (this.probe_ === undefined) throw new Error('the cluster was not started');
    return this.probe_.allLive(this.portals.length, timeout_ms);
  }

  /** Undoes every fault: links restored, paused portals continued, the broker and dead portals restarted. */
  async healAll(): Promise<void> {
    for (const portal of this.portals) portal.link.set('pass');
    this.processes.resumeAll();
    if (!this.brokerRunning()) await this.startBroker();
    await Promise.all(this.portals.filter((p) => !this.portalRunning(p.index)).map((p) => this.startPortal(p.index)));
  }

  async stop(): Promise<void> {
    await this.probe_?.close();
    // Portals first, so none of them takes the broker's departure for an outage.
    await this.processes.stop(this.portals.map((p) => p.name));
    await this.processes.stop(['broker']);
    await Promise.all(this.portals.map((p) => p.link.close()));
    await this.processes.closeLogs();
  }
}
