import type { Topology } from '../storage/common/topology.js';
import type { Logger } from '../util/log.js';
import type { ReplicaControls } from './controls.js';
import { ClusterFeed } from './feed.js';
import { PortalFeed } from './portal-feed.js';
import type { Sample } from './portal-rates.js';
import { parseExposition } from '../metrics/exposition.js';
import { scrapeUnion, type MetricsTarget } from '../metrics/union.js';
import { startDashboard, type Dashboard } from './server.js';

/** The default port of `ecom up --dashboard-port` and `ecom dashboard --port` (issue #14). */
export const DEFAULT_DASHBOARD_PORT = 8080;

export interface ServeOptions {
  readonly topology: Topology;
  readonly host: string;
  readonly port: number;
  readonly controls?: ReplicaControls;
  /** Scrapes the portals' metrics, for the portals panel (left out without it). */
  readonly scrapePortals?: () => Promise<readonly Sample[]>;
  readonly log: Logger;
  /** The Prometheus text served at /metrics: `ecom up` gives the union of its processes' metrics. */
  readonly metrics?: () => Promise<string>;
}

/** Scrapes `targets` as one union, as samples for the portals panel (which shows only processes with gRPC counters). */
export function scrapeSamples(targets: readonly MetricsTarget[]): () => Promise<readonly Sample[]> {
  return async () => parseExposition(await scrapeUnion(targets)).flatMap((family) => family.samples);
}

/** Polls the cluster and serves the page; close() stops both. */
export async function serveDashboard(options: ServeOptions): Promise<Dashboard> {
  const portals = options.scrapePortals === undefined ? undefined : new PortalFeed(options.scrapePortals);
  const feed = new ClusterFeed(options.topology, options.controls, (err) => options.log.warn({ err: err.message }, 'dashboard: a round of status requests failed'), portals);
  try {
    const dashboard = await startDashboard({ host: options.host, port: options.port, feed, controls: options.controls, log: options.log, metrics: options.metrics });
    feed.start();
    return {
      ...dashboard,
      close: async () => {
        await dashboard.close();
        await feed.stop();
      },
    };
  } catch (err) {
    await feed.stop();
    throw err;
  }
}
