import { mkdirSync, rmSync } from 'node:fs';
import { mkdir, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { locateSnapshotData } from '../../raft/codec.js';
import { fsyncDir } from '../../raft/log/file-log.js';
import type { Spool } from './message-chunks.js';
import { readEnvCopy, readEnvHeader, SnapshotDataError, stagedStore, stageName, storeFileOffset } from './snapshot-format.js';
import type { ReceivedFile } from './spool-file.js';
import { startCheck, type PendingCheck } from './store-check.js';

/** A store file that reads back is walked in well under this; past it the file is refused. */
const CHECK = { values: false, timeout_ms: 300_000 } as const;

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
   * Where and what the transport writes to disk as it arrives (spool-file.ts): a store file's
   * bytes, to `incoming/` beside the stores, so that staging it is a rename. What a stopped
   * replica left there is removed when it starts.
   */
  readonly spool: Spool;
  /** The check's child, started as a store file began to arrive. */
  private pendingCheck: PendingCheck | undefined;

  constructor(private readonly dir: string) {
    const incoming = join(dir, 'incoming');
    rmSync(incoming, { recursive: true, force: true });
    mkdirSync(incoming);
    this.spool = {
      dir: incoming,
      split: (first, total) => {
        const split = storeFileSplit(first, total);
        if (split !== undefined) this.pendingCheck ??= startCheck(CHECK);
        return split;
      },
    };
  }

  /** Ends a check's child started for a file that never came. */
  close(): void {
    this.pendingCheck?.cancel();
    this.pendingCheck = undefined;
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
      const pending = this.pendingCheck ?? startCheck(CHECK);
      this.pendingCheck = undefined;
      const check = await pending.run(path);
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

/**
 * How much of a transfer to hold in memory when it carries a store file: the message's head and
 * the file's header; the file's bytes go to disk as they arrive. Any other transfer is held
 * whole in memory (undefined).
 */
function storeFileSplit(first: Uint8Array, total: number): number | undefined {
  const data = locateSnapshotData(first);
  if (data === undefined || data.at + data.length !== total) return undefined;
  const offset = storeFileOffset(first.subarray(data.at));
  return offset === undefined ? undefined : data.at + offset;
}
