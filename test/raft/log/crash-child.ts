// Child process for the crash test: appends batches to a FileLog forever, printing each index
// once it is synced, until the parent kills it with SIGKILL. Syncs off the event loop, as the
// replica does, so that segments are made ready, switched to and deleted while it is killed.
//   node --import tsx crash-child.ts <dir> <seed>
import { FileLog } from '../../../src/raft/log/file-log.js';
import { Prng } from '../../../src/util/random.js';
import { entryFor } from './content.js';

const [dir, seedArg] = process.argv.slice(2);
if (!dir || !seedArg) throw new Error('usage: crash-child.ts <dir> <seed>');
const prng = new Prng(Number(seedArg));
const log = FileLog.open(dir, { segment_bytes: 16 << 10, max_unsynced_bytes: 16 << 20 });
let next = log.lastIndex() + 1;
for (;;) {
  const batch = [];
  const n = 1 + prng.int(40);
  for (let i = 0; i < n; i++) batch.push(entryFor(next++));
  log.append(batch);
  log.setHardState({ term: next - 1, vote: 1, commit: Math.max(0, next - 10) });
  await new Promise<void>((resolve, reject) => log.syncAsync((err) => (err === undefined ? resolve() : reject(err))));
  process.stdout.write(`synced ${next - 1}\n`);
  if (prng.chance(0.05) && next > 200) log.compact(next - 150);
}
