import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultTopology, loadTopology } from '../../src/storage/common/topology.js';
import { Prng } from '../../src/util/random.js';
import { mutate } from '../helpers/mutate.js';
import { testSeed } from '../helpers/seed.js';

/**
 * Seeded fuzzing of the storage config file (issue #13 item 2): mutated topologies and damaged
 * JSON. loadTopology either returns a topology every part of ecom can use or throws one clear
 * error that names the file or says what is invalid; never a TypeError from deep inside.
 */
const dir = mkdtempSync(join(tmpdir(), 'ecom-topology-fuzz-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const WEIRD: unknown[] = [null, 0, -1, 1.5, 70_000, '', 'x', true, [], {}, [null], { id: 1 }, Number.MAX_SAFE_INTEGER + 2];


describe('the storage config file', () => {
  it('a mutated or damaged file loads as a valid topology or is refused with a clear error', () => {
    const seed = testSeed('fuzz storage config');
    const r = new Prng(seed);
    const file = join(dir, 'cluster.json');
    let refused = 0;
    for (let round = 0; round < 500; round++) {
      const text = JSON.stringify(mutate(defaultTopology(), r, WEIRD));
      writeFileSync(file, r.chance(0.1) ? text.slice(0, r.int(text.length)) : text);
      let topology;
      try {
        topology = loadTopology(file);
      } catch (err) {
        expect(err, `round ${round}: ${String(err)}`).not.toBeInstanceOf(TypeError);
        expect((err as Error).message, `round ${round}`).toMatch(/^(invalid storage topology: |cannot read the topology file )/);
        refused++;
        continue;
      }
      for (const replica of topology.replicas) {
        expect(typeof replica.host, `round ${round}`).toBe('string');
        expect(replica.partition).toBeLessThan(topology.partitions);
      }
    }
    expect(refused, 'most mutations are refused').toBeGreaterThan(100);
  });
});
