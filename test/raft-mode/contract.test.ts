import { PortalClient } from '../../src/client/portal-client.js';
import { startPortalServer } from '../../src/portal/server.js';
import { silentLogger } from '../../src/util/log.js';
import { defineContractSuite } from '../contract/suite.js';
import { startRaftCluster } from './cluster.js';

/** The whole contract against real replica processes: 2 partitions × 3 replicas, Raft, LMDB. */
defineContractSuite('raft mode, 2 × 3 replica processes', async () => {
  const cluster = await startRaftCluster();
  const server = await startPortalServer({ backend: cluster.backend(), lang: 'pt', log: silentLogger, host: '127.0.0.1', ports: [0] });
  const client = new PortalClient({ host: '127.0.0.1', port: server.ports[0]! });
  return {
    admin: client,
    order: client,
    async stop() {
      client.close();
      await server.shutdown();
      await cluster.stop();
    },
  };
});
