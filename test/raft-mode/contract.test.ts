import { defineContractSuite, portalTarget } from '../contract/suite.js';
import { startRaftCluster } from './cluster.js';

/** The whole contract against real replica processes: 2 partitions × 3 replicas, Raft, LMDB. */
// docs/spec.md: R-MODE-1
defineContractSuite('raft mode, 2 × 3 replica processes', async () => {
  const cluster = await startRaftCluster();
  return portalTarget(cluster.backend(), () => cluster.stop());
});
