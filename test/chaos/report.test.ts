import { describe, expect, it } from 'vitest';
import type { OpRecord } from '../../src/chaos/history.js';
import { renderReport } from '../../src/chaos/report.js';

/** The HTML report of a run, from a recorded history. */
function op(id: number, outcome: OpRecord['outcome'], key: string): OpRecord {
  return { id, workload: 'register', client: id % 6, op: 'put', keys: [key], input: { key }, call_ms: id, ret_ms: id + 5, outcome, result: null };
}

describe('chaos report', () => {
  // Regression: the 600 s raft soak (seed 20261129) recorded 200,000 operations and then crashed
  // writing its report: "Maximum call stack size exceeded" (Math.max over a spread of them all).
  it('renders a soak-sized history of 300,000 operations', () => {
    const ops = Array.from({ length: 300_000 }, (_, i) => op(i, 'ok', `client/${i % 12}`));
    const html = renderReport({ title: 'soak', summary: { seed: 1 }, ops, faults: [], violations: [] });
    expect(html).toContain('<svg');
    // The timeline spans the whole history: its last tick is at 295 s, 5 s steps from 0.
    expect(html).toContain('>295s<');
  });

  it('narrows the picture to the records a violation names', () => {
    const ops = [op(1, 'ok', 'client/1'), op(2, 'unknown', 'client/2'), op(3, 'fail', 'client/1')];
    const html = renderReport({ title: 't', summary: {}, ops, faults: [], violations: [{ checker: 'linearizability', message: 'bad', keys: ['client/2'] }] });
    expect(html).toContain('Operations on client/2');
    expect(html).toContain('<b>linearizability</b>: bad');
    // Only the operation on client/2 is listed.
    expect(html.match(/<tr class="/g)?.length).toBe(1);
  });
});
