import { PortalClient } from '../../src/client/portal-client.js';
import { SingleBackend } from '../../src/modes/single/backend.js';
import { startPortalServer } from '../../src/portal/server.js';
import { silentLogger } from '../../src/util/log.js';
import { defineContractSuite } from './suite.js';

defineContractSuite('single mode', async () => {
  const backend = new SingleBackend();
  const server = await startPortalServer({ backend, lang: 'pt', log: silentLogger, host: '127.0.0.1', ports: [0] });
  const client = new PortalClient({ host: '127.0.0.1', port: server.ports[0]! });
  return {
    admin: client,
    order: client,
    async stop() {
      client.close();
      await server.shutdown();
    },
  };
});
