import { describe, expect, it } from 'vitest';
import { Histogram } from '../../src/bench/histogram.js';
import { EARLY_START_MS, openLoop } from '../../src/bench/loops.js';

describe('the open loop', () => {
  it('keeps its rate when it starts requests early, and never times a request below what it took', async () => {
    const starts: number[] = [];
    const took = 3;
    const result = await openLoop(
      async () => {
        const start = performance.now();
        starts.push(start);
        // Not a timer: Node's timers may fire up to a millisecond early against performance.now().
        while (performance.now() - start < took) await new Promise((resolve) => setImmediate(resolve));
        return true;
      },
      200,
      { warmup_ms: 100, duration_ms: 1_000 },
    );
    // 200/s for one second, give or take the requests due at the window's edges.
    expect(result.ops).toBeGreaterThanOrEqual(195);
    expect(result.ops).toBeLessThanOrEqual(205);
    // Timed from the earlier of "due" and "left": never less than the request's own duration.
    expect(Histogram.fromJSON(result.histogram).min_us).toBeGreaterThanOrEqual(took * 1000);
    // Early by at most EARLY_START_MS: the whole run offered no more than its rate.
    const span_s = (starts.at(-1)! - starts[0]! + EARLY_START_MS) / 1000;
    expect(starts.length / span_s).toBeLessThan(205);
  });
});
