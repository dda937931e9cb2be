import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { DiskSync } from '../raft/log/file-log.js';
import { FDATASYNC } from '../raft/log/file-log.js';

/**
 * Planted bugs and crash simulation for the chaos suite (docs/chaos.md), chosen by the
 * environment variable ECOM_TEST_FAULTS (a comma-separated list) and wired in only by the
 * composition roots (the storage command, the modes), through the seams the components already
 * have: the log's DiskSync, the Raft core's commit quorum, the read cache's clock, the mqtt
 * replica's options. Production code never reads ECOM_TEST_FAULTS and holds no test branch.
 *
 * - `ack-before-fsync` (planted bug): the log's disk defers fdatasync, so a replica sends and
 *   acknowledges entries that are only in the page cache.
 * - `skip-commit-check` (planted bug): a leader's commit quorum is one, itself: it counts an
 *   entry as committed as soon as its own log holds it.
 * - `lose-unsynced-on-crash` (fault simulation): the log's disk remembers how far it has synced,
 *   and a restarting replica's log is cut back to there first, as a machine crash would lose
 *   unsynced pages.
 * - `cache-ignores-bound` (planted bug, portals): the portal read cache runs on a clock that
 *   stands still and never hears that its change feed went down, so an entry is served until an
 *   announcement invalidates it, however old, and a lost announcement leaves it stale.
 * - `mqtt-skip-state-transfer` (planted bug, mqtt mode): a portal never asks its peers for the
 *   state: it joins empty, and after a reconnection or a gap it carries on with what it has.
 * - `slow-fsync` (fault simulation): the first fdatasync of the log after every
 *   SLOW_FSYNC_EVERY_MS reports done SLOW_FSYNC_MS late, as a loaded disk's fsyncs did now and
 *   then (issue #18: 0.3-0.8 s); what it covers is durable only then, as far as the replica knows.
 */
export type TestFault = 'ack-before-fsync' | 'skip-commit-check' | 'lose-unsynced-on-crash' | 'cache-ignores-bound' | 'mqtt-skip-state-transfer' | 'slow-fsync';
export const TEST_FAULTS: readonly TestFault[] = ['ack-before-fsync', 'skip-commit-check', 'lose-unsynced-on-crash', 'cache-ignores-bound', 'mqtt-skip-state-transfer', 'slow-fsync'];
/** The faults that simulate a machine's or disk's behaviour rather than plant a bug a checker must catch. */
const FAULT_SIMULATIONS: readonly TestFault[] = ['lose-unsynced-on-crash', 'slow-fsync'];
export const PLANTED_BUGS: readonly TestFault[] = TEST_FAULTS.filter((f) => !FAULT_SIMULATIONS.includes(f));

export function parseTestFaults(text: string | undefined): Set<TestFault> {
  const set = new Set<TestFault>();
  for (const word of (text ?? '').split(',').map((w) => w.trim()).filter((w) => w !== '')) {
    if (!(TEST_FAULTS as readonly string[]).includes(word)) throw new Error(`ECOM_TEST_FAULTS: unknown fault "${word}" (known: ${TEST_FAULTS.join(', ')})`);
    set.add(word as TestFault);
  }
  return set;
}

/** ack-before-fsync defers the real fdatasync by this long: acknowledged writes sit unsynced meanwhile. */
const DEFERRED_FSYNC_MS = 3_000;
/** slow-fsync: one fdatasync in each such span finishes this much late (over two election timeouts at the defaults). */
const SLOW_FSYNC_EVERY_MS = 2_000;
const SLOW_FSYNC_MS = 800;
const MARKER = 'synced.json';

/** The faults this process runs with; with none, every seam it hands out is the production one. */
export class PlantedFaults {
  private readonly active: ReadonlySet<TestFault>;

  constructor(text: string) {
    this.active = parseTestFaults(text);
  }

  describe(): string {
    return [...this.active].join(',');
  }

  has(fault: TestFault): boolean {
    return this.active.has(fault);
  }

  /** The log's disk: fdatasync, deferred under ack-before-fsync, noted under lose-unsynced-on-crash. */
  logDisk(dir: string): DiskSync {
    const defer = this.has('ack-before-fsync');
    const note = this.has('lose-unsynced-on-crash');
    const slow = this.has('slow-fsync');
    if (!defer && !note && !slow) return FDATASYNC;
    let lastSlow_ms = Date.now();
    /** Under slow-fsync: `done`, SLOW_FSYNC_MS late if the last slow one was SLOW_FSYNC_EVERY_MS ago. */
    const late = (done: (err: Error | undefined) => void): ((err: Error | undefined) => void) => {
      if (!slow || Date.now() - lastSlow_ms < SLOW_FSYNC_EVERY_MS) return done;
      lastSlow_ms = Date.now();
      return (err) => setTimeout(() => done(err), SLOW_FSYNC_MS);
    };
    let lastRealSync_ms = 0;
    /** Under ack-before-fsync: whether this sync may be skipped (one real fdatasync every DEFERRED_FSYNC_MS). */
    const skip = (): boolean => {
      if (!defer) return false;
      const now = Date.now();
      if (now - lastRealSync_ms < DEFERRED_FSYNC_MS) return true;
      lastRealSync_ms = now;
      return false;
    };
    // A compaction's sync can finish before an earlier fdatasync from the thread pool does: the
    // marker only ever moves forward (segment names sort in the order they were started).
    let noted = { file: '', size_bytes: 0 };
    const noteDurable = (file: string, size_bytes: number): void => {
      if (file < noted.file || (file === noted.file && size_bytes <= noted.size_bytes)) return;
      noted = { file, size_bytes };
      noteSynced(dir, file, size_bytes);
    };
    return {
      sync(fd, file, size_bytes) {
        if (skip()) return;
        FDATASYNC.sync(fd, file, size_bytes);
        if (note) noteDurable(file, size_bytes);
      },
      syncAsync(fd, file, size_bytes, finished) {
        const done = late(finished);
        if (skip()) return done(undefined);
        FDATASYNC.syncAsync(fd, file, size_bytes, (err) => {
          if (err === undefined && note) noteDurable(file, size_bytes);
          done(err);
        });
      },
    };
  }

  /** Before the log is opened: under lose-unsynced-on-crash, lose what the last run never synced. */
  beforeLogOpen(dir: string): void {
    if (this.has('lose-unsynced-on-crash')) cutToSynced(dir);
  }

  /** Under lose-unsynced-on-crash a restart stands for a machine crash, for the state store as for the log. */
  restartsAreMachineCrashes(): boolean {
    return this.has('lose-unsynced-on-crash');
  }

  /** The Raft core's commit quorum: a majority, or one under skip-commit-check. */
  commitQuorum(): ((voters: number) => number) | undefined {
    return this.has('skip-commit-check') ? () => 1 : undefined;
  }

  /** Under cache-ignores-bound the portal cache's clock stands still and it is deaf to its feed's state. */
  cacheSeams(): { now?: () => number; hearsFeedState: boolean } {
    return this.has('cache-ignores-bound') ? { now: () => 0, hearsFeedState: false } : { hearsFeedState: true };
  }
}

/** The faults ECOM_TEST_FAULTS asks for, or undefined when it is unset or empty (production). */
export function plantedFromEnvironment(env: NodeJS.ProcessEnv = process.env): PlantedFaults | undefined {
  const text = env.ECOM_TEST_FAULTS ?? '';
  return text.trim() === '' ? undefined : new PlantedFaults(text);
}

/** lose-unsynced-on-crash: records that `file` is durable up to `size_bytes` (after each real fdatasync). */
export function noteSynced(dir: string, file: string, size_bytes: number): void {
  // No fsync: the marker only has to survive a process kill, which is all the suite does. But a
  // kill can land mid-write, so write aside and rename (atomic): never a half-written marker.
  const aside = join(dir, `${MARKER}.tmp`);
  writeFileSync(aside, JSON.stringify({ file: basename(file), size_bytes }));
  renameSync(aside, join(dir, MARKER));
}

/** lose-unsynced-on-crash: before recovery, cuts the log back to the last fsynced offset and drops later segments. */
export function cutToSynced(dir: string): void {
  const marker = join(dir, MARKER);
  if (!existsSync(marker)) return;
  const { file, size_bytes } = JSON.parse(readFileSync(marker, 'utf8')) as { file: string; size_bytes: number };
  if (!existsSync(join(dir, file))) return;
  for (const name of readdirSync(dir)) {
    if (/^wal-\d{16}\.log$/.test(name) && name > file) rmSync(join(dir, name));
  }
  if (statSync(join(dir, file)).size > size_bytes) truncateSync(join(dir, file), size_bytes);
}
