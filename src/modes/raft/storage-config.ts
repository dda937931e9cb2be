import { Option } from 'commander';
import { defaultTopology, loadTopology, type Topology } from '../../storage/common/topology.js';

/** The `--storage-config` option shared by `ecom up`, the portals, `ecom storage` and `ecom status`. */
export const configOption = () =>
  new Option('--storage-config <file>', 'storage topology (JSON: partitions and replicas with host, clientPort, raftPort); default: 2 partitions × 3 replicas on 20001–20006 / 30001–30006');

export function topologyFrom(opts: { storageConfig?: string }): Topology {
  return opts.storageConfig ? loadTopology(opts.storageConfig) : defaultTopology();
}
