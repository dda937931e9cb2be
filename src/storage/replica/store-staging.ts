import { mkdirSync, rmSync } from 'node:fs';
import { mkdir, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncDir } from '../../raft/log/file-log.js';
import { readEnvCopy, readEnvHeader, SnapshotDataError, stagedStore, stageName } from './snapshot-format.js';
import type { ReceivedFile } from './spool-file.js';
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
  /**
   * Where the transport writes a store file as it arrives (spool-file.ts), beside the stores so
   * that staging it is a rename. What a stopped replica left there is removed when it starts.
   */
  readonly incoming: string;

  constructor(private readonly dir: string) {
    this.incoming = join(dir, 'incoming');
    rmSync(this.incoming, { recursive: true, force: true });
    mkdirSync(this.incoming);
  }

  /**
   * Stages the store file in `data`: its header and the file; or, with `received`, its header
   * alone, the file having been written to disk as it arrived. Either way the file is checked,
   * made durable in a folder of its own and read through before it is staged.
   */
  async stage(data: Uint8Array, received?: ReceivedFile): Promise<Staged> {
    let applied: number;
    let file: Uint8Array | undefined;
    try {
      if (received === undefined) ({ applied, file } = await readEnvCopy(data));
      else applied = readEnvHeader(data, received);
    } catch (err) {
      received?.discard();
      throw err;
    }
    const bytes = received?.bytes ?? file?.length ?? 0;
    const name = stageName(applied);
    const path = join(this.dir, name);
    await rm(path, { recursive: true, force: true });
    try {
      await mkdir(path);
      if (received !== undefined) await received.keepAs(join(path, 'data.mdb'));
      else {
        const handle = await open(join(path, 'data.mdb'), 'w');
        try {
          await handle.writeFile(file ?? new Uint8Array(0));
          await handle.datasync();
        } finally {
          await handle.close();
        }
      }
      fsyncDir(path);
      fsyncDir(this.dir);
      const check = await checkStore(path, { values: false, timeout_ms: CHECK_TIMEOUT_MS });
      if (!check.ok) throw new SnapshotDataError(`a store file of ${bytes} bytes does not open: ${check.problem}`);
      if (check.contents.applied !== applied) throw new SnapshotDataError(`a store file says it holds index ${applied} but holds ${check.contents.applied}`);
      return { data: stagedStore(name), applied, bytes, keys: Math.max(0, check.contents.keys - 1) };
    } catch (err) {
      received?.discard();
      await rm(path, { recursive: true, force: true });
      throw err;
    }
  }
}
