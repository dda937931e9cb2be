import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

/**
 * The longest the event loop was blocked lately (the longest delay of a 10 ms timer beyond its
 * due time), over the current and the previous window. A Raft replica must never stall for a
 * sizeable fraction of its election timeout, or healthy followers depose their leader; this
 * is what `ecom status` and `ecom bench` report as maxStall_ms.
 */
export class StallMonitor {
  private readonly histogram: IntervalHistogram;
  private previousMax_ms = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(window_ms = 10_000) {
    this.histogram = monitorEventLoopDelay({ resolution: 10 });
    this.histogram.enable();
    this.timer = setInterval(() => {
      this.previousMax_ms = this.currentMax_ms();
      this.histogram.reset();
    }, window_ms);
    this.timer.unref();
  }

  /** Milliseconds, over the last one to two windows. */
  maxStall_ms(): number {
    return Math.max(this.previousMax_ms, this.currentMax_ms());
  }

  close(): void {
    clearInterval(this.timer);
    this.histogram.disable();
  }

  private currentMax_ms(): number {
    // The histogram holds delays in nanoseconds, including the resolution itself.
    return this.histogram.count === 0 ? 0 : Math.max(0, this.histogram.max / 1e6 - 10);
  }
}
