import { describe, expect, it } from 'vitest';
import { Prng } from '../../src/util/random.js';
import { runEcom } from '../helpers/ecom.js';
import { testSeed } from '../helpers/seed.js';

/**
 * Seeded fuzzing of the command line (issue #13 item 2): every command with one argument or
 * option value that cannot be right (wrong type, out of range, a missing file, a bad mode).
 * ecom must refuse before starting anything, exit non-zero, and say what is wrong in a few lines,
 * never with a stack trace. One bad slot per case keeps any server from starting, and so any
 * default port from being touched.
 */
const CASES = 24;
const BAD = {
  number: ['abc', '-1', '1e309', '0x10', '', '1.5'],
  seconds: ['abc', '-1', '1e309', '0x10', '', '0', '1.'],
  port: ['notaport', '70000', '-3', ''],
  file: ['/nonexistent/ecom.json', '/proc/self/status'],
  mode: ['nope', 'RAFT', ''],
  /** Where no backup can be written: refused before any cluster is asked. */
  destination: ['/nonexistent/dir/shop.backup', '/proc/self/status/shop.backup', '/', '/tmp', ''],
  /** Valid ports whose +10 (mqtt mode's second portals) is not one. */
  nearTop: ['65530', '65535', '65526'],
};

type Slot = keyof typeof BAD;
/** Command lines with one slot to fill with a bad value. */
const TEMPLATES: Array<{ argv: string[]; slot: Slot }> = [
  { argv: ['storage', '$'], slot: 'number' },
  { argv: ['storage', '1', '--max-pending', '$'], slot: 'number' },
  { argv: ['storage', '1', '--snapshot-every', '$', '--storage-config', '/nonexistent/ecom.json'], slot: 'number' },
  { argv: ['storage', '1', '--storage-config', '$'], slot: 'file' },
  { argv: ['status', '--storage-config', '$'], slot: 'file' },
  { argv: ['leader', 'move', '--partition', '$', '--to', '2'], slot: 'number' },
  { argv: ['leader', 'move', '--partition', '0', '--to', '$'], slot: 'number' },
  { argv: ['member', 'add', '$', '--partition', '0', '--host', '127.0.0.1', '--client-port', '1', '--raft-port', '2'], slot: 'number' },
  { argv: ['member', 'add', '7', '--partition', '0', '--host', '127.0.0.1', '--client-port', '$', '--raft-port', '2'], slot: 'port' },
  { argv: ['member', 'remove', '$'], slot: 'number' },
  { argv: ['member', 'list', '--storage-config', '$'], slot: 'file' },
  { argv: ['storage', '7', '--join', '--partition', '0', '--host', '127.0.0.1', '--client-port', '1', '--raft-port', '$'], slot: 'port' },
  { argv: ['backup', '$'], slot: 'destination' },
  { argv: ['backup', '/nonexistent/dir/shop.backup', '--timeout', '$'], slot: 'number' },
  { argv: ['restore', '$', '--data', '/nonexistent/dir'], slot: 'file' },
  { argv: ['admin-server', '$'], slot: 'port' },
  { argv: ['order-server', '$', '--mode', 'single'], slot: 'port' },
  { argv: ['admin-server', '0', '--mode', '$'], slot: 'mode' },
  { argv: ['up', '--admin-port', '$'], slot: 'port' },
  { argv: ['up', '--mode', '$'], slot: 'mode' },
  { argv: ['up', '--mode', 'mqtt', '--admin-port', '$'], slot: 'nearTop' },
  { argv: ['admin', '--port', '$', 'get-client', '1'], slot: 'port' },
  { argv: ['order', '--port', '$'], slot: 'port' },
  { argv: ['bench', 'run', 'put', '-c', '$'], slot: 'number' },
  { argv: ['bench', 'run', 'put', '--max-pending', '$'], slot: 'number' },
  { argv: ['bench', 'run', 'put', '--duration', '$'], slot: 'seconds' },
  { argv: ['bench', 'run', 'put', '--warmup', '$', '--duration', 'x'], slot: 'seconds' },
  { argv: ['bench', 'failover', '--kills', '$'], slot: 'number' },
];

describe('the command line refuses what cannot be right', () => {
  it('one bad argument or option value: a short error and a non-zero exit, never a stack trace', { timeout: 180_000 }, async () => {
    const seed = testSeed('fuzz command line');
    const r = new Prng(seed);
    for (let i = 0; i < CASES; i++) {
      const { argv, slot } = r.pick(TEMPLATES);
      const args = argv.map((a) => (a === '$' ? r.pick(BAD[slot]) : a));
      const run = await runEcom(args, { timeout_ms: 20_000 });
      const what = `ecom ${args.map((a) => JSON.stringify(a)).join(' ')}`;
      expect(run.code, `${what} exits non-zero\n${run.stderr}`).not.toBe(0);
      expect(run.stderr, `${what} says why`).toMatch(/\S/);
      expect(run.stderr, `${what}: no stack trace`).not.toMatch(/^\s+at /m);
      expect(run.stderr.trim().split('\n').length, `${what}: a few lines\n${run.stderr}`).toBeLessThanOrEqual(4);
    }
  });
});
