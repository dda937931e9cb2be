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
import { groupOf, processGroups } from '../../storage/common/colocation.js';

/** How long a colocated tier's start waits for its leaders to be spread over processes (LeaderSpread settles in 1–2 s). */
const SPREAD_WAIT_MS = 5_000;

/**
 * Starts and stops the storage replicas of a topology as `ecom storage ID` processes, each
 * logging to `<data>/logs/storage-ID.log`; colocated, as `ecom storage ID ID...` processes
 * hosting one replica of each partition (`storage-1_4.log`). Used by `ecom up`, the tests and
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
  /**
   * One process per replica slot hosting replica i of every partition (`ecom up --colocate`),
   * instead of one process per replica: fewer processes to schedule, but a crash or a kill
   * takes out one replica of each partition at once.
   */
  readonly colocate?: boolean;
  /** Added to each replica process's environment (tests: ECOM_TEST_FAULTS, docs/chaos.md). */
  readonly env?: NodeJS.ProcessEnv;
}

export class StorageTier {
  /** The replica processes, named `storage-ID`, with their logs in `<data>/logs/`. */
  readonly processes: ProcessGroup;
  readonly configFile: string;
  /** The topology as the tier runs it: with the cluster secret it created if it had none. */
  readonly topology: Topology;
  /** The replicas each process hosts: one each, or one of every partition when colocated. */
  readonly hosted: readonly (readonly number[])[];
  /** Each process's metrics port, chosen once in start() so a restarted process serves on the same one. */
  private readonly metricsPorts = new Map<string, number>();
  private links_: ReplicaLinks | undefined;

  constructor(private readonly options: StorageTierOptions) {
    this.processes = new ProcessGroup(join(options.dataDir, 'logs'));
    const secretFile = resolve(options.topology.secretFile ?? join(options.dataDir, SECRET_FILE_NAME));
    ensureClusterSecret(secretFile);
    this.topology = { ...options.topology, secretFile };
    this.configFile = resolve(options.dataDir, 'topology.json');
    writeFileSync(this.configFile, `${JSON.stringify(this.topology, null, 2)}\n`);
    this.hosted = processGroups(this.topology, options.colocate === true);
  }

  /** The replicas hosted with `id` in its process, itself included. */
  hostedWith(id: number): readonly number[] {
    return groupOf(this.hosted, id);
  }

  /** The name of the process hosting replica `id` (and of its log file). */
  processNameOf(id: number): string {
    return replicaProcessName(this.hostedWith(id));
  }

  /** Each replica's current process (a restart replaces it; colocated replicas share one). */
  get replicas(): ReadonlyMap<number, EcomChild> {
    const out = new Map<number, EcomChild>();
    for (const replica of this.topology.replicas) {
      const child = this.processes.child(this.processNameOf(replica.id));
      if (child !== undefined) out.set(replica.id, child);
    }
    return out;
  }

  /** The proxies on the Raft links, once start() has opened them; unset without `linkProxies`. */
  get links(): ReplicaLinks | undefined {
    return this.links_;
  }

  /** The current process of each process the tier runs, once each. */
  pids(): number[] {
    return this.hosted.flatMap((ids) => this.processes.child(replicaProcessName(ids))?.pid ?? []);
  }

  /**
   * Starts (or restarts) the process hosting replica `id`, under supervision if the tier
   * supervises; colocated, that is the process of every replica hosted with it.
   */
  startReplica(id: number): EcomChild {
    const ids = this.hostedWith(id);
    const config = this.links_?.topologyFileOf(id) ?? this.configFile;
    const args = ['storage', ...ids.map(String), '--data', this.options.dataDir, '--storage-config', config];
    if (this.options.snapshotEvery_entries !== undefined) args.push('--snapshot-every', String(this.options.snapshotEvery_entries));
    if (this.options.broker !== undefined) args.push('--broker', this.options.broker);
    if (this.options.maxPendingProposals !== undefined) args.push('--max-pending', String(this.options.maxPendingProposals));
    const name = replicaProcessName(ids);
    const metricsPort = this.metricsPorts.get(name);
    if (metricsPort !== undefined) args.push('--metrics-port', String(metricsPort), '--metrics-host', METRICS_HOST);
    return this.processes.start(name, args, { supervise: this.options.supervise, ...(this.options.env === undefined ? {} : { env: this.options.env }) });
  }

  async start(): Promise<void> {
    const { topology } = this;
    for (const ids of this.hosted) if (!this.metricsPorts.has(replicaProcessName(ids))) this.metricsPorts.set(replicaProcessName(ids), await freePort(METRICS_HOST));
    if (this.options.linkProxies === true && this.links_ === undefined) this.links_ = await ReplicaLinks.open(topology, dirname(this.configFile), this.hosted);
    for (const ids of this.hosted) this.startReplica(defined(ids[0], 'a hosted replica'));
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

  /**
   * Resolves once the partitions' leaders are in different processes (or after a few seconds).
   * A colocated process elected to lead several partitions hands all but one over within a
   * second or two (LeaderSpread); a benchmark waits for that so that the move stays out of what
   * it measures (it counts leader changes). Not an error when it does not happen: it is how fast
   * the tier runs, not whether it works.
   */
  async waitForLeadersSpread(): Promise<void> {
    const deadline = Date.now() + SPREAD_WAIT_MS;
    const spread = (now: readonly ReplicaStatus[]) => new Set(now.filter((s) => s.role === 'leader').map((s) => this.processNameOf(s.id))).size >= Math.min(this.topology.partitions, this.hosted.length);
    let now = await this.waitForLeaders(SPREAD_WAIT_MS);
    while (!spread(now) && Date.now() < deadline) {
      // The move happens inside the processes; from here there is only their status to poll.
      await new Promise((resolve) => setTimeout(resolve, 100));
      now = await this.waitForLeaders(Math.max(1, deadline - Date.now())).catch(() => now);
    }
  }

  /** Where each process serves its Prometheus metrics, named as the process is. */
  metricsTargets(): MetricsTarget[] {
    return [...this.metricsPorts].map(([name, port]) => metricsTarget(name, port));
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

/** The name of the process hosting replicas `ids` in the tier's process group (and of its log file): storage-1, storage-1_4. */
export function replicaProcessName(ids: readonly number[]): string {
  return `storage-${ids.join('_')}`;
}
