import type { ModeDefinition } from '../mode.js';
import { SingleBackend } from './backend.js';
import type { MetricsTarget } from '../../metrics/union.js';
import { logMetricsTargets, serveUpMetrics } from '../metrics-ports.js';
import { claimPorts } from '../../util/ports.js';
import { portalPortsWanted } from '../wanted-ports.js';
import { serveBothPortals } from '../in-process-portals.js';

export const singleMode: ModeDefinition = {
  name: 'single',
  summary: 'one process, data in memory, no broker (quick tries, unit tests)',
  serverOptions: () => [],
  upOptions: () => [],
  createBackend: () => Promise.resolve(new SingleBackend()),
  async up(options, ctx) {
    await claimPorts(portalPortsWanted(ctx.host, options));
    const backend = new SingleBackend();
    const targets: MetricsTarget[] = [];
    const metrics = await serveUpMetrics(targets, ctx.log);
    const portals = await serveBothPortals(backend, options, ctx, metrics).catch(async (err: unknown) => {
      await metrics.close();
      throw err;
    });
    const { adminPort, orderPort } = portals;
    ctx.log.info({ adminPort, orderPort, host: ctx.host }, 'single mode: AdminPortal and OrderPortal are serving (data in memory only)');
    logMetricsTargets(ctx.log, targets);
    return {
      adminPorts: [adminPort],
      orderPorts: [orderPort],
      metricsTargets: targets,
      async stop() {
        await portals.shutdown();
        await metrics.close();
      },
    };
  },
};
