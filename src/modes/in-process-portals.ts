import type { Backend } from '../domain/backend.js';
import type { ProcessMetrics } from '../metrics/process-metrics.js';
import type { ModeContext } from './mode.js';

/** Both portals served by `ecom up` itself, on one server. */
export interface InProcessPortals {
  readonly adminPort: number;
  readonly orderPort: number;
  /** Finishes the calls in flight, stops serving, then closes the backend. */
  shutdown(): Promise<void>;
}

/**
 * For a mode whose portals run inside `ecom up` itself (single, etcd): the AdminPortal on
 * `adminPort` and the OrderPortal on `orderPort` over `backend`, their calls counted in
 * `metrics`. A server that cannot start closes the backend before the error goes up; what else
 * the mode started is the mode's to stop.
 */
export async function serveBothPortals(backend: Backend, ports: { adminPort: number; orderPort: number }, ctx: ModeContext, metrics: ProcessMetrics): Promise<InProcessPortals> {
  // Loaded only when such a mode runs: the registry holds every mode, and `ecom up` in another mode needs none of this.
  const [{ startPortalServer }, { PortalMetrics }] = await Promise.all([import('../portal/server.js'), import('../metrics/portal-metrics.js')]);
  const server = await startPortalServer({ backend, lang: ctx.lang, log: ctx.log, host: ctx.host, ports: [ports.adminPort, ports.orderPort], security: ctx.portalSecurity, metrics: new PortalMetrics(metrics.registry) }).catch(async (err: unknown) => {
    // The server's failure is what the user must read; one of the backend's own would hide it.
    await backend.close().catch(() => undefined);
    throw err;
  });
  const [adminPort = ports.adminPort, orderPort = ports.orderPort] = server.ports;
  return {
    adminPort,
    orderPort,
    async shutdown() {
      await server.shutdown();
      await backend.close();
    },
  };
}
