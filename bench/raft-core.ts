// Committed entries per second through a 3-replica cluster of pure cores, no I/O: the ceiling the
// protocol code itself puts on throughput. Target: ≥ 200,000 entries/s.
//   node --import tsx bench/raft-core.ts [--entries N] [--payload BYTES] [--codec]
import { RaftNode, DEFAULT_OPTIONS } from '../src/raft/core/index.js';
import type { Message } from '../src/raft/core/index.js';
import { decodeMessage, encodeMessage } from '../src/raft/codec.js';
import { Prng } from '../src/util/random.js';
import { defined } from '../src/util/assert.js';
import { printMachine } from './machine.js';
import { numberArg } from './script-args.js';

function run(total_entries: number, payload_bytes: number, withCodec: boolean, proposals_per_round: number): number {
  const ids = [1, 2, 3];
  const nodes = new Map<number, RaftNode>();
  for (const id of ids) {
    const prng = new Prng(id);
    nodes.set(
      id,
      new RaftNode(
        { ...DEFAULT_OPTIONS, id, random_int: (n) => prng.int(n), max_inflight_msgs: 64 },
        { hardState: { term: 0, vote: 0, commit: 0 }, snapshot: undefined, entries: [], bootstrap: { voters: ids, learners: [] } },
      ),
    );
  }
  const leader = defined(nodes.get(1), 'node 1');
  let inbox: Message[] = [];
  const pump = (): number => {
    let applied = 0;
    for (const n of nodes.values()) {
      while (n.hasReady()) {
        const rd = n.ready();
        for (const m of rd.messages) inbox.push(withCodec ? decodeMessage(encodeMessage(m)) : m);
        if (n === leader) applied += rd.committedEntries.length;
        n.advance();
      }
    }
    const batch = inbox;
    inbox = [];
    for (const m of batch) defined(nodes.get(m.to), () => `node ${m.to}`).step(m);
    return applied;
  };
  leader.campaign();
  while (leader.role !== 'leader') pump();
  for (let i = 0; i < 10; i++) pump();

  const payload = new Uint8Array(payload_bytes).fill(7);
  let proposed = 0;
  let committed = 0;
  const started = process.hrtime.bigint();
  while (committed < total_entries) {
    for (let i = 0; i < proposals_per_round && proposed < total_entries; i++, proposed++) leader.propose(payload);
    committed += pump();
  }
  const elapsed_s = Number(process.hrtime.bigint() - started) / 1e9;
  return committed / elapsed_s;
}

printMachine();
const total = numberArg('--entries', 1_000_000);
const payload = numberArg('--payload', 64);
const codec = process.argv.includes('--codec');
run(100_000, payload, codec, 256); // warm-up for the JIT
for (const per_round of [64, 256, 1024]) {
  const rate = run(total, payload, codec, per_round);
  console.log(
    `raft-core: 3 replicas, ${payload}-byte entries, ${per_round} proposals per Ready cycle${codec ? ', messages through the codec' : ''}: ` +
      `${Math.round(rate).toLocaleString('en-US')} committed entries/s (target ≥ 200,000)`,
  );
}
