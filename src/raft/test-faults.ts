import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';

/**
 * TEST-ONLY fault switches for the chaos suite (docs/chaos.md), read once from the environment
 * variable ECOM_TEST_FAULTS (a comma-separated list). Production never sets it; with it unset
 * every function here is a no-op returning "behave correctly".
 *
 * - `ack-before-fsync` (planted bug): the log defers fdatasync, so a replica sends and
 *   acknowledges entries that are only in the page cache.
 * - `skip-commit-check` (planted bug): a leader counts an entry as committed as soon as its own
 *   log holds it, without a quorum.
 * - `lose-unsynced-on-crash` (fault simulation): the log remembers how far it has fsynced and a
 *   restarting replica cuts its log back to there, as a machine crash would lose unsynced pages.
 * - `cache-ignores-bound` (planted bug, portals): the portal read cache (src/storage/client/read-cache.ts)
 *   serves an entry until an announcement invalidates it, however old, and keeps serving and
 *   keeping its entries while its change feed is down, so a lost announcement leaves it stale.
 * - `mqtt-skip-state-transfer` (planted bug, mqtt mode): a portal never asks its peers for the
 *   state: it joins empty, and after a reconnection or a gap it carries on with what it has.
 */
export type TestFault = 'ack-before-fsync' | 'skip-commit-check' | 'lose-unsynced-on-crash' | 'cache-ignores-bound' | 'mqtt-skip-state-transfer';
export const TEST_FAULTS: readonly TestFault[] = ['ack-before-fsync', 'skip-commit-check', 'lose-unsynced-on-crash', 'cache-ignores-bound', 'mqtt-skip-state-transfer'];

function parse(text: string | undefined): Set<TestFault> {
  const set = new Set<TestFault>();
  for (const word of (text ?? '').split(',').map((w) => w.trim()).filter((w) => w !== '')) {
    if (!(TEST_FAULTS as readonly string[]).includes(word)) throw new Error(`ECOM_TEST_FAULTS: unknown fault "${word}" (known: ${TEST_FAULTS.join(', ')})`);
    set.add(word as TestFault);
  }
  return set;
}

const active = parse(process.env.ECOM_TEST_FAULTS);

export function testFaultOn(fault: TestFault): boolean {
  return active.has(fault);
}

/** ack-before-fsync defers the real fdatasync by this long: acknowledged writes sit unsynced meanwhile. */
const DEFERRED_FSYNC_MS = 3_000;
let lastRealSync_ms = 0;

/** True when the log must skip this fdatasync (ack-before-fsync); the data stays written but unsynced. */
export function skipFsync(): boolean {
  if (!active.has('ack-before-fsync')) return false;
  const now = Date.now();
  if (now - lastRealSync_ms < DEFERRED_FSYNC_MS) return true;
  lastRealSync_ms = now;
  return false;
}

const MARKER = 'synced.json';

/** lose-unsynced-on-crash: records that `file` is durable up to `size_bytes` (called after each real fdatasync). */
export function noteSynced(dir: string, file: string, size_bytes: number): void {
  if (!active.has('lose-unsynced-on-crash')) return;
  // No fsync: the marker only has to survive a process kill, which is all the suite does. But a
  // kill can land mid-write, so write aside and rename (atomic): never a half-written marker.
  const aside = join(dir, `${MARKER}.tmp`);
  writeFileSync(aside, JSON.stringify({ file: basename(file), size_bytes }));
  renameSync(aside, join(dir, MARKER));
}

/** lose-unsynced-on-crash: before recovery, cuts the log back to the last fsynced offset and drops later segments. */
export function cutToSynced(dir: string): void {
  if (!active.has('lose-unsynced-on-crash')) return;
  const marker = join(dir, MARKER);
  if (!existsSync(marker)) return;
  const { file, size_bytes } = JSON.parse(readFileSync(marker, 'utf8')) as { file: string; size_bytes: number };
  if (!existsSync(join(dir, file))) return;
  for (const name of readdirSync(dir)) {
    if (/^wal-\d{16}\.log$/.test(name) && name > file) rmSync(join(dir, name));
  }
  if (statSync(join(dir, file)).size > size_bytes) truncateSync(join(dir, file), size_bytes);
}
