// The replica's snapshot serializer, on its own thread: reading a whole partition out of LMDB and
// encoding it takes tens of milliseconds per few megabytes, and on the replica's event loop that
// starved heartbeats until a busy partition deposed its own healthy leader (issue #18).
// It shares the replica's LMDB environment read-only; one scan is one read transaction, so the
// state and the applied index it reports are those of one moment.
import { parentPort, workerData } from 'node:worker_threads';
import { open } from 'lmdb';
import { APPLIED_KEY } from './lmdb-store.js';
import { SNAPSHOT_FORMAT, type SnapshotRequest, type SnapshotReply } from './snapshot-format.js';
import { defined } from '../../util/assert.js';

const { path } = workerData as { path: string };
const db = open({ path, compression: false, encoding: 'msgpack', noSync: true, readOnly: true });

const parent = defined(parentPort, 'the snapshot worker\'s parent port');

parent.on('message', (_request: SnapshotRequest) => {
  let applied = 0;
  const entries: Array<[string, unknown]> = [];
  for (const { key, value } of db.getRange({ snapshot: true })) {
    if (key === APPLIED_KEY) applied = value as number;
    else entries.push([key as string, value]);
  }
  // A fresh ArrayBuffer (not Node's shared pool) so it can be handed over without a copy.
  const data = new TextEncoder().encode(JSON.stringify({ format: SNAPSHOT_FORMAT, entries }));
  const reply: SnapshotReply = { applied, data, keys: entries.length };
  parent.postMessage(reply, [data.buffer]);
});
