import type { Command, Reply } from '../../domain/commands.js';
import type { RecordKind, RecordOfKind } from '../../domain/records.js';
import { StoreUnavailableError, type Backend } from '../../domain/backend.js';
import { StoreTimeoutError, StoreUnreachableError, type PartitionCluster } from './cluster.js';
import { Coordinator, type CoordinatorOptions } from './coordinator.js';
import { partitionOf } from '../common/partitioning.js';

/**
 * The portals' view of the partitioned storage tier: writes go through the coordinator,
 * reads to the partition that owns the record. The portal keeps no data of its own.
 */
export class PartitionedBackend implements Backend {
  readonly coordinator: Coordinator;
  private readonly readTimeout_ms: number;

  constructor(
    private readonly cluster: PartitionCluster,
    options: CoordinatorOptions & { readTimeout_ms?: number } = {},
  ) {
    this.coordinator = new Coordinator(cluster, options);
    this.readTimeout_ms = options.readTimeout_ms ?? options.requestTimeout_ms ?? 5_000;
  }

  execute(command: Command): Promise<Reply> {
    return this.coordinator.execute(command);
  }

  async read<K extends RecordKind>(kind: K, id: string): Promise<RecordOfKind<K> | undefined> {
    try {
      return await this.cluster.read(partitionOf(id, this.cluster.partitions), kind, id, Date.now() + this.readTimeout_ms);
    } catch (err) {
      if (err instanceof StoreTimeoutError || err instanceof StoreUnreachableError) throw new StoreUnavailableError(err.message);
      throw err;
    }
  }

  close(): Promise<void> {
    return this.cluster.close();
  }
}
