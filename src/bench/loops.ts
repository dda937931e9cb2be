import { Histogram, type HistogramJson } from './histogram.js';

/**
 * The two ways of offering load, run inside one worker process:
 * - closed loop: `concurrency` requests in flight, each loop sends its next request as soon as
 *   the previous reply arrives (throughput at a given concurrency);
 * - open loop: requests start at a fixed rate whatever the replies (latency before
 *   saturation). Latency is measured from when a request was due, not when it left, so a
 *   stalled server cannot hide its queue (coordinated omission). A request may leave up to
 *   EARLY_START_MS before it is due, and is then timed from when it left.
 */
export interface LoopOptions {
  readonly warmup_ms: number;
  readonly duration_ms: number;
  /** Called about once a second while measuring, with the counts so far. */
  readonly onProgress?: (ops: number, errors: number) => void;
  /** Stops early when it resolves (Ctrl-C); what was measured so far is kept. */
  readonly abort?: Promise<void>;
}

export interface LoopResult {
  /** Requests completed in the measured window (successes and errors). */
  readonly ops: number;
  readonly errors: number;
  /** Requests the open loop could not start because too many were in flight already. */
  readonly dropped: number;
  readonly elapsed_ms: number;
  readonly histogram: HistogramJson;
  /** A few error messages, to say why requests failed. */
  readonly errorSamples: string[];
}

/** An open loop never holds more requests than this in flight: past it, the server is saturated anyway. */
export const MAX_IN_FLIGHT = 10_000;

/**
 * How early an open loop may start a request. Node's timers fire on whole milliseconds of a
 * clock read once per loop turn, so a loop that waits for each due time starts its requests
 * 0.6 ms late at the median (measured: 125 requests/s, an otherwise idle process), and since
 * latency counts from the due time, that lateness was in every figure: a third of mqtt mode's
 * 2 ms visibility target. Starting up to this much early (then timing from the actual start,
 * which only lengthens the measured latency) keeps the rate and leaves the lateness out.
 */
export const EARLY_START_MS = 1.5;

class Window {
  readonly histogram = new Histogram();
  ops = 0;
  errors = 0;
  dropped = 0;
  readonly errorSamples: string[] = [];
  readonly start: number;
  readonly end: number;
  private progressTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: LoopOptions) {
    this.start = performance.now() + options.warmup_ms;
    this.end = this.start + options.duration_ms;
    if (options.onProgress) {
      const onProgress = options.onProgress;
      this.progressTimer = setInterval(() => onProgress(this.ops, this.errors), 1000);
      this.progressTimer.unref();
    }
  }

  /** Records one completed request that was due at `due` and left at `left` (performance.now() times). */
  record(due: number, ok: boolean, error?: unknown, left = due): void {
    // A request counts when it was due inside the window, however late its reply: dropping
    // the slow tail at the end would flatter the percentiles.
    if (due < this.start || due >= this.end) return;
    const now = performance.now();
    this.ops++;
    this.histogram.record_ms(now - Math.min(due, left));
    if (!ok) {
      this.errors++;
      if (this.errorSamples.length < 5) this.errorSamples.push(error instanceof Error ? error.message : error === undefined ? 'error reply' : JSON.stringify(error));
    }
  }

  result(stoppedAt: number): LoopResult {
    clearInterval(this.progressTimer);
    const elapsed_ms = Math.max(0, Math.min(stoppedAt, this.end) - this.start);
    return { ops: this.ops, errors: this.errors, dropped: this.dropped, elapsed_ms, histogram: this.histogram.toJSON(), errorSamples: this.errorSamples };
  }
}

async function timed(op: () => Promise<boolean>): Promise<[boolean, unknown]> {
  try {
    return [await op(), undefined];
  } catch (err) {
    return [false, err];
  }
}

export async function closedLoop(op: () => Promise<boolean>, concurrency: number, options: LoopOptions): Promise<LoopResult> {
  const window = new Window(options);
  let aborted = false;
  void options.abort?.then(() => (aborted = true));
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (!aborted && performance.now() < window.end) {
        const due = performance.now();
        const [ok, err] = await timed(op);
        window.record(due, ok, err);
      }
    }),
  );
  return window.result(performance.now());
}

export async function openLoop(op: () => Promise<boolean>, rate_per_s: number, options: LoopOptions): Promise<LoopResult> {
  if (!(rate_per_s > 0)) throw new Error(`an open loop needs a rate above 0 requests/s, got ${rate_per_s}`);
  const window = new Window(options);
  const began = performance.now();
  const interval_ms = 1000 / rate_per_s;
  let started = 0;
  let inFlight = 0;
  let aborted = false;
  void options.abort?.then(() => (aborted = true));
  const pending = new Set<Promise<void>>();
  while (!aborted) {
    const now = performance.now();
    if (now >= window.end) break;
    // Start every request that has come due since the last tick, or will within EARLY_START_MS (timers are coarse; rate is not).
    while (began + started * interval_ms <= now + EARLY_START_MS) {
      const due = began + started * interval_ms;
      started++;
      if (inFlight >= MAX_IN_FLIGHT) {
        if (due >= window.start) window.dropped++;
        continue;
      }
      inFlight++;
      const left = performance.now();
      const p = timed(op).then(([ok, err]) => {
        inFlight--;
        window.record(due, ok, err, left);
      });
      pending.add(p);
      void p.then(() => pending.delete(p));
    }
    const nextDue = began + started * interval_ms;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, Math.min(nextDue - EARLY_START_MS - performance.now(), 5))));
  }
  const stoppedAt = performance.now();
  await Promise.all(pending);
  return window.result(stoppedAt);
}
