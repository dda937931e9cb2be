import { describe, expect, it } from 'vitest';
import { ReportLimiter } from '../../src/util/report-limiter.js';

describe('ReportLimiter', () => {
  it('tells at most one a period, counting those held back into the next told; urgent ones always', () => {
    const limiter = new ReportLimiter(1_000);
    expect(limiter.tell(0)).toEqual({ notReported: 0 });
    expect(limiter.tell(10)).toBeUndefined();
    expect(limiter.tell(999)).toBeUndefined();
    // An urgent one is told inside the period, with the count, and starts a new period.
    expect(limiter.tell(1_200, true)).toEqual({ notReported: 2 });
    expect(limiter.tell(1_300)).toBeUndefined();
    expect(limiter.tell(2_200)).toEqual({ notReported: 1 });
    expect(limiter.tell(3_200)).toEqual({ notReported: 0 });
  });
});
