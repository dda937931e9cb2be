import { mkdir, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncDir } from '../../raft/log/file-log.js';
import { readEnvCopy, SnapshotDataError, stagedStore, stageName } from './snapshot-format.js';
import { checkStore } from './store-check.js';

/** A store file that reads back is walked in well under this; past it the file is refused. */
const CHECK_TIMEOUT_MS = 300_000;

export interface Staged {
  /** The snapshot data to give the Raft core in the store file's place: it names the folder. */
  readonly data: Uint8Array;
  readonly applied: number;
  readonly bytes: number;
  readonly keys: number;
}

/**
 * A store file a leader sent (snapshot-format.ts, "env"), made ready before the Raft core sees
 * it: checked against its checksum, written to a folder of its own with fdatasync, then read
 * through by a child process, all off the event loop's critical path (the writes are libuv's,
 * the read a child's). Only then is the core given the snapshot, naming that folder, so a file
 * that is damaged or does not open never reaches the log, the snapshot file or the store, and
 * installing it is a switch of folders, not a copy (issue #18 item 5).
 */
export class StoreStaging {
  constructor(private readonly dir: string) {}

  async stage(data: Uint8Array): Promise<Staged> {
    const { applied, file } = await readEnvCopy(data);
    const name = stageName(applied);
    const path = join(this.dir, name);
    await rm(path, { recursive: true, force: true });
    try {
      await mkdir(path);
      const handle = await open(join(path, 'data.mdb'), 'w');
      try {
        await handle.writeFile(file);
        await handle.datasync();
      } finally {
        await handle.close();
      }
      fsyncDir(path);
      fsyncDir(this.dir);
      const check = await checkStore(path, { values: false, timeout_ms: CHECK_TIMEOUT_MS });
      if (!check.ok) throw new SnapshotDataError(`a store file of ${file.length} bytes does not open: ${check.problem}`);
      if (check.contents.applied !== applied) throw new SnapshotDataError(`a store file says it holds index ${applied} but holds ${check.contents.applied}`);
      return { data: stagedStore(name), applied, bytes: file.length, keys: Math.max(0, check.contents.keys - 1) };
    } catch (err) {
      await rm(path, { recursive: true, force: true });
      throw err;
    }
  }
}
