import { describe, expect, it } from 'vitest';
import { StageTrace } from '../../src/storage/replica/stage-trace.js';

describe('StageTrace: where a write spends its time at the leader', () => {
  it('splits arrival → durable → committed → applied into stages, per window', () => {
    const trace = new StageTrace();
    trace.arrived(1, 0);
    trace.arrived(2, 1);
    trace.persisted(2, 3); // one fdatasync makes both durable
    trace.committed(1, 7);
    trace.applied(1, 8);
    trace.committed(2, 9);
    trace.applied(2, 12);
    const window = trace.read();
    expect(window.leaderPersist).toMatchObject({ count: 2, p50_ms: 3, max_ms: 3 }); // 3 and 2, upper median
    expect(window.replicate).toMatchObject({ count: 2, max_ms: 6 });
    expect(window.apply).toMatchObject({ count: 2, p50_ms: 3, max_ms: 3 });
    expect(window.total).toMatchObject({ count: 2, p50_ms: 11, max_ms: 11 });
    expect(trace.read().total.count, 'reading starts a new window').toBe(0);
  });

  it('forgets the proposals of a lost leadership', () => {
    const trace = new StageTrace();
    trace.arrived(5, 0);
    trace.dropAll();
    trace.applied(5, 10);
    expect(trace.read().total.count).toBe(0);
  });
});
