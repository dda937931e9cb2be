import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { recoverInitialState } from '../../../src/raft/log/recover.js';
import { MemoryLog, MemorySnapshotStore } from '../../../src/raft/log/memory.js';
import { FileLog } from '../../../src/raft/log/file-log.js';
import { FileSnapshotStore } from '../../../src/raft/log/file-snapshot.js';
import { entryFor } from './content.js';

const bootstrap = { voters: [1, 2, 3], learners: [] };
const snapAt = (index: number, term: number) => ({ meta: { index, term, membership: bootstrap }, data: new Uint8Array([9]) });

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raft-recover-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('recoverInitialState', () => {
  it('a snapshot installed without its log reset reaching disk wins over the stale log (file log)', () => {
    const log = FileLog.open(dir);
    log.append([1, 2].map(entryFor));
    log.setHardState({ term: 1, vote: 0, commit: 2 });
    log.sync();
    const snaps = new FileSnapshotStore(path.join(dir, 'snap'));
    snaps.save(snapAt(300, 4)); // then the crash: resetTo(300) never synced
    log.close();

    const reopened = FileLog.open(dir);
    const init = recoverInitialState(reopened, reopened, new FileSnapshotStore(path.join(dir, 'snap')), bootstrap);
    expect(init.snapshot?.meta.index).toBe(300);
    expect(init.entries).toEqual([]);
    expect(init.hardState.commit).toBe(300);
    // The log now continues after the snapshot, so the next append is accepted.
    reopened.append([{ ...entryFor(301), term: 4 }]);
    reopened.sync();
    reopened.close();
    const again = FileLog.open(dir);
    expect([again.firstIndex(), again.lastIndex()]).toEqual([301, 301]);
    again.close();
  });

  it('keeps the log after a snapshot taken locally and finishes the compaction', () => {
    const log = new MemoryLog();
    log.append([1, 2, 3, 4, 5].map(entryFor));
    log.setHardState({ term: 1, vote: 1, commit: 5 });
    log.sync();
    const snaps = new MemorySnapshotStore();
    snaps.save(snapAt(3, entryFor(3).term));
    const init = recoverInitialState(log, log, snaps, bootstrap);
    expect(init.entries.map((e) => e.index)).toEqual([4, 5]);
    expect(log.firstIndex()).toBe(4);
  });

  it('drops a log that disagrees with the snapshot at its index', () => {
    const log = new MemoryLog();
    log.append([1, 2, 3, 4].map(entryFor));
    log.sync();
    const snaps = new MemorySnapshotStore();
    snaps.save(snapAt(3, 99));
    const init = recoverInitialState(log, log, snaps, bootstrap);
    expect(init.entries).toEqual([]);
    expect([log.firstIndex(), log.lastIndex()]).toEqual([4, 3]);
  });
});
