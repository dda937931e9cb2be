import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startLocalEtcdCluster, type LocalEtcdCluster } from '../modes/etcd/cluster.js';
import { freePort } from '../util/ports.js';
import { StorageTier } from '../modes/raft/storage-tier.js';
import { freeLocalTopology, type Topology } from '../storage/common/topology.js';
import { defined } from '../util/assert.js';
import { findMosquitto, writeMosquittoConfig } from '../util/mosquitto.js';
import { spawnEcom, spawnProgram, waitForPort, type EcomChild } from '../util/processes.js';
import type { MqttTraceable } from './mqtt-trace.js';

/**
 * The systems a benchmark runs against, each started on free loopback ports inside the run's
 * temporary folder and stopped by the returned `stop()`.
 */
export interface Started {
  stop(): Promise<void>;
  /** The processes this system runs (for CPU per operation); empty when unknown. */
  pids?(): number[];
}


export interface RaftTier extends Started {
  readonly tier: StorageTier;
  readonly topology: Topology;
  readonly topologyFile: string;
}

/** How the bench shapes the raft tier; unset, as `ecom up` runs it. */
export interface RaftTierShape {
  /** false: one process per replica (`ecom up --no-colocate`); by default one replica of each partition per process. */
  readonly colocate?: boolean;
  /** The leaders' admission bound (`ecom storage --max-pending`); unset, the shipped default. */
  readonly maxPendingProposals?: number;
}

/** How results name the raft tier: colocated (the default, as ecom up runs it) in 3 processes, or one process per replica, and any bound not the shipped one. */
export function raftTierName(shape: RaftTierShape = {}): string {
  const processes = shape.colocate === false ? 'raft tier 2×3 in 6 processes' : 'raft tier 2×3 in 3 processes';
  return shape.maxPendingProposals === undefined ? processes : `${processes}, leaders take at most ${shape.maxPendingProposals} pending`;
}

/**
 * The raft storage tier as shipped: 2 partitions × 3 replicas, fsync before acknowledgement, in
 * 3 processes each hosting one replica of both partitions as `ecom up` runs it; `colocate: false`
 * runs one process per replica.
 */
export async function startRaftTier(folder: string, shape: RaftTierShape = {}): Promise<RaftTier> {
  const topology = await freeLocalTopology();
  mkdirSync(folder, { recursive: true });
  const tier = new StorageTier({ topology, dataDir: folder, colocate: shape.colocate !== false, ...(shape.maxPendingProposals === undefined ? {} : { maxPendingProposals: shape.maxPendingProposals }) });
  try {
    await tier.start();
    await tier.waitForLeadersSpread();
  } catch (err) {
    await tier.stop();
    throw new Error(`the raft storage tier did not start (logs in ${folder}/logs): ${(err as Error).message}`);
  }
  return { tier, topology: tier.topology, topologyFile: tier.configFile, stop: () => tier.stop(), pids: () => tier.pids() };
}

export async function startEtcd(folder: string): Promise<LocalEtcdCluster> {
  return startLocalEtcdCluster({ size: 3, dataDir: join(folder, 'etcd') });
}

export interface Portal extends Started {
  readonly port: number;
  /** Every portal of the system, `port` first (mqtt mode can run several on one broker). */
  readonly ports?: readonly number[];
  /** The portal's Prometheus metrics (raft mode: `--trace` reads its coordinator's stages there). */
  readonly metricsUrl?: string;
  /** mqtt mode: its broker and portals, for the stage trace (--trace). */
  readonly mqtt?: MqttTraceable;
}

/** How a mode's system is shaped: mqtt mode takes a portal count and a broker. */
export interface PortalSystemOptions extends RaftTierShape {
  readonly portals?: number;
  readonly broker?: 'embedded' | 'mosquitto';
  /** raft mode, for --trace: the portal serves its metrics, where its stages are read (off otherwise: the figures carry no metrics cost). */
  readonly metrics?: boolean;
}

/** One portal server process (`ecom admin-server`), answering both portals on one port. */
export async function startPortal(modeArgs: readonly string[], name: string, options: { metrics?: boolean } = {}): Promise<Portal> {
  const port = await freePort();
  const metricsPort = options.metrics === true ? await freePort() : undefined;
  const metricsArgs = metricsPort === undefined ? [] : ['--metrics-port', String(metricsPort)];
  const child = await spawnListening(['admin-server', String(port), ...modeArgs, ...metricsArgs], name, port);
  const metricsUrl = metricsPort === undefined ? undefined : `http://127.0.0.1:${metricsPort}/metrics`;
  return { port, ...(metricsUrl === undefined ? {} : { metricsUrl }), stop: async () => void (await child.stop()), pids: () => [child.pid] };
}

/** Starts `ecom ...args` and waits until it listens on `port`; a failed start is explained by the child's last lines (a healthy child's log is not shown). */
async function spawnListening(args: readonly string[], name: string, port: number): Promise<EcomChild> {
  const lines: string[] = [];
  const child = spawnEcom(args, {
    name,
    onLine: (_n, line) => {
      lines.push(line);
      if (lines.length > 20) lines.shift();
    },
  });
  try {
    await waitForPort('127.0.0.1', port, 30_000, child);
    return child;
  } catch (err) {
    await child.stop();
    throw new Error(`${name} did not start: ${(err as Error).message}\n${lines.join('\n')}`);
  }
}

/**
 * How each ecom mode is brought up for the portal comparison: a portal process in that mode
 * plus whatever it stores its data in.
 */
export type PortalSystemStarter = (folder: string, options?: PortalSystemOptions) => Promise<Portal>;

export const PORTAL_SYSTEMS: Readonly<Record<string, PortalSystemStarter>> = {
  single: (_folder) => startPortal(['--mode', 'single'], 'portal-single'),
  raft: async (folder, options = {}) => {
    const tier = await startRaftTier(join(folder, 'raft'), options);
    try {
      const portal = await startPortal(['--mode', 'raft', '--storage-config', tier.topologyFile], 'portal-raft', { metrics: options.metrics === true });
      return { port: portal.port, topology: tier.topology, ...(portal.metricsUrl === undefined ? {} : { metricsUrl: portal.metricsUrl }), stop: async () => (await portal.stop(), await tier.stop()), pids: () => [...(portal.pids?.() ?? []), ...(tier.pids?.() ?? [])] };
    } catch (err) {
      await tier.stop();
      throw err;
    }
  },
  etcd: async (folder) => {
    const cluster = await startEtcd(folder);
    try {
      const portal = await startPortal(['--mode', 'etcd', '--etcd', cluster.endpoints.join(',')], 'portal-etcd');
      return { port: portal.port, stop: async () => (await portal.stop(), await cluster.stop()) };
    } catch (err) {
      await cluster.stop();
      throw err;
    }
  },
  // mqtt mode: a broker (the embedded one as `ecom broker`, or Mosquitto) and portals on it.
  mqtt: startMqttPortals,
};

async function startMqttPortals(folder: string, options: PortalSystemOptions = {}): Promise<Portal> {
  const brokerPort = await freePort();
  const broker = startBrokerProcess(folder, brokerPort, options.broker ?? 'embedded');
  const portals: Portal[] = [];
  try {
    await waitForPort('127.0.0.1', brokerPort, 30_000, broker);
    // One after another: a portal joining a running log takes the state from one already there.
    for (let i = 0; i < (options.portals ?? 1); i++) portals.push(await startPortal(['--mode', 'mqtt', '--broker', `mqtt://127.0.0.1:${brokerPort}`], `portal-mqtt-${i}`));
  } catch (err) {
    await Promise.all(portals.map((p) => p.stop()));
    await broker.stop();
    throw err;
  }
  const ports = portals.map((p) => p.port);
  return {
    port: defined(ports[0], 'the first portal'),
    ports,
    mqtt: { brokerUrl: `mqtt://127.0.0.1:${brokerPort}`, portals: () => portals.map((p) => ({ port: p.port, pid: p.pids?.()[0] })) },
    stop: async () => {
      await Promise.all(portals.map((p) => p.stop()));
      await broker.stop();
    },
    pids: () => [...portals.flatMap((p) => p.pids?.() ?? []), broker.pid],
  };
}

function startBrokerProcess(folder: string, port: number, kind: 'embedded' | 'mosquitto'): EcomChild {
  if (kind === 'embedded') return spawnEcom(['broker', '--port', String(port), '--host', '127.0.0.1'], { name: 'broker', onLine: null });
  const binary = findMosquitto();
  if (binary === undefined) throw new Error('--broker mosquitto: Mosquitto is not installed (Debian: apt-get install -y mosquitto)');
  mkdirSync(folder, { recursive: true });
  const config = join(folder, 'mosquitto.conf');
  writeMosquittoConfig(config, '127.0.0.1', port);
  return spawnProgram(binary, ['-c', config], { name: 'mosquitto', onLine: null });
}

export interface VisibilityFloor extends Started {
  /** The portal stand-ins' ports. */
  readonly ports: readonly number[];
  readonly brokerPort: number;
}

/** The visibility floor's stand-ins (src/bench/visibility-floor.ts): a broker and `portals` portals, each its own process. */
export async function startVisibilityFloor(portals = 3): Promise<VisibilityFloor> {
  const children: EcomChild[] = [];
  const stop = async () => void (await Promise.all(children.map((c) => c.stop())));
  const started = async (args: string[], name: string, port: number) => void children.push(await spawnListening(['bench-floor-node', ...args, '--port', String(port)], name, port));
  try {
    const brokerPort = await freePort();
    await started(['broker'], 'floor-broker', brokerPort);
    const ports: number[] = [];
    for (let i = 0; i < portals; i++) {
      const port = await freePort();
      await started(['portal', '--broker-port', String(brokerPort)], `floor-portal-${i}`, port);
      ports.push(port);
    }
    return { ports, brokerPort, stop, pids: () => children.map((c) => c.pid) };
  } catch (err) {
    await stop();
    throw err;
  }
}
