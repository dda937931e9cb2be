import { describe, expect, it } from 'vitest';
import { MqttStageTrace } from '../../src/modes/mqtt/stage-trace.js';

describe('mqtt stage trace', () => {
  it('records nothing before the first request, then each stage of a command, per window', () => {
    const trace = new MqttStageTrace();
    trace.applied(100, 100.5, 100.6, 101);
    expect(trace.on).toBe(false);
    const first = trace.read();
    expect(first.stages.apply.count).toBe(0);
    expect(trace.on).toBe(true);

    // Published at 100 ms, read from the socket at 100.5, handled at 100.6, applied at 101.
    trace.applied(100, 100.5, 100.6, 101);
    // A stamp ahead of this clock: counted, its delivery not timed, its apply timed.
    trace.applied(200, 199, 199.2, 199.3);
    const { stages, skewed } = trace.read();
    expect(skewed).toBe(1);
    expect(stages.broker.count).toBe(1);
    expect(stages.broker.p50_ms).toBeCloseTo(0.5, 2);
    expect(stages.visible.p50_ms).toBeCloseTo(1, 2);
    expect(stages.queued.count).toBe(2);
    expect(stages.apply.max_ms).toBeCloseTo(0.4, 2);
    // The next window starts empty.
    const next = trace.read();
    expect(next.stages.apply.count).toBe(0);
    expect(next.skewed).toBe(0);
    trace.stop();
  });
});
