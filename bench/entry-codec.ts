// What the partition entries' JSON costs against a binary encoding (issue #12, lever 3): encode
// and decode time per entry, and size, for the entry kinds an order writes. msgpackr is the
// binary candidate the issue names (installed with lmdb). The replicas spend about 100 µs of
// CPU per durable write under load (docs/bench.md); this says how much of it JSON could be.
//   node --import tsx bench/entry-codec.ts [--iterations N]
import { Packr } from 'msgpackr';
import { decodeEntry, encodeEntry, INDEXED, type PartitionEntry } from '../src/storage/common/entries.js';
import { printMachine } from './machine.js';
import { numberArg } from './script-args.js';

const iterations = numberArg('--iterations', 200_000);
const txid = '6f1c2e4a-9b7d-4c3e-8f21-0a5b6c7d8e9f:1234';
const now = Date.now();

const ENTRIES: Record<string, PartitionEntry> = {
  exec: {
    time_ms: now,
    op: { t: 'exec', session: { client: '6f1c2e4a-9b7d-4c3e-8f21-0a5b6c7d8e9f', seq: 12_345, ackBelow: 12_340 }, command: { op: 'CreateClient', cid: 'c1234567', data: '{"name": "Ana Maria"}' }, format: INDEXED },
  },
  lock: { time_ms: now, op: { t: 'lock', txid, home: 0, keys: [{ kind: 'product', id: 'p1' }, { kind: 'client', id: 'c1' }], deadline_ms: now + 5_000 } },
  commit: {
    time_ms: now,
    op: {
      t: 'commit',
      txid,
      writes: [
        { key: { kind: 'product', id: 'p1' }, value: { kind: 'product', name: 'Caneta azul', price: '2.50', quantity: 9_999, orderRefs: 12 } },
        { key: { kind: 'client', id: 'c1' }, value: { kind: 'client', name: 'Ana', orderCount: 3, lastSeq: 3 } },
      ],
    },
  },
};

function nsPer(work: () => void): number {
  for (let i = 0; i < iterations / 10; i++) work(); // warm the JIT
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) work();
  return Number(process.hrtime.bigint() - start) / iterations;
}

printMachine();
const packr = new Packr({ useRecords: false });
console.log(`${iterations} iterations per figure; ns per entry (lower is better)`);
for (const [kind, entry] of Object.entries(ENTRIES)) {
  const json = encodeEntry(entry);
  const binary = packr.pack(entry);
  const figures = {
    json: { bytes: json.length, encode: nsPer(() => encodeEntry(entry)), decode: nsPer(() => decodeEntry(json)) },
    msgpackr: { bytes: binary.length, encode: nsPer(() => packr.pack(entry)), decode: nsPer(() => void packr.unpack(binary)) },
  };
  for (const [codec, f] of Object.entries(figures)) {
    console.log(`${kind.padEnd(7)} ${codec.padEnd(9)} ${String(f.bytes).padStart(4)} B  encode ${f.encode.toFixed(0).padStart(5)} ns  decode ${f.decode.toFixed(0).padStart(5)} ns`);
  }
}
