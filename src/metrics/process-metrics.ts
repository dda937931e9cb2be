import type { Logger } from '../util/log.js';
import { createProcessRegistry, type MetricsRegistry } from './registry.js';
import { startMetricsServer } from './server.js';

/** A process's registry and the server that exposes it. */
export interface ProcessMetrics {
  readonly registry: MetricsRegistry;
  readonly url: string;
  close(): Promise<void>;
}

/**
 * What `--metrics-port N [--metrics-host H]` asks of a process: its registry, served before
 * its parts start so a port that is taken stops the process at once with a clear error.
 * Port 0 or none: no metrics (a process started by hand opts in; `ecom up` gives each child one).
 */
export async function serveProcessMetrics(port: number | undefined, host: string, log: Logger): Promise<ProcessMetrics | undefined> {
  if (port === undefined || port === 0) return undefined;
  const registry = createProcessRegistry();
  const server = await startMetricsServer({ registry, host, port, log });
  log.info({ metrics: server.url }, 'serving Prometheus metrics');
  return { registry, url: server.url, close: () => server.close() };
}
