import { join } from 'node:path';

/** Where replica `id` keeps its log, snapshots and state under a `--data` folder. */
export function replicaDir(dataDir: string, id: number): string {
  return join(dataDir, `replica-${id}`);
}
