// The replica's snapshot copier, on its own thread: copying a whole partition takes a while, and
// on the replica's event loop that starved heartbeats until a busy partition deposed its own
// healthy leader (issue #18). A copy is made only when a follower needs one (or a backup asks):
// the snapshots a replica takes itself are its store, made durable (snapshot-format.ts).
// It shares the replica's LMDB environment read-only; a copy or a scan is one read transaction,
// so the state and the applied index it holds are those of one moment.
import { closeSync, fstatSync, mkdirSync, openSync, readSync, rmSync, statSync, writeSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { join } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { APPLIED_KEY, openReadOnly } from './lmdb-store.js';
import { CopyWriter, envHeader, type SnapshotReply, type SnapshotRequest } from './snapshot-format.js';
import { defined } from '../../util/assert.js';

const { path } = workerData as { path: string };
const db = openReadOnly(path);
/** Where LMDB writes a copy before it is read into memory; nothing else uses it. No dot in the name: lmdb takes a path with an extension for a file. */
const copyDir = `${path}-copy`;

const parent = defined(parentPort, 'the snapshot worker\'s parent port');

parent.on('message', (request: SnapshotRequest) => {
  void (request.kind === 'copy' ? copy(request.maxFileBytes) : Promise.resolve(recordCopy())).then(
    (reply) => parent.postMessage(reply, reply.data.byteLength === reply.data.buffer.byteLength ? [reply.data.buffer as ArrayBuffer] : []),
    (err: unknown) => parent.postMessage({ error: err instanceof Error ? err.message : String(err) }),
  );
});

/** Bytes read or written per call as the worker checksums a store file or writes a record copy; one buffer each, reused. */
const IO_BYTES = 1 << 20;

/**
 * The store's data file as LMDB copies it (compacted: free pages left out), with the applied
 * index it holds and its checksum; the file stays on disk, and whoever takes the reply opens
 * and unlinks it. When that file is over `maxFileBytes`, its records one by one instead (a
 * record copy is about half the file's size, so a larger partition can still be sent).
 */
async function copy(maxFileBytes: number): Promise<SnapshotReply> {
  rmSync(copyDir, { recursive: true, force: true });
  mkdirSync(copyDir, { recursive: true });
  let keep = false;
  try {
    await db.backup(copyDir, true);
    const copied = openReadOnly(copyDir);
    const applied = (copied.get(APPLIED_KEY) as number | undefined) ?? 0;
    const keys = Math.max(0, (copied.getStats() as { entryCount: number }).entryCount - 1);
    const file = join(copyDir, 'data.mdb');
    if (statSync(file).size > maxFileBytes) {
      const records = join(copyDir, 'records');
      const out = new FileWriter(records);
      try {
        const writer = new CopyWriter(applied, (piece) => out.write(piece));
        for (const { key, value } of copied.getRange({})) if (key !== APPLIED_KEY) writer.add(key as string, value);
        out.flush();
        keep = true;
        // The whole copy is the file: the message carries none of it itself.
        return { applied, data: new Uint8Array(0), keys: writer.keys, file: { path: records, bytes: writer.size } };
      } finally {
        out.close();
        await copied.close();
        rmSync(file, { force: true });
      }
    }
    await copied.close();
    const { bytes, crc } = checksum(file);
    keep = true;
    return { applied, data: envHeader(applied, crc), keys, file: { path: file, bytes } };
  } finally {
    if (!keep) rmSync(copyDir, { recursive: true, force: true });
  }
}

/** Writes small pieces to a file a buffer at a time (a record copy is millions of pieces). */
class FileWriter {
  private readonly fd: number;
  private readonly buffer = Buffer.allocUnsafe(IO_BYTES);
  private used = 0;
  private at = 0;

  constructor(path: string) {
    this.fd = openSync(path, 'w');
  }

  write(piece: Uint8Array): void {
    if (this.used + piece.length > this.buffer.length) this.flush();
    if (piece.length > this.buffer.length) return void (this.at += writeAll(this.fd, piece, this.at));
    this.buffer.set(piece, this.used);
    this.used += piece.length;
  }

  flush(): void {
    this.at += writeAll(this.fd, this.buffer.subarray(0, this.used), this.at);
    this.used = 0;
  }

  close(): void {
    closeSync(this.fd);
  }
}

function writeAll(fd: number, bytes: Uint8Array, position: number): number {
  for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done, bytes.length - done, position + done);
  return bytes.length;
}

function checksum(file: string): { bytes: number; crc: number } {
  const fd = openSync(file, 'r');
  try {
    const { size } = fstatSync(fd);
    const piece = Buffer.allocUnsafe(IO_BYTES);
    let crc = 0;
    for (let at = 0; at < size; ) {
      const read = readSync(fd, piece, 0, Math.min(IO_BYTES, size - at), at);
      if (read === 0) throw new Error(`the copy ${file} ended at ${at} of its ${size} bytes`);
      crc = crc32(piece.subarray(0, read), crc);
      at += read;
    }
    return { bytes: size, crc };
  } finally {
    closeSync(fd);
  }
}

/**
 * A record copy of the live store for `ecom backup`, written to a file beside the store (the
 * receiver of the reply opens and unlinks it): read in one transaction, so the state is that of
 * one applied index, and never held whole in memory, however large the partition.
 */
function recordCopy(): SnapshotReply {
  rmSync(copyDir, { recursive: true, force: true });
  mkdirSync(copyDir, { recursive: true });
  const file = join(copyDir, 'records');
  const out = new FileWriter(file);
  let keep = false;
  try {
    let writer: CopyWriter | undefined;
    for (const { key, value } of scan()) {
      // The applied index sorts first: the header is written before any record.
      if (key === APPLIED_KEY) writer = new CopyWriter(value as number, (piece) => out.write(piece));
      else (writer ??= new CopyWriter(0, (piece) => out.write(piece))).add(key, value);
    }
    writer ??= new CopyWriter(0, (piece) => out.write(piece));
    out.flush();
    keep = true;
    return { applied: writer.applied, data: new Uint8Array(0), keys: writer.keys, file: { path: file, bytes: writer.size } };
  } finally {
    out.close();
    if (!keep) rmSync(copyDir, { recursive: true, force: true });
  }
}

/** Every key and value in one read transaction: the applied index (which sorts first) and the state are of one moment. */
function* scan(): Generator<{ key: string; value: unknown }> {
  for (const { key, value } of db.getRange({ snapshot: true })) yield { key: key as string, value };
}
