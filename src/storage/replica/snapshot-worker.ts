// The replica's snapshot copier, on its own thread: reading a whole partition out of LMDB and
// encoding it takes tens of milliseconds per few megabytes, and on the replica's event loop that
// starved heartbeats until a busy partition deposed its own healthy leader (issue #18). A copy is
// made only when a follower needs one (or a backup asks): the snapshots a replica takes itself
// are its store, made durable (snapshot-format.ts).
// It shares the replica's LMDB environment read-only; one scan is one read transaction, so the
// state and the applied index it reports are those of one moment.
import { parentPort, workerData } from 'node:worker_threads';
import { open } from 'lmdb';
import { APPLIED_KEY } from './lmdb-store.js';
import { CopyWriter, LEGACY_JSON_FORMAT, type SnapshotReply, type SnapshotRequest } from './snapshot-format.js';
import { defined } from '../../util/assert.js';

const { path } = workerData as { path: string };
const db = open({ path, compression: false, encoding: 'msgpack', noSync: true, readOnly: true });

const parent = defined(parentPort, 'the snapshot worker\'s parent port');

parent.on('message', (request: SnapshotRequest) => {
  const reply = request.kind === 'copy' ? copy() : json(request.maxBytes);
  parent.postMessage(reply, [reply.data.buffer as ArrayBuffer]);
});

function copy(): SnapshotReply {
  let writer: CopyWriter | undefined;
  for (const { key, value } of scan()) {
    if (writer === undefined) writer = new CopyWriter(key === APPLIED_KEY ? (value as number) : 0);
    if (key !== APPLIED_KEY) writer.add(key, value);
  }
  writer ??= new CopyWriter(0);
  return { applied: writer.applied, data: writer.finish(), keys: writer.keys };
}

/** Format 1 JSON for `ecom backup`; stops as soon as it is over `maxBytes` (the backup is then refused). */
function json(maxBytes: number): SnapshotReply {
  const pieces: string[] = [];
  let applied = 0;
  let chars = 0;
  for (const { key, value } of scan()) {
    if (key === APPLIED_KEY) {
      applied = value as number;
      continue;
    }
    const piece = JSON.stringify([key, value]);
    chars += piece.length + 1;
    // A UTF-16 length under-counts UTF-8 bytes; the exact size is checked again once encoded.
    if (chars > maxBytes) return { applied, data: new Uint8Array(0), keys: pieces.length, tooBig: true };
    pieces.push(piece);
  }
  const data = new TextEncoder().encode(`{"format":${LEGACY_JSON_FORMAT},"entries":[${pieces.join(',')}]}`);
  return { applied, data, keys: pieces.length, tooBig: data.length > maxBytes };
}

/** Every key and value in one read transaction: the applied index (which sorts first) and the state are of one moment. */
function* scan(): Generator<{ key: string; value: unknown }> {
  for (const { key, value } of db.getRange({ snapshot: true })) yield { key: key as string, value };
}
