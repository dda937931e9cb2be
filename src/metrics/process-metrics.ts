import type { Logger } from '../util/log.js';
import { createProcessRegistry, type ProcessRegistry } from './registry.js';
import { startMetricsServer } from './server.js';

/** A process's registry and the server that exposes it. */
export interface ProcessMetrics {
  readonly registry: ProcessRegistry;
  /** Where the metrics are served; undefined when the port could not be had. */
  readonly url: string | undefined;
  close(): Promise<void>;
}

/**
 * What `--metrics-port N [--metrics-host H]` asks of a process: its registry, served before
 * its parts start. Port 0 or none: no metrics (a process started by hand opts in; `ecom up`
 * gives each child one).
 *
 * A port that is taken is logged as an error and the process runs on without serving its
 * metrics: losing a replica or a portal because its metrics port was taken (say, by another
 * program while the replica was down for a restart) would cost far more than the metrics.
 */
export async function serveProcessMetrics(port: number | undefined, host: string, log: Logger): Promise<ProcessMetrics | undefined> {
  if (port === undefined || port === 0) return undefined;
  const registry = createProcessRegistry();
  try {
    const server = await startMetricsServer({ registry, host, port, log });
    log.info({ metrics: server.url }, 'serving Prometheus metrics');
    return { registry, url: server.url, close: () => server.close() };
  } catch (err) {
    log.error({ port, host }, `${(err as Error).message}; running on without serving metrics`);
    return { registry, url: undefined, close: () => Promise.resolve() };
  }
}
