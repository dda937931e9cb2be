import { describe, expect, it } from 'vitest';
import { TestCluster, enc, dec } from './harness.js';

describe('smoke', () => {
  it('elects, replicates and applies on all nodes', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    expect(c.node(1).role).toBe('leader');
    c.node(1).propose(enc('a'));
    c.node(1).propose(enc('b'));
    c.stabilize();
    c.tickAll(1);
    c.stabilize();
    for (const id of [1, 2, 3]) {
      expect(c.applied.get(id)!.filter((e) => e.data.length > 0).map((e) => dec(e.data))).toEqual(['a', 'b']);
    }
  });
});
