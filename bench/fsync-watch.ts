// Watches the disk's fsync latency while something else runs (issue #18): every --every-ms it
// writes 4 KiB into a file of its own and fdatasyncs it, prints each fdatasync that took
// --over-ms or more with the epoch millisecond it ended at (to set beside the replicas' log
// lines), and at the end the count, p50, p99 and the longest. The bench's own probe runs before
// a benchmark, on an idle disk; this one runs beside it, where a replica's fsyncs wait.
//   node --import tsx bench/fsync-watch.ts [--seconds S] [--every-ms N] [--over-ms N] [--dir DIR]
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { numberArg, textArg } from './script-args.js';

const SECONDS = numberArg('--seconds', 300);
const EVERY_MS = numberArg('--every-ms', 10);
const OVER_MS = numberArg('--over-ms', 50);
const BLOCK = Buffer.alloc(4096, 0x5a);
/** The file is rewritten in place over this many blocks: its size stays fixed after the first pass. */
const BLOCKS = 256;

const dir = mkdtempSync(join(textArg('--dir') ?? tmpdir(), 'ecom-fsync-watch-'));
const fd = openSync(join(dir, 'probe'), 'w');
const took_ms: number[] = [];
let stop = false;
process.on('SIGINT', () => {
  stop = true;
});
console.log(`fsync-watch: a 4 KiB write and fdatasync every ${EVERY_MS} ms for ${SECONDS} s in ${dir}; printing those of ${OVER_MS} ms or more (Ctrl-C ends early)`);
try {
  const end = Date.now() + SECONDS * 1000;
  for (let n = 0; !stop && Date.now() < end; n++) {
    writeSync(fd, BLOCK, 0, BLOCK.length, (n % BLOCKS) * BLOCK.length);
    const started = performance.now();
    fdatasyncSync(fd);
    const ms = performance.now() - started;
    took_ms.push(ms);
    if (ms >= OVER_MS) console.log(`${Date.now()} fdatasync took ${ms.toFixed(0)} ms`);
    await sleep(EVERY_MS);
  }
} finally {
  closeSync(fd);
  rmSync(dir, { recursive: true, force: true });
}
const sorted = [...took_ms].sort((a, b) => a - b);
const at = (q: number) => (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0).toFixed(2);
console.log(
  `fsync-watch: ${sorted.length} fdatasyncs, p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, longest ${(sorted[sorted.length - 1] ?? 0).toFixed(1)} ms, ${sorted.filter((ms) => ms >= OVER_MS).length} of ${OVER_MS} ms or more`,
);
