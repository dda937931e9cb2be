import { writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ensureClusterSecret, SECRET_FILE_NAME } from '../../net/cluster-secret.js';
import { withClusterClient } from '../../storage/client/cluster-client.js';
import type { ReplicaStatus } from '../../storage/common/protocol.js';
import type { Topology } from '../../storage/common/topology.js';
import { ProcessGroup, type Supervision } from '../../util/process-group.js';
import { waitForPort, type EcomChild } from '../../util/processes.js';
import { defined } from '../../util/assert.js';
import { freePort } from '../../util/ports.js';
import { METRICS_HOST, metricsTarget, type MetricsTarget } from '../../metrics/union.js';
import { ReplicaLinks } from './replica-links.js';

/**
 * Starts and stops the storage replicas of a topology as separate `ecom storage ID`
 * processes, each logging to `<data>/logs/storage-ID.log`. Used by `ecom up`, the tests and
 * the benchmarks, so all of them run the tier the same way.
 */
export interface StorageTierOptions {
  readonly topology: Topology;
  readonly dataDir: string;
  readonly snapshotEvery_entries?: number;
  /** Proposals a leader accepts before it answers "busy" (see `ecom storage --max-pending`). */
  readonly maxPendingProposals?: number;
  /** MQTT broker where leaders announce changed records (portal cache invalidation). */
  readonly broker?: string;
  /** Called as each replica comes up, for progress output. */
  readonly onProgress?: (ready: number, total: number) => void;
  readonly startTimeout_ms?: number;
  /** Restart replicas that exit unexpectedly (`ecom up`); unset, a replica that dies stays down (tests kill them on purpose). */
  readonly supervise?: Supervision;
  /** Route every Raft link through a proxy this process owns, so links can be cut (the dashboard's cut and heal). */
  readonly linkProxies?: boolean;
}

export class StorageTier {
  /** The replica processes, named `storage-ID`, with their logs in `<data>/logs/`. */
  readonly processes: ProcessGroup;
  readonly configFile: string;
  /** The topology as the tier runs it: with the cluster secret it created if it had none. */
  readonly topology: Topology;
  /** Each replica's metrics port, chosen once in start() so a restarted replica serves on the same one. */
  private readonly metricsPorts = new Map<number, number>();
  private links_: ReplicaLinks | undefined;

  constructor(private readonly options: StorageTierOptions) {
    this.processes = new ProcessGroup(join(options.dataDir, 'logs'));
    const secretFile = resolve(options.topology.secretFile ?? join(options.dataDir, SECRET_FILE_NAME));
    ensureClusterSecret(secretFile);
    this.topology = { ...options.topology, secretFile };
    this.configFile = resolve(options.dataDir, 'topology.json');
    writeFileSync(this.configFile, `${JSON.stringify(this.topology, null, 2)}\n`);
  }

  /** Each replica's current process (a restart replaces it). */
  get replicas(): ReadonlyMap<number, EcomChild> {
    const out = new Map<number, EcomChild>();
    for (const replica of this.topology.replicas) {
      const child = this.processes.child(replicaProcessName(replica.id));
      if (child !== undefined) out.set(replica.id, child);
    }
    return out;
  }

  /** The proxies on the Raft links, once start() has opened them; unset without `linkProxies`. */
  get links(): ReplicaLinks | undefined {
    return this.links_;
  }

  /** Starts (or restarts) one replica process, under supervision if the tier supervises. */
  startReplica(id: number): EcomChild {
    const config = this.links_?.topologyFileOf(id) ?? this.configFile;
    const args = ['storage', String(id), '--data', this.options.dataDir, '--storage-config', config];
    if (this.options.snapshotEvery_entries !== undefined) args.push('--snapshot-every', String(this.options.snapshotEvery_entries));
    if (this.options.broker !== undefined) args.push('--broker', this.options.broker);
    if (this.options.maxPendingProposals !== undefined) args.push('--max-pending', String(this.options.maxPendingProposals));
    const metricsPort = this.metricsPorts.get(id);
    if (metricsPort !== undefined) args.push('--metrics-port', String(metricsPort), '--metrics-host', METRICS_HOST);
    return this.processes.start(replicaProcessName(id), args, { supervise: this.options.supervise });
  }

  async start(): Promise<void> {
    const { topology } = this;
    for (const replica of topology.replicas) if (!this.metricsPorts.has(replica.id)) this.metricsPorts.set(replica.id, await freePort(METRICS_HOST));
    if (this.options.linkProxies === true && this.links_ === undefined) this.links_ = await ReplicaLinks.open(topology, dirname(this.configFile));
    for (const replica of topology.replicas) this.startReplica(replica.id);
    let ready = 0;
    await Promise.all(
      topology.replicas.map(async (replica) => {
        const child = defined(this.replicas.get(replica.id), `process of replica ${replica.id}`);
        await waitForPort(replica.host, replica.clientPort, this.options.startTimeout_ms ?? 30_000, child);
        this.options.onProgress?.(++ready, topology.replicas.length);
      }),
    );
    await this.waitForLeaders(this.options.startTimeout_ms ?? 30_000);
  }

  /** Where each replica serves its Prometheus metrics, named as its process is. */
  metricsTargets(): MetricsTarget[] {
    return [...this.metricsPorts].map(([id, port]) => metricsTarget(replicaProcessName(id), port));
  }

  /** Resolves once every partition has a leader. */
  async waitForLeaders(timeout_ms: number): Promise<ReplicaStatus[]> {
    return withClusterClient(this.topology, (client) => client.waitForLeaders(timeout_ms));
  }

  /** The system is stopping: replicas that exit before stop() reaches them (a Ctrl-C reaches them too) are no crash. */
  expectStop(): void {
    this.processes.expectExits();
  }

  async stop(): Promise<void> {
    await this.processes.stop(this.processes.names());
    await this.processes.closeLogs();
    await this.links_?.close();
  }
}

/** The name of replica `id`'s process in the tier's process group (and of its log file). */
export function replicaProcessName(id: number): string {
  return `storage-${id}`;
}
