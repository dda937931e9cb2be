// Snapshots as whole files, replaced atomically: write a temporary file, fsync it, rename it over,
// fsync the directory. A crash leaves the old snapshot or the new one, never a mix.
//   [magic "RSNP"][crc32c u32 of the rest][meta length u32][meta JSON][data]
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Snapshot, SnapshotMeta } from '../types.js';
import type { SnapshotStore } from './interfaces.js';
import { crc32c } from './crc32c.js';
import { fsyncDir } from './file-log.js';

const MAGIC = Buffer.from('RSNP');
const NAME_RE = /^snap-(\d{16})\.snap$/;
const TMP_SUFFIX = '.tmp';

export class CorruptSnapshotError extends Error {
  constructor(
    readonly file: string,
    reason: string,
  ) {
    super(`corrupt raft snapshot ${file}: ${reason}`);
    this.name = 'CorruptSnapshotError';
  }
}

export class FileSnapshotStore implements SnapshotStore {
  private cached: Snapshot | undefined;

  constructor(readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true });
    for (const n of fs.readdirSync(dir)) {
      // A temporary file is a save that crashed before its rename: it never counted.
      if (n.endsWith(TMP_SUFFIX)) fs.rmSync(path.join(dir, n));
    }
    const names = fs
      .readdirSync(dir)
      .filter((n) => NAME_RE.test(n))
      .sort();
    const newest = names[names.length - 1];
    this.cached = newest === undefined ? undefined : readSnapshot(path.join(dir, newest));
  }

  save(snapshot: Snapshot): void {
    const { name, head, body } = encodeSnapshot(snapshot);
    const final = path.join(this.dir, name);
    const tmp = final + TMP_SUFFIX;
    const fd = fs.openSync(tmp, 'w');
    try {
      fs.writeSync(fd, head);
      fs.writeSync(fd, body);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    this.install(snapshot, tmp, final);
  }

  /**
   * As save(), with the disk's work off the event loop: the writing, both fsyncs and the removal
   * of older files run on the thread pool (a busy disk can hold a synchronous fsync for tens of
   * milliseconds). Only the rename is synchronous. latest() moves to the snapshot once the
   * folder's fsync has made it durable.
   */
  async saveAsync(snapshot: Snapshot): Promise<void> {
    const { name, head, body } = encodeSnapshot(snapshot);
    const final = path.join(this.dir, name);
    const tmp = final + TMP_SUFFIX;
    const file = await fs.promises.open(tmp, 'w');
    try {
      await file.write(head);
      await file.write(body);
      await file.sync();
    } finally {
      await file.close();
    }
    if (this.isOlderThanCached(snapshot)) return void (await fs.promises.rm(tmp, { force: true }));
    fs.renameSync(tmp, final);
    const folder = await fs.promises.open(this.dir, 'r');
    try {
      await folder.sync();
    } finally {
      await folder.close();
    }
    // A newer snapshot may have been saved while the folder was being synced: it stays.
    if (this.isOlderThanCached(snapshot)) return;
    this.cached = snapshot;
    for (const n of await fs.promises.readdir(this.dir)) {
      if (NAME_RE.test(n) && n < name) await fs.promises.rm(path.join(this.dir, n), { force: true });
    }
  }

  private isOlderThanCached(snapshot: Snapshot): boolean {
    return this.cached !== undefined && this.cached.meta.index > snapshot.meta.index;
  }

  private install(snapshot: Snapshot, tmp: string, final: string): void {
    // A newer snapshot may have been saved meanwhile (one received from the leader): keep it.
    if (this.isOlderThanCached(snapshot)) {
      fs.rmSync(tmp, { force: true });
      return;
    }
    fs.renameSync(tmp, final);
    fsyncDir(this.dir);
    this.cached = snapshot;
    // Older snapshots are now redundant.
    const name = path.basename(final);
    for (const n of fs.readdirSync(this.dir)) {
      if (NAME_RE.test(n) && n < name) fs.rmSync(path.join(this.dir, n));
    }
  }

  latest(): Snapshot | undefined {
    return this.cached;
  }
}

function encodeSnapshot(snapshot: Snapshot): { name: string; head: Buffer; body: Buffer } {
  const meta = Buffer.from(JSON.stringify(snapshot.meta));
  const body = Buffer.allocUnsafe(4 + meta.length + snapshot.data.length);
  body.writeUInt32LE(meta.length, 0);
  body.set(meta, 4);
  body.set(snapshot.data, 4 + meta.length);
  const head = Buffer.allocUnsafe(8);
  MAGIC.copy(head, 0);
  head.writeUInt32LE(crc32c(body), 4);
  return { name: `snap-${String(snapshot.meta.index).padStart(16, '0')}.snap`, head, body };
}

function readSnapshot(file: string): Snapshot {
  const buf = fs.readFileSync(file);
  if (buf.length < 12 || !buf.subarray(0, 4).equals(MAGIC)) throw new CorruptSnapshotError(file, 'bad header');
  if (crc32c(buf, 8) !== buf.readUInt32LE(4)) throw new CorruptSnapshotError(file, 'checksum mismatch');
  const metaLen = buf.readUInt32LE(8);
  if (12 + metaLen > buf.length) throw new CorruptSnapshotError(file, 'meta length overruns the file');
  const meta = JSON.parse(buf.subarray(12, 12 + metaLen).toString()) as SnapshotMeta;
  return { meta, data: new Uint8Array(buf.subarray(12 + metaLen)) };
}
