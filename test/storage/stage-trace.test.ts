import { describe, expect, it } from 'vitest';
import { StageTrace } from '../../src/storage/replica/stage-trace.js';

describe('StageTrace: where a write spends its time at the leader', () => {
  it('splits arrival → durable → committed → applied into stages, per window', () => {
    const trace = new StageTrace();
    trace.arrived(1, 0);
    trace.arrived(2, 1);
    trace.writing(2, 1.5); // one Ready writes both
    trace.persisted(2, 3); // one fdatasync makes both durable
    trace.committed(1, 7);
    trace.applied(1, 8);
    trace.committed(2, 9);
    trace.applied(2, 12);
    const window = trace.read();
    expect(window.queued).toMatchObject({ count: 2, p50_ms: 1.5, max_ms: 1.5 }); // 1.5 and 0.5
    expect(window.fsync).toMatchObject({ count: 2, p50_ms: 1.5, max_ms: 1.5 });
    expect(window.leaderPersist).toMatchObject({ count: 2, p50_ms: 3, max_ms: 3 }); // 3 and 2, upper median
    expect(window.replicate).toMatchObject({ count: 2, max_ms: 6 });
    expect(window.apply).toMatchObject({ count: 2, p50_ms: 3, max_ms: 3 });
    expect(window.total).toMatchObject({ count: 2, p50_ms: 11, max_ms: 11 });
    expect(trace.read().total.count, 'reading starts a new window').toBe(0);
  });

  it('waits an entry for the fsync of an earlier Ready, and tells the wait from its own fsync', () => {
    const trace = new StageTrace();
    trace.arrived(1, 0);
    trace.writing(1, 0.1);
    trace.arrived(2, 0.2); // its Ready waits while entry 1's fsync is out
    trace.persisted(1, 1);
    trace.writing(2, 1.1);
    trace.persisted(2, 2);
    for (const index of [1, 2]) {
      trace.committed(index, 3);
      trace.applied(index, 3);
    }
    const window = trace.read();
    expect(window.queued.max_ms).toBeCloseTo(0.9);
    expect(window.fsync.max_ms).toBeCloseTo(0.9);
    expect(window.leaderPersist.max_ms).toBeCloseTo(1.8);
  });

  it('counts an entry whose write was not seen as queued until it was durable', () => {
    const trace = new StageTrace();
    trace.arrived(1, 0);
    trace.persisted(1, 2);
    trace.committed(1, 3);
    trace.applied(1, 3);
    const window = trace.read();
    expect(window.queued.max_ms).toBe(2);
    expect(window.fsync.max_ms).toBe(0);
  });

  it('forgets the proposals of a lost leadership', () => {
    const trace = new StageTrace();
    trace.arrived(5, 0);
    trace.dropAll();
    trace.applied(5, 10);
    expect(trace.read().total.count).toBe(0);
  });
});
