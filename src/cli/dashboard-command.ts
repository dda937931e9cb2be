import { InvalidArgumentError, Option, type Command } from 'commander';
import { DEFAULTS } from '../config/defaults.js';
import { parsePort } from '../config/options.js';
import { DEFAULT_DASHBOARD_PORT, scrapeSamples, serveDashboard } from '../dashboard/serve.js';
import { clusterSecretOption } from '../modes/cluster-secret-option.js';
import { configOption, topologyFrom } from '../modes/raft/storage-config.js';
import { createLogger } from '../util/log.js';
import { closeOnSignals } from '../util/shutdown.js';
import { parseMetricsTarget, scrapeUnion, type MetricsTarget } from '../metrics/union.js';

function collectTarget(text: string, previous: MetricsTarget[]): MetricsTarget[] {
  try {
    const target = parseMetricsTarget(text);
    if (previous.some((t) => t.process === target.process)) throw new Error(`--metrics-target ${target.process} is given twice; each process needs its own name`);
    return [...previous, target];
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

/** `ecom dashboard`: the live page of `ecom up --dashboard-port`, for a storage tier started by hand (no process controls). */
export function registerDashboardCommand(program: Command): void {
  program
    .command('dashboard')
    .description("Serve the live dashboard of a storage tier started by hand (ecom up serves its own): each partition's replicas, roles, terms and indexes, and a timeline of elections.")
    .addOption(configOption())
    .addOption(clusterSecretOption())
    .addOption(new Option('--port <port>', 'serve on http://127.0.0.1:PORT').argParser(parsePort).default(DEFAULT_DASHBOARD_PORT))
    .addOption(new Option('--metrics-target <name=url>', 'a process started with --metrics-port, to include in the union served at /metrics (repeat for each)').argParser(collectTarget).default([]))
    .addHelpText('after', `\nExamples:\n  $ ecom dashboard --storage-config cluster.json --cluster-secret ./data/cluster.secret\n  $ ecom dashboard --port 8081\n  $ ecom dashboard --metrics-target storage-1=http://127.0.0.1:9101/metrics --metrics-target admin=http://127.0.0.1:9100/metrics\n\nIts buttons (kill, pause, restart) exist only on the dashboard of "ecom up", which started the replicas.`)
    .action(async (opts: { storageConfig?: string; clusterSecret?: string; port: number; metricsTarget: MetricsTarget[] }) => {
      const log = createLogger('dashboard');
      const closers = closeOnSignals((signal) => log.info(`${signal}: stopping the dashboard`));
      const targets = opts.metricsTarget;
      const metrics = targets.length === 0 ? undefined : () => scrapeUnion(targets);
      // The portals panel shows whichever targets are portals (those with gRPC counters).
      const scrapePortals = targets.length === 0 ? undefined : scrapeSamples(targets);
      const dashboard = await serveDashboard({ topology: topologyFrom(opts), host: DEFAULTS.host, port: opts.port, log, metrics, scrapePortals });
      closers.push(() => dashboard.close());
      log.info(`Dashboard: ${dashboard.url} (Ctrl-C stops it)`);
      if (metrics !== undefined) log.info(`Prometheus metrics of ${targets.map((t) => t.process).join(', ')} in one scrape: ${dashboard.url}metrics`);
    });
}
