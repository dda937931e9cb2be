import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { replaceFileDurably } from '../../raft/log/file-log.js';
import type { Snapshot } from '../../raft/types.js';
import type { Logger } from '../../util/log.js';
import { LmdbStateStore } from './lmdb-store.js';
import { shapeOf, stagedName } from './snapshot-format.js';
import { checkStoreSync } from './store-check.js';
import { currentStoreName, removeStoresBut } from './store-location.js';

/**
 * Whether a replica's LMDB store can be trusted when it starts, and what to do when it cannot.
 * The store is written without fsync between snapshot points (see LmdbStateStore):
 * - after a clean stop (which flushes it and leaves CLEAN_MARKER), or a process crash within the
 *   same boot of the machine (the page cache held every commit), it is whole: replay resumes
 *   right after its applied index;
 * - after a machine crash (the boot id changed and the stop was not clean) the writes after its
 *   last durable point may have reached the disk in part. If the newest snapshot carries the
 *   state itself (one received from a leader, or restored from a backup) the store is rebuilt
 *   from it and the log; otherwise it is read through once, and a store that does not read back
 *   stops the replica with what to do, rather than serve a damaged state.
 */
const CLEAN_MARKER = 'state.clean';
/** The machine's boot id when the store was last opened. */
const BOOT_FILE = 'state.boot';
/** Reading a whole store back takes about a second per few hundred MB; past this it is called damaged. */
const READ_THROUGH_TIMEOUT_MS = 600_000;

/**
 * `trustSameBoot: false` treats an unclean stop within the same boot as a machine crash too: the
 * chaos suite's lose-unsynced-on-crash cuts the log back to its last fdatasync at every restart,
 * and a store kept whole beside that log would be ahead of it (waiting for entries it skips).
 */
export function openState(dir: string, latest: Snapshot | undefined, log: Logger, options: { trustSameBoot: boolean } = { trustSameBoot: true }): LmdbStateStore {
  const name = currentStoreName(dir);
  const path = join(dir, name);
  const latestShape = latest === undefined ? undefined : shapeOf(latest.data);
  // A store file received and staged but not yet made the store (a crash came in between): the driver installs it next.
  const staged = latest !== undefined && latestShape === 'staged' ? stagedName(latest.data) : undefined;
  removeStoresBut(dir, new Set(staged === undefined ? [name] : [name, staged]));
  const clean = existsSync(join(dir, CLEAN_MARKER));
  const sameBoot = options.trustSameBoot && bootId() !== undefined && readText(join(dir, BOOT_FILE)) === bootId();
  // The snapshot (or, without one, the whole log from its start) holds everything the store
  // would, unless it names the store itself (its own, or a store file received from a leader).
  const rebuildable = latestShape !== 'marker' && latestShape !== 'staged';
  if (existsSync(path) && !clean && !sameBoot && rebuildable) {
    setAside(path);
    log.warn('the machine restarted since this replica last stopped cleanly: rebuilding the state from the snapshot and the log');
  }
  const store = openChecked(path, !clean && !sameBoot && existsSync(path), rebuildable, log);
  rmSync(join(dir, CLEAN_MARKER), { force: true });
  const boot = bootId();
  if (boot !== undefined && !sameBoot) replaceFileDurably(join(dir, BOOT_FILE), boot);
  return store;
}

function openChecked(path: string, suspect: boolean, rebuildable: boolean, log: Logger): LmdbStateStore {
  const problem = suspect ? readThrough(path) : undefined;
  if (problem === undefined) {
    if (suspect) log.warn('the machine restarted since this replica last stopped cleanly: its state store reads back whole; resuming from it');
    return new LmdbStateStore(path);
  }
  if (rebuildable) {
    log.warn({ problem }, 'the state store does not read back: rebuilding it from the snapshot and the log');
    setAside(path);
    return new LmdbStateStore(path);
  }
  const message = `replica state store ${path} is damaged (${problem}) and its newest snapshot is that store, so it cannot be rebuilt here. Keep the folder for diagnosis; to serve again, remove this replica from its partition (ecom member remove) and add it back empty (ecom member add, then ecom storage --join): it then receives a copy from the leader`;
  log.fatal(message);
  throw new Error(message);
}

/** Reads every key and value once, in a child process (store-check.ts); answers what went wrong, if anything. */
function readThrough(path: string): string | undefined {
  const result = checkStoreSync(path, { values: true, timeout_ms: READ_THROUGH_TIMEOUT_MS });
  return result.ok ? undefined : result.problem;
}

/** After a clean stop: the store is flushed, and the marker says it may be trusted as it is. */
export function markClean(dir: string, statePath: string): void {
  for (const file of ['data.mdb', 'lock.mdb']) {
    const fd = openSync(join(statePath, file), 'r');
    fsyncSync(fd);
    closeSync(fd);
  }
  replaceFileDurably(join(dir, CLEAN_MARKER), `${new Date().toISOString()}\n`);
}

function setAside(path: string): void {
  const aside = `${path}.unclean-${Date.now()}`;
  renameSync(path, aside);
  rmSync(aside, { recursive: true, force: true });
}


function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

let boot: string | undefined | null = null;
/** Linux's id of this boot of the machine; undefined elsewhere (every unclean stop then counts as a machine crash). */
function bootId(): string | undefined {
  if (boot === null) boot = readText('/proc/sys/kernel/random/boot_id');
  return boot;
}
