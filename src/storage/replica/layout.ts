import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Where replica `id` keeps its log, snapshots and state under a `--data` folder. */
export function replicaDir(dataDir: string, id: number): string {
  return join(dataDir, `replica-${id}`);
}

/**
 * A file `ecom restore` writes in the `--data` folder before its first replica folder and removes
 * after its last: while it is there the folder holds part of a restore (it was interrupted), and
 * no replica may start from it, or a partition restored beside one left empty would serve as if
 * whole.
 */
export function restoreMarker(dataDir: string): string {
  return join(dataDir, 'restore-unfinished');
}

/** Why no replica may start from `dataDir` (an unfinished restore, in the marker's own words), or undefined. */
export function unfinishedRestore(dataDir: string): string | undefined {
  try {
    // Written whole by ecom restore; an empty one (made by hand) still counts.
    return readFileSync(restoreMarker(dataDir), 'utf8').trim() || 'a restore into it did not finish; delete the replica folders in it and run ecom restore again';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
