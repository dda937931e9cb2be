import type { ModeDefinition } from '../mode.js';
import { SingleBackend } from './backend.js';
import type { MetricsTarget } from '../../metrics/union.js';
import { logMetricsTargets, serveUpMetrics } from '../metrics-ports.js';
import { claimPorts } from '../../util/ports.js';
import { portalPortsWanted } from '../wanted-ports.js';

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
    // Loaded only when this mode runs: the registry holds every mode, and `ecom up` in another mode needs none of this.
    const [{ startPortalServer }, { PortalMetrics }] = await Promise.all([import('../../portal/server.js'), import('../../metrics/portal-metrics.js')]);
    const server = await startPortalServer({ backend, lang: ctx.lang, log: ctx.log, host: ctx.host, ports: [options.adminPort, options.orderPort], security: ctx.portalSecurity, metrics: new PortalMetrics(metrics.registry) }).catch(async (err: unknown) => {
      await metrics.close();
      throw err;
    });
    const [adminPort = options.adminPort, orderPort = options.orderPort] = server.ports;
    ctx.log.info({ adminPort, orderPort, host: ctx.host }, 'single mode: AdminPortal and OrderPortal are serving (data in memory only)');
    logMetricsTargets(ctx.log, targets);
    return {
      adminPorts: [adminPort],
      orderPorts: [orderPort],
      metricsTargets: targets,
      async stop() {
        await server.shutdown();
        await backend.close();
        await metrics.close();
      },
    };
  },
};
