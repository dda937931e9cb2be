import { PortalClient } from '../../src/client/portal-client.js';
import { startPortalServer } from '../../src/portal/server.js';
import { PartitionedBackend } from '../../src/storage/partitioned-backend.js';
import { silentLogger } from '../../src/util/log.js';
import { defineContractSuite } from '../contract/suite.js';
import { MemoryCluster } from './memory-cluster.js';

/**
 * The whole contract through the partitioned storage protocol (single-partition commands,
 * two-phase commit across partitions) without replication, for 2 and 3 partitions.
 */
for (const partitions of [2, 3]) {
  defineContractSuite(`partitioned store, ${partitions} partitions in memory`, async () => {
    const backend = new PartitionedBackend(new MemoryCluster(partitions));
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
}
