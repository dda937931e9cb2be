import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { replaceFileDurably } from '../../raft/log/file-log.js';

/**
 * Which folder of a replica's holds its state store. A new replica's store is `state`. A store
 * file received from a leader is written to a folder of its own (`state-<applied index>`,
 * store-staging.ts) and becomes the store when the snapshot is installed: a small pointer file,
 * replaced atomically, names it from then on. Nothing is renamed under an open LMDB environment,
 * and a crash leaves the pointer naming the old folder or the new one, both whole.
 */
export const FIRST_STORE = 'state';
const POINTER = 'state.current';
/** Every folder a store, a staged store or a copy being made can be in. */
const STORE_FOLDER = /^state(-\d{16})?(-copy)?$/;

export class StoreLocationError extends Error {
  override readonly name = 'StoreLocationError';
}

/** The folder the pointer names, or `state` when there is none yet. */
export function currentStoreName(dir: string): string {
  let name: string;
  try {
    name = readFileSync(join(dir, POINTER), 'utf8').trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return FIRST_STORE;
    throw err;
  }
  if (!STORE_FOLDER.test(name) || name.endsWith('-copy')) {
    throw new StoreLocationError(`${join(dir, POINTER)} names ${JSON.stringify(name)}, which is no state store's folder; it was damaged or edited by hand. Restore the replica's folder from a backup, or remove the replica from its partition (ecom member remove) and add it back empty`);
  }
  return name;
}

/** Makes `name` the store's folder, durably: written beside, fsynced, renamed over the pointer. */
export function makeCurrent(dir: string, name: string): void {
  replaceFileDurably(join(dir, POINTER), `${name}\n`);
}

/** Removes every store folder of the replica's but those in `keep` (stores replaced, copies or stagings left by a crash). */
export function removeStoresBut(dir: string, keep: ReadonlySet<string>): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory() && STORE_FOLDER.test(entry.name) && !keep.has(entry.name)) rmSync(join(dir, entry.name), { recursive: true, force: true });
  }
}
