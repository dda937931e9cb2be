import { plantedFromEnvironment } from '../../faults/planted.js';
import { existsSync, rmSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import { Option } from 'commander';
import { brokerOption, parseMilliseconds, parsePort } from '../../config/options.js';
import { configOption, topologyFrom } from './storage-config.js';
import { clusterSecretOption } from '../cluster-secret-option.js';
import { brokerCredentials, createClusterSecret, type BrokerCredentials } from '../../net/cluster-secret.js';
import { clusterSecretOf } from '../../storage/common/topology.js';
import { ReplicaClusterClient, withClusterClient } from '../../storage/client/cluster-client.js';
import type { ReplicaStatus } from '../../storage/common/protocol.js';
import { PartitionedBackend } from '../../storage/client/partitioned-backend.js';
import { DEFAULTS } from '../../config/defaults.js';
import { spawnEcom, waitForPort } from '../../util/processes.js';
import { restartPolicy } from '../restart-option.js';
import { Supervisor } from '../../util/supervisor.js';
import { claimPorts, type WantedPort } from '../../util/ports.js';
import { portalPortsWanted } from '../wanted-ports.js';
import { withCleanup, type Backend } from '../../domain/backend.js';
import { CachedBackend } from '../../storage/client/read-cache.js';
import type { ModeContext, ModeDefinition, ModeOptions } from '../mode.js';
import { StorageTier } from './storage-tier.js';
import { logMetricsTargets, metricsArgs } from '../metrics-ports.js';
import { scrapeUnion, type MetricsTarget } from '../../metrics/union.js';
import { defined } from '../../util/assert.js';
import { DEFAULT_DASHBOARD_PORT, scrapeSamples, serveDashboard } from '../../dashboard/serve.js';
import type { Dashboard } from '../../dashboard/server.js';
import type { Logger } from '../../util/log.js';
import { SupervisedEvents, tierControls } from './tier-controls.js';
import { linkProxiesRefusal } from './replica-links.js';
import type { Topology } from '../../storage/common/topology.js';
import { isLoopback } from '../../util/loopback.js';

/**
 * raft mode: the data lives in partitions of Raft-replicated storage replicas on disk; every
 * rule runs inside their state machines and the portals keep nothing of their own.
 */
const RECOVERY_INTERVAL_MS = 2_000;

const cacheOption = () =>
  new Option('--cache-ms <ms>', 'raft and etcd modes: serve reads from a portal cache at most this old (0: no cache; writes never use it); in raft mode the cache serves only while its change feed through --broker is connected').argParser(parseMilliseconds).default(0);

async function confirmWipe(dir: string, assumeYes: boolean): Promise<boolean> {
  if (assumeYes) return true;
  if (!process.stdin.isTTY) throw new Error(`--fresh would delete ${dir}; add --yes to confirm when not at a terminal`);
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  const answer = await rl.question(`Delete everything in ${dir}? [y/N] `);
  rl.close();
  return /^y(es)?$/i.test(answer.trim());
}

/** Puts the optional read cache in front, invalidated by the storage tier's change feed when a broker is given. */
async function withCache(backend: Backend, options: ModeOptions, ctx: ModeContext, credentials: BrokerCredentials): Promise<Backend> {
  const bound_ms = Number(options.cacheMs ?? 0);
  if (!(bound_ms > 0)) return backend;
  const broker = typeof options.broker === 'string' ? options.broker : undefined;
  // With a feed, the cache serves nothing until subscribed and nothing while disconnected:
  // announcements published meanwhile are lost (QoS 0), so entries could not be trusted.
  const seams = plantedFromEnvironment()?.cacheSeams() ?? { hearsFeedState: true };
  const cached = new CachedBackend(backend, { bound_ms, feed: broker !== undefined && seams.hearsFeedState, now: seams.now });
  if (ctx.metrics !== undefined) (await import('../../metrics/cache-metrics.js')).watchCache(ctx.metrics, cached);
  // The MQTT client (about 150 ms of CPU to load) only for a portal that listens to the feed.
  const subscriber =
    broker === undefined
      ? undefined
      : new (await import('../../storage/common/change-feed.js')).ChangeSubscriber(broker, 'portal-cache', ctx.log, (key) => cached.invalidate(key), {
          onDown: () => {
            if (seams.hearsFeedState) cached.feedDown();
            ctx.log.info({ broker }, 'change feed down: cache cleared, reads go to storage until it is back');
          },
          onUp: () => {
            if (seams.hearsFeedState) cached.feedUp();
            ctx.log.info({ broker }, 'change feed up: cache cleared and serving again');
          },
        }, credentials);
  ctx.log.info({ bound_ms, invalidatedBy: broker ?? 'nothing (entries only age out)' }, 'portal read cache on');
  return withCleanup(cached, () => subscriber?.close());
}

export const raftMode: ModeDefinition = {
  name: 'raft',
  summary: 'partitions of Raft-replicated storage replicas on disk; portals hold no data',
  serverOptions: () => [
    configOption(),
    clusterSecretOption(),
    new Option('--request-timeout <ms>', 'raft mode: how long a request may wait for the storage tier before a 503').argParser(parseMilliseconds).default(5_000),
    new Option('--lock-ttl <ms>', 'raft mode: how long a cross-partition transaction may hold locks before recovery may abort it').argParser(parseMilliseconds).default(5_000),
    cacheOption(),
    brokerOption(),
  ],
  upOptions: () => [
    configOption(),
    clusterSecretOption(),
    cacheOption(),
    new Option('--data <dir>', 'raft mode: where the replicas keep their data').default('./data'),
    new Option('--fresh', 'raft mode: delete the data directory first (asks unless --yes)'),
    new Option('--yes', 'answer yes to --fresh without asking'),
    new Option('--dashboard-port <port>', 'raft mode: serve the live dashboard on http://127.0.0.1:PORT (0: no dashboard)').argParser(parsePort).default(DEFAULT_DASHBOARD_PORT),
    new Option('--colocate', 'raft mode (the default): run one storage process per replica slot, hosting one replica of every partition (replicas 1 and 4, 2 and 5, 3 and 6): fewer processes for the cores to switch between; a crash or a kill takes one replica of each partition at once'),
    new Option('--no-colocate', 'raft mode: run one storage process per replica (6 processes), as `ecom storage ID` runs one by hand: a kill takes one replica only'),
    new Option('--no-link-proxies', "raft mode: let the replicas' Raft links run direct instead of through the proxies the dashboard's cut and heal buttons use (they are there only while the dashboard is)"),
  ],

  async createBackend(options, ctx) {
    const topology = topologyFrom(options as { storageConfig?: string; clusterSecret?: string });
    const cluster = new ReplicaClusterClient(topology);
    const partitioned = new PartitionedBackend(cluster, {
      requestTimeout_ms: Number(options.requestTimeout ?? 5_000),
      lockTtl_ms: Number(options.lockTtl ?? 5_000),
    });
    const backend = await withCache(partitioned, options, ctx, brokerCredentials(clusterSecretOf(topology)));
    // Metrics code is loaded only where metrics are served: `ecom up`, which shares this module, serves none of its own.
    if (ctx.metrics !== undefined) {
      (await import('../../metrics/transaction-metrics.js')).watchTransactions(ctx.metrics, partitioned.coordinator);
      (await import('../../metrics/storage-client-metrics.js')).watchSendWindows(ctx.metrics, cluster);
    }
    // Transactions abandoned by a portal that died are finished or rolled back by any portal.
    const timer = setInterval(() => {
      partitioned.coordinator.recover().then(
        (done) => {
          if (done.resolvedLocks + done.finishedDecisions > 0) ctx.log.info(done, 'recovered abandoned transactions');
        },
        (err: unknown) => ctx.log.debug({ err: (err as Error).message }, 'recovery pass did not finish'),
      );
    }, RECOVERY_INTERVAL_MS);
    timer.unref();
    return withCleanup(backend, () => clearInterval(timer));
  },

  async up(options, ctx) {
    const dataDir = typeof options.data === 'string' ? options.data : './data';
    const topology = topologyFrom(options as { storageConfig?: string; clusterSecret?: string }, dataDir);
    const brokerPort = typeof options.brokerPort === 'number' ? options.brokerPort : DEFAULTS.mqttPort;
    await claimPorts(portsOfUp(topology, options, ctx.host, brokerPort));
    // Only now: a system that cannot start must not have cost the data.
    if (options.fresh === true) await wipe(dataDir, options.yes === true);
    const secretFile = defined(topology.secretFile, 'the secret file topologyFrom always sets');
    if (createClusterSecret(secretFile)) ctx.log.info({ file: secretFile }, 'created the cluster secret (owner-only); processes started by hand take it with --cluster-secret');
    const brokerUrl = `mqtt://${ctx.host}:${brokerPort}`;
    const portals: Supervisor[] = [];
    let broker: Supervisor | undefined;
    let tier: StorageTier | undefined;
    let dashboard: Dashboard | undefined;
    const lifecycle = new SupervisedEvents();
    const supervise = { restart: restartPolicy(options), log: ctx.log };
    const targets: MetricsTarget[] = [];
    const stop = async () => {
      // Everything is told first: a Ctrl-C reached every child too, and some exit before their turn below.
      broker?.expectExit();
      for (const portal of portals) portal.expectExit();
      tier?.expectStop();
      await dashboard?.close();
      await Promise.all(portals.map((p) => p.stop()));
      await tier?.stop();
      await broker?.stop();
    };
    try {
      // Nothing here waits for anything else: the broker, the replicas and the portals load at
      // once (a portal finds the leaders when its first request needs them), and the system is
      // up once all of them listen and every partition has a leader.
      // The embedded broker carries the storage tier's change feed to portal caches.
      const brokerArgs = ['broker', '--port', String(brokerPort), '--host', ctx.host, '--cluster-secret', secretFile, ...(await metricsArgs(targets, `broker-${brokerPort}`))];
      broker = new Supervisor({ name: `broker-${brokerPort}`, ...supervise, onStarted: lifecycle.watch(`broker-${brokerPort}`), start: () => spawnEcom(brokerArgs, { name: `broker-${brokerPort}` }) });
      const starting = [waitForPort(ctx.host, brokerPort, 30_000, broker.current)];
      const dashboardPort = Number(options.dashboardPort ?? DEFAULT_DASHBOARD_PORT);
      const linksOff = linkProxiesOff(topology, dashboardPort, options.linkProxies !== false);
      tier = new StorageTier({
        topology,
        dataDir,
        broker: brokerUrl,
        onProgress: (ready, total) => ctx.log.info(`storage replicas listening: ${ready}/${total}`),
        supervise,
        linkProxies: linksOff === undefined,
        colocate: options.colocate !== false,
      });
      starting.push(startTier(tier, ctx.log));
      const common = ['--mode', 'raft', '--storage-config', tier.configFile, '--host', ctx.host, '--lang', ctx.lang, '--broker', brokerUrl];
      common.push('--cache-ms', String(Number(options.cacheMs ?? 0)));
      for (const [role, port] of [['admin-server', options.adminPort], ['order-server', options.orderPort]] as const) {
        const args = [role, String(port), ...common, ...ctx.portalSecurityArgs, ...(await metricsArgs(targets, `${role}-${port}`))];
        const portal = new Supervisor({ name: `${role}-${port}`, ...supervise, onStarted: lifecycle.watch(`${role}-${port}`), start: () => spawnEcom(args, { name: `${role}-${port}` }) });
        portals.push(portal);
        starting.push(waitForPort(ctx.host, port, 30_000, portal.current));
      }
      await Promise.all(starting);
      targets.push(...tier.metricsTargets());
      const statuses = await withClusterClient(topology, (client) => client.statuses(1_000));
      for (const s of statuses) {
        const address = defined(topology.replicas.find((r) => r.id === s.id), `replica ${s.id} of the topology`);
        const role = 'unreachable' in s ? 'down' : (s as ReplicaStatus).role;
        const leader = 'unreachable' in s ? '?' : String((s as ReplicaStatus).leader);
        ctx.log.info(`storage ${s.id}: partition ${s.partition}, ${role}, leader ${leader}, ${address.host}:${address.clientPort} (raft :${address.raftPort}), pid ${tier.replicas.get(s.id)?.pid}`);
      }
      ctx.log.info(`MQTT broker (change feed): ${brokerUrl} (pid ${broker.current.pid})`);
      dashboard = await startDashboardOf(tier, lifecycle, dashboardPort, ctx.log, targets, linksOff);
      logMetrics(ctx.log, targets, dashboard);
      ctx.log.info(`AdminPortal: ${ctx.host}:${options.adminPort} (pid ${portals[0]?.current.pid}); OrderPortal: ${ctx.host}:${options.orderPort} (pid ${portals[1]?.current.pid}); data in ${dataDir}; logs in ${dataDir}/logs; from another terminal: ecom status --storage-config ${tier.configFile}`);
    } catch (err) {
      await stop();
      throw err;
    }
    return { adminPorts: [options.adminPort], orderPorts: [options.orderPort], stop, metricsTargets: targets, ...(dashboard === undefined ? {} : { dashboardUrl: dashboard.url }) };
  },
};

/** Starts the tier's replicas and waits for every partition to have a leader. */
async function startTier(tier: StorageTier, log: Logger): Promise<void> {
  await tier.start();
  log.info('every partition has a leader');
  if (tier.links !== undefined) log.info("Raft links between replicas pass through ecom up's own proxies, so the dashboard can cut and heal them (--no-link-proxies runs them direct)");
}

/**
 * Why the replicas' Raft links run direct, or undefined when they go through ecom up's proxies:
 * those are there only for the dashboard's cut and heal, so with no dashboard (or no controls,
 * which exist only on loopback) they stay off the path and cost nothing.
 */
function linkProxiesOff(topology: Topology, dashboardPort: number, wanted: boolean): string | undefined {
  if (dashboardPort === 0) return 'no dashboard';
  if (!wanted) return 'ecom up runs with --no-link-proxies: the Raft links run direct, with nothing on them to cut';
  if (!isLoopback(DEFAULTS.host)) return `the dashboard does not listen on loopback (${DEFAULTS.host})`;
  const refusal = linkProxiesRefusal(topology);
  return refusal === undefined ? undefined : `cut and heal are off: ${refusal}`;
}

/** `--fresh`: the data directory goes, once the user has said yes (or passed --yes). */
async function wipe(dataDir: string, yes: boolean): Promise<void> {
  if (!existsSync(dataDir)) return;
  if (!(await confirmWipe(dataDir, yes))) throw new Error('not wiping the data directory; nothing started');
  rmSync(dataDir, { recursive: true, force: true });
}

/** Every port `ecom up` in raft mode listens on but the dashboard's, whose loss costs the dashboard only. */
function portsOfUp(topology: Topology, options: ModeOptions & { adminPort: number; orderPort: number }, host: string, brokerPort: number): WantedPort[] {
  return [
    { host, port: brokerPort, what: 'the MQTT broker of the change feed', option: '--broker-port' },
    ...portalPortsWanted(host, options),
    ...topology.replicas.flatMap((r) => [
      { host: r.host, port: r.clientPort, what: `storage replica ${r.id}'s client port`, option: '--storage-config' },
      { host: r.host, port: r.raftPort, what: `storage replica ${r.id}'s Raft port`, option: '--storage-config' },
    ]),
  ];
}

/** The dashboard with controls over the tier's replicas; a taken port costs the dashboard, not the system. */
async function startDashboardOf(tier: StorageTier, others: SupervisedEvents, port: number, log: Logger, targets: readonly MetricsTarget[], linksOff: string | undefined): Promise<Dashboard | undefined> {
  if (port === 0) return undefined;
  try {
    const controls = tierControls(tier, others, linksOff);
    const dashboard = await serveDashboard({ topology: tier.topology, host: DEFAULTS.host, port, controls, log, metrics: () => scrapeUnion(targets), scrapePortals: scrapeSamples(targets.filter((t) => /^(admin|order)-server-/.test(t.process))) });
    const buttons = controls.linksRefusal === undefined ? 'kill, pause and restart replicas, and cut and heal their links' : `kill, pause and restart replicas (no cut and heal: ${controls.linksRefusal})`;
    log.info(`Dashboard: ${dashboard.url} (live view of the storage tier; its buttons ${buttons})`);
    return dashboard;
  } catch (err) {
    log.warn(`no dashboard: ${(err as Error).message}; everything else runs. Choose a free port with --dashboard-port N (0 for none)`);
    return undefined;
  }
}

/** Where Prometheus finds the system: the union on the dashboard's server, and each process on its own port. */
function logMetrics(log: Logger, targets: readonly MetricsTarget[], dashboard: Dashboard | undefined): void {
  const each = targets.map((t) => `${t.process} ${t.url}`).join(', ');
  if (dashboard !== undefined) log.info(`Prometheus metrics: ${new URL('metrics', dashboard.url).href} (every process, labelled process="..."); each process: ${each}`);
  else logMetricsTargets(log, targets);
}
