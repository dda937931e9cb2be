import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { pyDumps, type PyJsonValue } from '../../src/domain/pyjson.js';
import { testSeed } from '../helpers/seed.js';

/** The reply format must be byte-identical to Python's json.dumps: checked against Python itself. */
const value: fc.Arbitrary<PyJsonValue> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.string({ unit: 'binary' }),
    fc.string({ unit: 'grapheme' }),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.string({ unit: 'binary', maxLength: 6 }), tie('value'), { maxKeys: 4 }),
  ),
})).value as fc.Arbitrary<PyJsonValue>;

describe('pyDumps', () => {
  it('formats the spec examples', () => {
    expect(pyDumps({ nome: 'Caneta', preço: '2.50', quantidade: '8' })).toBe('{"nome": "Caneta", "pre\\u00e7o": "2.50", "quantidade": "8"}');
    expect(pyDumps({ products: [], total: '0' })).toBe('{"products": [], "total": "0"}');
    expect(pyDumps('😀\u007f\t"\\')).toBe('"\\ud83d\\ude00\\u007f\\t\\"\\\\"');
  });

  it('matches python3 json.dumps byte for byte on random values', () => {
    const seed = testSeed('pyDumps matches python');
    const samples = fc.sample(value, { numRuns: 300, seed });
    // Lone surrogates cannot cross a UTF-8 pipe; send the values as ASCII-only JSON (JSON.stringify escapes them).
    const input = samples.map((v) => JSON.stringify(v).replace(/[\u007f-\uffff]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'))).join('\n');
    const script = 'import sys, json\nfor line in sys.stdin.read().split("\\n"):\n    print(json.dumps(json.loads(line)))';
    const python = execFileSync('python3', ['-c', script], { input, encoding: 'utf8' }).split('\n').slice(0, -1);
    expect(python).toHaveLength(samples.length);
    samples.forEach((sample, i) => expect(pyDumps(sample)).toBe(python[i]));
  });
});
