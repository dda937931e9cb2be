import { Option } from 'commander';
import { secretFileFrom } from '../cluster-secret-option.js';
import { defaultTopology, loadTopology, type Topology } from '../../storage/common/topology.js';

/** The `--storage-config` option shared by `ecom up`, the portals, `ecom storage` and `ecom status`. */
export const configOption = () =>
  new Option('--storage-config <file>', 'storage topology (JSON: partitions and replicas with host, clientPort, raftPort); default: 2 partitions × 3 replicas on 20001–20006 / 30001–30006');

/**
 * The topology and where its secret is: --cluster-secret, then the environment, then the
 * topology file's own "secretFile", then `<defaultDir>/cluster.secret`.
 */
export function topologyFrom(opts: { storageConfig?: string; clusterSecret?: string }, defaultDir = './data'): Topology {
  const topology = opts.storageConfig ? loadTopology(opts.storageConfig) : defaultTopology();
  return { ...topology, secretFile: secretFileFrom(opts, defaultDir, topology.secretFile) };
}
