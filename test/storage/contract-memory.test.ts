import { PartitionedBackend } from '../../src/storage/client/partitioned-backend.js';
import { defineContractSuite, portalTarget } from '../contract/suite.js';
import { MemoryCluster } from './memory-cluster.js';

/**
 * The whole contract through the partitioned storage protocol (single-partition commands,
 * two-phase commit across partitions) without replication, for 2 and 3 partitions.
 */
for (const partitions of [2, 3]) {
  defineContractSuite(`partitioned store, ${partitions} partitions in memory`, () => portalTarget(new PartitionedBackend(new MemoryCluster(partitions))));
}
