import { METRICS_HOST, metricsTarget, type MetricsTarget } from '../metrics/union.js';
import { freePort } from '../util/ports.js';
import type { Logger } from '../util/log.js';
import type { ProcessMetrics } from '../metrics/process-metrics.js';

/**
 * Gives a child of `ecom up` a metrics port of its own (from the band util/ports.ts keeps
 * clear of the system's default ports and of the kernel's) and lists it among `targets`, the
 * list one scrape of the union reads. The flags go on the child's command line, so a restart
 * serves on the same port.
 */
export async function metricsArgs(targets: MetricsTarget[], process: string): Promise<string[]> {
  const port = await freePort(METRICS_HOST);
  targets.push(metricsTarget(process, port));
  return ['--metrics-port', String(port), '--metrics-host', METRICS_HOST];
}

/**
 * For a mode whose portals run inside `ecom up` itself (single, etcd): this process's metrics
 * on a free port, listed among `targets` as `ecom-up`.
 */
export async function serveUpMetrics(targets: MetricsTarget[], log: Logger): Promise<ProcessMetrics> {
  const port = await freePort(METRICS_HOST);
  // Loaded here: the module is shared with `ecom up` in raft mode, which serves no metrics of its own.
  const { serveProcessMetrics } = await import('../metrics/process-metrics.js');
  const served = await serveProcessMetrics(port, METRICS_HOST, log);
  if (served === undefined) throw new Error(`no metrics registry for port ${port}`);
  if (served.url !== undefined) targets.push(metricsTarget('ecom-up', port));
  return served;
}

export function logMetricsTargets(log: Logger, targets: readonly MetricsTarget[]): void {
  log.info(`Prometheus metrics of each process: ${targets.map((t) => `${t.process} ${t.url}`).join(', ')}`);
}
