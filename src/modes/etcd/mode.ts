import { InvalidArgumentError, Option } from 'commander';
import type { ModeDefinition, ModeOptions } from '../mode.js';
import type { EtcdBackend } from './backend.js';
import { ETCD_BACKEND_DEFAULTS, parseEndpoints } from './settings.js';
import { ETCD_INSTALL_HINT, findEtcdBinary, startLocalEtcdCluster, type LocalEtcdCluster } from './cluster.js';
import { DEFAULT_ETCD_PREFIX, normalizePrefix } from './keys.js';
import type { Logger } from '../../util/log.js';
import { assert } from '../../util/assert.js';
import type { ProcessMetrics } from '../../metrics/process-metrics.js';
import type { MetricsTarget } from '../../metrics/union.js';
import { logMetricsTargets, serveUpMetrics } from '../metrics-ports.js';
import { claimPorts } from '../../util/ports.js';
import { portalPortsWanted } from '../wanted-ports.js';
import { serveBothPortals } from '../in-process-portals.js';

/** etcd mode (docs/spec.md R-MODE-4, R-CONS-10): the portals keep their data in an etcd cluster. */

function argParser<T>(parse: (text: string) => T): (text: string) => T {
  return (text) => {
    try {
      return parse(text);
    } catch (err) {
      throw new InvalidArgumentError(err instanceof Error ? err.message : String(err));
    }
  };
}

function nonNegativeInteger(what: string, max: number): (text: string) => number {
  return (text) => {
    if (!/^\d+$/.test(text) || Number(text) > max) throw new Error(`${what} must be a whole number from 0 to ${max}, not "${text}"`);
    return Number(text);
  };
}

const etcdOption = (required: boolean) =>
  new Option(
    '--etcd <urls>',
    required
      ? 'etcd mode: client URLs of the etcd cluster, comma-separated (e.g. http://127.0.0.1:2379)'
      : 'etcd mode: use this etcd cluster (comma-separated client URLs) instead of starting a local one',
  ).argParser(argParser(parseEndpoints));

const sharedOptions = () => [
  new Option('--etcd-prefix <prefix>', 'etcd mode: key prefix of this shop, so several shops can share one cluster')
    .default(DEFAULT_ETCD_PREFIX)
    .argParser(argParser(normalizePrefix)),
  new Option('--cache-ms <ms>', 'etcd mode: serve reads from a cache kept current by the etcd watch, entries at most this old (0 = off)')
    .default(ETCD_BACKEND_DEFAULTS.cache_ms)
    .argParser(argParser(nonNegativeInteger('--cache-ms', 3_600_000))),
  new Option('--etcd-timeout-ms <ms>', 'etcd mode: answer 503 when etcd has not completed a request within this time')
    .default(ETCD_BACKEND_DEFAULTS.timeout_ms)
    .argParser(argParser(nonNegativeInteger('--etcd-timeout-ms', 600_000))),
];

interface EtcdModeOptions {
  endpoints: string[] | undefined;
  prefix: string;
  cache_ms: number;
  timeout_ms: number;
}

function readOptions(options: ModeOptions): EtcdModeOptions {
  const etcd = options.etcd;
  const prefix = options.etcdPrefix ?? DEFAULT_ETCD_PREFIX;
  const cache_ms = options.cacheMs ?? ETCD_BACKEND_DEFAULTS.cache_ms;
  const timeout_ms = options.etcdTimeoutMs ?? ETCD_BACKEND_DEFAULTS.timeout_ms;
  assert(etcd === undefined || Array.isArray(etcd), '--etcd was not parsed into a list');
  assert(typeof prefix === 'string' && typeof cache_ms === 'number' && typeof timeout_ms === 'number', 'etcd mode options were not parsed');
  // --cache-ms may be parsed by another mode's identical option (the CLI registers each name once).
  if (!Number.isSafeInteger(cache_ms) || cache_ms < 0) throw new Error(`--cache-ms must be a whole number of milliseconds (0 = off), not ${cache_ms}`);
  if (timeout_ms < 100) throw new Error(`--etcd-timeout-ms ${timeout_ms} is too short for any etcd round trip; use at least 100`);
  return { endpoints: etcd as string[] | undefined, prefix, cache_ms, timeout_ms };
}

export async function openEtcdBackend(options: EtcdModeOptions & { endpoints: readonly string[] }, log: Logger): Promise<EtcdBackend> {
  const { EtcdBackend } = await import('./backend.js');
  return EtcdBackend.open({
    endpoints: options.endpoints,
    prefix: options.prefix,
    timeout_ms: options.timeout_ms,
    call_timeout_ms: Math.min(ETCD_BACKEND_DEFAULTS.call_timeout_ms, options.timeout_ms),
    max_attempts: ETCD_BACKEND_DEFAULTS.max_attempts,
    cache_ms: options.cache_ms,
    log,
  });
}

export const etcdMode: ModeDefinition = {
  name: 'etcd',
  summary: 'data in an etcd cluster, one guarded transaction per write; up starts a local 3-member cluster unless --etcd is given',
  serverOptions: () => [etcdOption(true), ...sharedOptions()],
  upOptions: () => [
    etcdOption(false),
    ...sharedOptions(),
    new Option('--etcd-data <dir>', 'etcd mode: keep the local cluster\'s data in this directory (default: a temporary one, deleted on exit)'),
    new Option('--etcd-base-port <port>', 'etcd mode: first of 6 ports for the local cluster (3 client, 3 peer; default: free ports, or 23790 with --etcd-data)').argParser(
      argParser(nonNegativeInteger('--etcd-base-port', 65_530)),
    ),
  ],

  async createBackend(options, ctx) {
    const parsed = readOptions(options);
    if (parsed.endpoints === undefined) {
      throw new Error('etcd mode needs --etcd URLS (e.g. --etcd http://127.0.0.1:2379,http://127.0.0.1:22379); "ecom up --mode etcd" starts a local cluster for you');
    }
    ctx.log.info({ etcd: parsed.endpoints, prefix: parsed.prefix, cacheMs: parsed.cache_ms }, 'etcd mode: using etcd');
    return openEtcdBackend({ ...parsed, endpoints: parsed.endpoints }, ctx.log);
  },

  async up(options, ctx) {
    const parsed = readOptions(options);
    await claimPorts(portalPortsWanted(ctx.host, options));
    let cluster: LocalEtcdCluster | undefined;
    let endpoints = parsed.endpoints;
    if (endpoints === undefined) {
      if (findEtcdBinary() === undefined) throw new Error(ETCD_INSTALL_HINT);
      const dataDir = typeof options.etcdData === 'string' ? options.etcdData : undefined;
      const basePort = typeof options.etcdBasePort === 'number' ? options.etcdBasePort : dataDir !== undefined ? 23_790 : undefined;
      const etcdLog = ctx.log.child({ part: 'etcd' });
      cluster = await startLocalEtcdCluster({
        // A cluster started for this machine stays on loopback whatever --host the portals use.
        host: '127.0.0.1',
        ...(dataDir !== undefined ? { dataDir } : {}),
        ...(basePort !== undefined ? { basePort } : {}),
        onLine: (member, line) => etcdLog.debug({ member }, line),
      });
      endpoints = [...cluster.endpoints];
      ctx.log.info({ etcd: endpoints, data: dataDir ?? '(temporary)' }, 'started a local 3-member etcd cluster');
    }
    const targets: MetricsTarget[] = [];
    let metrics: ProcessMetrics | undefined;
    try {
      metrics = await serveUpMetrics(targets, ctx.log);
      // etcd serves its own metrics on its client URLs.
      for (const [i, url] of (cluster?.endpoints ?? []).entries()) targets.push({ process: `etcd-${i + 1}`, url: `${url}/metrics` });
      const backend = await openEtcdBackend({ ...parsed, endpoints }, ctx.log);
      const portals = await serveBothPortals(backend, options, ctx, metrics);
      const { adminPort, orderPort } = portals;
      ctx.log.info({ adminPort, orderPort, etcd: endpoints, prefix: parsed.prefix }, 'etcd mode: AdminPortal and OrderPortal are serving');
      logMetricsTargets(ctx.log, targets);
      const served = metrics;
      return {
        adminPorts: [adminPort],
        orderPorts: [orderPort],
        metricsTargets: targets,
        async stop() {
          await portals.shutdown();
          await cluster?.stop();
          await served.close();
        },
      };
    } catch (err) {
      await cluster?.stop();
      await metrics?.close();
      throw err;
    }
  },
};
