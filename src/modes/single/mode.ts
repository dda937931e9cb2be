import { startPortalServer } from '../../portal/server.js';
import type { ModeDefinition } from '../mode.js';
import { SingleBackend } from './backend.js';

export const singleMode: ModeDefinition = {
  name: 'single',
  summary: 'one process, data in memory, no broker (quick tries, unit tests)',
  serverOptions: () => [],
  upOptions: () => [],
  createBackend: () => Promise.resolve(new SingleBackend()),
  async up(options, ctx) {
    const backend = new SingleBackend();
    const server = await startPortalServer({ backend, lang: ctx.lang, log: ctx.log, host: ctx.host, ports: [options.adminPort, options.orderPort], security: ctx.portalSecurity });
    const [adminPort = options.adminPort, orderPort = options.orderPort] = server.ports;
    ctx.log.info({ adminPort, orderPort, host: ctx.host }, 'single mode: AdminPortal and OrderPortal are serving (data in memory only)');
    return {
      adminPorts: [adminPort],
      orderPorts: [orderPort],
      async stop() {
        await server.shutdown();
        await backend.close();
      },
    };
  },
};
