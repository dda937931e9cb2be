import { monitorEventLoopDelay, PerformanceObserver, type IntervalHistogram } from 'node:perf_hooks';
import { Histogram } from './histogram.js';

/** How often the loop monitor's timer runs (as the portals' stage trace): a finer one would cost the probe a wake-up each time. */
const LOOP_RESOLUTION_MS = 10;

/**
 * What a load-generating process spends of its own while it measures: CPU time, how late its
 * event loop ran (a reply read late is timed late), and its garbage collector's pauses. A probe
 * whose figure is mostly its own round trips needs these beside the system's to say whose
 * milliseconds the tail is.
 */
export class ProcessHealth {
  private readonly cpuAtStart = process.cpuUsage();
  private readonly loop: IntervalHistogram = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  private readonly gc = new Histogram();
  private readonly gcObserver = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) this.gc.record_ms(entry.duration);
  });

  constructor() {
    this.loop.enable();
    this.gcObserver.observe({ entryTypes: ['gc'] });
  }

  /** Stops the monitors and says what they saw, CPU per operation over `ops`. */
  finish(ops: number): string {
    this.loop.disable();
    this.gcObserver.disconnect();
    const cpu = process.cpuUsage(this.cpuAtStart);
    const f = (v: number) => v.toFixed(2);
    // The monitor records the interval between its timer's runs, in ns: less the resolution is the delay.
    const late = (ns: number) => f(Math.max(0, ns / 1e6 - LOOP_RESOLUTION_MS));
    const gc = this.gc.summary();
    return (
      `its own CPU ${Math.round((cpu.user + cpu.system) / Math.max(1, ops))} µs per write, ` +
      `event loop late p50 ${late(this.loop.percentile(50))} / p99 ${late(this.loop.percentile(99))} / max ${late(this.loop.max)} ms, ` +
      (gc.count === 0 ? 'no gc pause' : `gc ${gc.count} pauses, p99 ${f(gc.p99_ms)} / max ${f(gc.max_ms)} ms`)
    );
  }
}
