import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ReplicaClusterClient, withClusterClient } from '../storage/client/cluster-client.js';
import type { ReplicaStatus } from '../storage/common/protocol.js';
import { ensureClusterSecret, SECRET_FILE_NAME } from '../net/cluster-secret.js';
import { freeLocalTopology, type Topology } from '../storage/common/topology.js';
import { PartitionedBackend } from '../storage/client/partitioned-backend.js';
import type { EcomChild } from '../util/processes.js';
import { freePort } from '../util/ports.js';
import { ProcessGroup, type Crash } from '../util/process-group.js';
import { LinkProxy, type LinkState } from '../net/link-proxy.js';
import { ReplicaLinks } from '../modes/raft/replica-links.js';
import { replicaProcessName } from '../modes/raft/storage-tier.js';
import { groupOf, processGroups } from '../storage/common/colocation.js';
import { defined } from '../util/assert.js';

/**
 * A raft-mode system under test: one `ecom storage ID` process per replica and a few portal
 * processes, every Raft link between two replicas passing through a LinkProxy so the nemesis can
 * cut it: the ReplicaLinks `ecom up` uses for its dashboard's cut and heal, which gives each
 * replica its own topology file whose peers' Raft ports are the proxies of its links. Portals and
 * the harness use the plain topology (real ports).
 *
 * An MQTT broker (`ecom broker`) carries the storage leaders' change announcements to the
 * portals' read caches (`--cache-ms`): the replicas publish to it directly, each portal
 * subscribes through its own LinkProxy, stalling both directions, so the nemesis can cut or delay one portal's feed.
 */
/**
 * Snapshots ten times as often as by default: a replica killed or cut off for a few seconds then
 * finds the leader's log compacted past it and catches up by snapshot, so sending, staging and
 * installing a store file run under every fault, not only replaying the log.
 */
const SNAPSHOT_EVERY_ENTRIES = 1_000;

export interface ChaosClusterOptions {
  readonly dataDir: string;
  readonly partitions?: number;
  readonly replicasPerPartition?: number;
  readonly portals?: number;
  /** ECOM_TEST_FAULTS given to the replicas and portals (planted bugs, lose-unsynced-on-crash). */
  readonly testFaults?: string;
  /** The portals' read cache bound (`--cache-ms`); 400 ms by default. */
  readonly cacheBound_ms?: number;
  readonly lockTtl_ms?: number;
  readonly requestTimeout_ms?: number;
  readonly startTimeout_ms?: number;
  /** Replica i of every partition in one process, as `ecom up` runs them by default: a kill, pause or restart of a replica is one of its whole process. */
  readonly colocate?: boolean;
}

export interface PortalProcess {
  readonly index: number;
  readonly name: string;
  readonly port: number;
}

export class ChaosCluster {
  /** Every process: `storage-ID` (`storage-1_4` colocated), `portal-N`, `broker`. */
  readonly processes: ProcessGroup;
  /** The replicas each storage process hosts. */
  private readonly hosted: ReadonlyArray<readonly number[]>;
  readonly portals: PortalProcess[] = [];
  /** The proxies on the Raft links, set up by prepare(). */
  private raftLinks: ReplicaLinks | undefined;
  /** Portal index → the proxy between that portal and the broker (its change feed). */
  readonly feedLinks = new Map<number, LinkProxy>();
  brokerPort = 0;
  private readonly backends: PartitionedBackend[] = [];
  private topologyFile = '';

  private constructor(
    readonly options: ChaosClusterOptions,
    readonly topology: Topology,
  ) {
    this.processes = new ProcessGroup(join(options.dataDir, 'logs'));
    this.hosted = processGroups(topology, options.colocate === true);
  }

  /** The name of the process hosting replica `id` (and of its log file). */
  processName(id: number): string {
    return replicaProcessName(groupOf(this.hosted, id));
  }

  /** Processes that exited without the harness killing or stopping them: always a finding. */
  get crashes(): readonly Crash[] {
    return this.processes.crashes;
  }

  private get startTimeout_ms(): number {
    return this.options.startTimeout_ms ?? 60_000;
  }

  static async create(options: ChaosClusterOptions): Promise<ChaosCluster> {
    const secretFile = join(resolve(options.dataDir), SECRET_FILE_NAME);
    ensureClusterSecret(secretFile);
    const topology = { ...(await freeLocalTopology(options.partitions ?? 2, options.replicasPerPartition ?? 3)), secretFile };
    const cluster = new ChaosCluster(options, topology);
    await cluster.prepare();
    return cluster;
  }

  get logDir(): string {
    return join(this.options.dataDir, 'logs');
  }

  get topologyPath(): string {
    return this.topologyFile;
  }

  private async prepare(): Promise<void> {
    mkdirSync(this.logDir, { recursive: true });
    this.topologyFile = join(this.options.dataDir, 'topology.json');
    writeFileSync(this.topologyFile, `${JSON.stringify(this.topology, null, 2)}\n`);
    this.raftLinks = await ReplicaLinks.open(this.topology, this.options.dataDir, this.hosted);
    this.brokerPort = await freePort();
    for (let i = 0; i < (this.options.portals ?? 2); i++) {
      this.portals.push({ index: i, name: `portal-${i}`, port: await freePort() });
      // Both ways: what matters flows back from the broker (its announcements to the portal).
      const feed = new LinkProxy(`portal-${i}<->broker`, await freePort(), this.brokerPort, '127.0.0.1', 'both');
      await feed.listen();
      this.feedLinks.set(i, feed);
    }
  }

  get brokerUrl(): string {
    return `mqtt://127.0.0.1:${this.brokerPort}`;
  }

  get cacheBound_ms(): number {
    return this.options.cacheBound_ms ?? 400;
  }

  /** Starts the broker (again, on the same port: its clients reconnect by themselves). */
  startBroker(): EcomChild {
    return this.processes.start('broker', ['broker', '--port', String(this.brokerPort), '--host', '127.0.0.1']);
  }

  async waitForBroker(): Promise<void> {
    await this.processes.waitForPort('broker', this.brokerPort, this.startTimeout_ms);
  }

  brokerRunning(): boolean {
    return this.processes.isRunning('broker');
  }

  async killBroker(): Promise<void> {
    await this.processes.kill('broker');
  }

  setFeedLink(portal: number, state: LinkState): void {
    this.feedLinks.get(portal)?.set(state);
  }

  /** Starts the process of replica `id`, with every replica it hosts. */
  startReplica(id: number): EcomChild {
    const ids = groupOf(this.hosted, id);
    const args = ['storage', ...ids.map(String), '--data', this.options.dataDir, '--storage-config', this.links.topologyFileOf(id), '--broker', this.brokerUrl];
    args.push('--snapshot-every', String(SNAPSHOT_EVERY_ENTRIES));
    return this.processes.start(this.processName(id), args, { env: { ECOM_TEST_FAULTS: this.options.testFaults ?? '' } });
  }

  startPortal(index: number): EcomChild {
    const portal = this.portals[index]!;
    const args = ['order-server', String(portal.port), '--mode', 'raft', '--storage-config', this.topologyFile];
    args.push('--lock-ttl', String(this.options.lockTtl_ms ?? 1_000), '--request-timeout', String(this.options.requestTimeout_ms ?? 3_000));
    // The portal's change feed goes through its own proxy, so the nemesis can cut it alone.
    args.push('--cache-ms', String(this.cacheBound_ms), '--broker', `mqtt://127.0.0.1:${defined(this.feedLinks.get(index), `change feed link of portal ${index}`).port}`);
    return this.processes.start(portal.name, args, { env: { ECOM_TEST_FAULTS: this.options.testFaults ?? '' } });
  }

  async waitForPortal(index: number): Promise<void> {
    const portal = this.portals[index]!;
    await this.processes.waitForPort(portal.name, portal.port, this.startTimeout_ms);
  }

  async start(): Promise<void> {
    // First, so the leaders' first announcements are not lost to a broker still starting.
    this.startBroker();
    await this.waitForBroker();
    for (const ids of this.hosted) this.startReplica(defined(ids[0], 'a hosted replica'));
    await Promise.all(this.topology.replicas.map((r) => this.processes.waitForPort(this.processName(r.id), r.clientPort, this.startTimeout_ms)));
    await this.waitForLeaders(this.startTimeout_ms);
    this.portals.forEach((p) => this.startPortal(p.index));
    await Promise.all(this.portals.map((p) => this.waitForPortal(p.index)));
  }

  /** A client of the storage tier for the harness (register workload, recovery, final reads). */
  backend(): PartitionedBackend {
    const backend = new PartitionedBackend(new ReplicaClusterClient(this.topology), {
      requestTimeout_ms: this.options.requestTimeout_ms ?? 3_000,
      lockTtl_ms: this.options.lockTtl_ms ?? 1_000,
    });
    this.backends.push(backend);
    return backend;
  }

  async statuses(timeout_ms = 1_000): Promise<Array<ReplicaStatus | { id: number; partition: number; unreachable: string }>> {
    return withClusterClient(this.topology, (client) => client.statuses(timeout_ms));
  }

  /** The replica each partition's replicas agree leads it now, if any. */
  async leaderOf(partition: number): Promise<number | undefined> {
    const up = (await this.statuses(500)).filter((s): s is ReplicaStatus => !('unreachable' in s) && s.partition === partition);
    return up.find((s) => s.role === 'leader')?.id;
  }

  /** Resolves once every partition has a leader; rejects after `timeout_ms`, or at once when a replica crashed. */
  async waitForLeaders(timeout_ms: number): Promise<void> {
    const crashed = () => (this.crashes.length > 0 ? this.crashes.map((c) => `${c.name} crashed (${c.exit})`).join(', ') : undefined);
    await withClusterClient(this.topology, (client) => client.waitForLeaders(timeout_ms, crashed));
  }

  /**
   * Resolves once every replica runs and has applied everything its partition committed, so
   * final reads see settled state; rejects after `timeout_ms`.
   */
  async waitForConvergence(timeout_ms: number): Promise<void> {
    const deadline = Date.now() + timeout_ms;
    for (;;) {
      const all = await this.statuses(1_000);
      const up = all.filter((s): s is ReplicaStatus => !('unreachable' in s));
      const settled =
        up.length === all.length &&
        Array.from({ length: this.topology.partitions }, (_, p) => p).every((p) => {
          const mine = up.filter((s) => s.partition === p);
          const commit = Math.max(...mine.map((s) => s.commitIndex));
          return mine.some((s) => s.role === 'leader') && mine.every((s) => s.appliedIndex >= commit);
        });
      if (settled) return;
      if (this.crashes.length > 0) throw new Error(`cannot converge: ${this.crashes.map((c) => `${c.name} crashed (${c.exit})`).join(', ')}`);
      if (Date.now() > deadline) throw new Error(`the cluster did not converge in ${timeout_ms} ms: ${JSON.stringify(all)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  async killReplica(id: number): Promise<void> {
    await this.processes.kill(this.processName(id));
  }

  /** SIGSTOP; settles once the process is stopped. */
  pauseReplica(id: number): Promise<void> {
    return this.processes.pause(this.processName(id));
  }

  resumeReplica(id: number): void {
    this.processes.resume(this.processName(id));
  }

  isRunning(id: number): boolean {
    return this.processes.isRunning(this.processName(id));
  }

  /** The proxies on the Raft links: each replica's topology file names them as its peers. */
  get links(): ReplicaLinks {
    return defined(this.raftLinks, 'the Raft links prepare() opens');
  }

  setLink(from: number, to: number, state: LinkState): void {
    this.links.set(from, to, state);
  }

  healNetwork(): void {
    this.links.passAll();
    for (const feed of this.feedLinks.values()) feed.set('pass');
  }

  async killPortal(index: number): Promise<void> {
    await this.processes.kill(this.portals[index]!.name);
  }

  portalRunning(index: number): boolean {
    return this.processes.isRunning(this.portals[index]!.name);
  }

  /** Undoes every fault: network healed, paused processes continued, dead processes restarted. */
  async healAll(): Promise<void> {
    this.healNetwork();
    if (!this.brokerRunning()) this.startBroker();
    await this.waitForBroker();
    this.processes.resumeAll();
    for (const r of this.topology.replicas) if (!this.isRunning(r.id)) this.startReplica(r.id);
    for (const p of this.portals) if (!this.portalRunning(p.index)) this.startPortal(p.index);
    await Promise.all(this.portals.map((p) => this.waitForPortal(p.index)));
  }

  async stop(): Promise<void> {
    await Promise.all(this.backends.splice(0).map((b) => b.close()));
    await this.processes.stop(this.portals.map((p) => p.name));
    await this.processes.stop(this.hosted.map((ids) => replicaProcessName(ids)));
    await this.processes.stop(['broker']);
    await Promise.all([this.raftLinks?.close(), ...[...this.feedLinks.values()].map((l) => l.close())]);
    await this.processes.closeLogs();
  }
}
