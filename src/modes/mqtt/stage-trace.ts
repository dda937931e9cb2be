import { createHistogram, monitorEventLoopDelay, PerformanceObserver, type IntervalHistogram, type RecordableHistogram } from 'node:perf_hooks';
import type { StageSummary } from './protocol.js';

/**
 * Where a write's milliseconds go in mqtt mode, as one portal sees them (issue #17), for
 * `ecom bench --trace`. Every command carries the time its portal published it, on the
 * machine's clock; each portal times, per command it applies:
 *
 *   broker   publish → the socket read that completed the message here: the publisher's
 *            socket write, the broker, loopback TCP, and this portal's wait to poll its socket
 *   queued   that read → the message handler: parsing, waiting behind earlier messages of the
 *            same read
 *   apply    the handler → applied: decoding, the state machine, the running digest
 *   visible  publish → applied: from then on a read through this portal shows the write
 *
 * and, for the writes it received itself:
 *
 *   publish  stamped → handed to the MQTT client (encoding, mqtt.js's own path)
 *   reply    applied → the reply given to the gRPC handler (observer events published)
 *   write    the backend called → the reply: the write's whole time in its portal
 *
 * plus two process-wide figures: `loopDelay`, how late the event loop ran a 10 ms timer
 * (anything that holds the loop: long tasks, GC, a CPU taken by others), and `gc`, the pauses of
 * the garbage collector. Nothing is recorded until the first trace request, so a portal that is
 * never traced pays nothing; from then on the histograms are bounded (HDR histograms, fixed
 * size) and each request starts a new window.
 */
export const MQTT_STAGES = ['publish', 'broker', 'queued', 'apply', 'visible', 'reply', 'write', 'loopDelay', 'gc'] as const;
export type MqttStage = (typeof MQTT_STAGES)[number];

/** Now, in ms, on a clock that processes of one machine share (what a command's `at` stamp uses). */
export function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

function microseconds(ms: number): number {
  return Math.max(1, Math.round(ms * 1000));
}

/** How often the event-loop monitor's timer runs; it records the interval between runs, so this much of each sample is not delay. */
const LOOP_RESOLUTION_MS = 10;

/** Percentiles in ms of a histogram whose samples are in `unit_ms`, less `offset_ms` from each. */
function summary(h: RecordableHistogram | IntervalHistogram, unit_ms: number, offset_ms = 0): StageSummary {
  const ms = (value: number) => (h.count === 0 ? 0 : Math.max(0, Math.round((value * unit_ms - offset_ms) * 1000) / 1000));
  return { count: h.count, p50_ms: ms(h.percentile(50)), p90_ms: ms(h.percentile(90)), p99_ms: ms(h.percentile(99)), max_ms: ms(h.max) };
}

export class MqttStageTrace {
  private enabled = false;
  private readonly stages = new Map<Exclude<MqttStage, 'loopDelay'>, RecordableHistogram>();
  private loop: IntervalHistogram | undefined;
  private gcObserver: PerformanceObserver | undefined;
  private skewed = 0;

  /** Whether timings are being recorded (after the first trace request). */
  get on(): boolean {
    return this.enabled;
  }

  /** A command published by this portal: stamped at `at`, handed to mqtt.js now. */
  published(at: number): void {
    if (this.enabled) this.add('publish', wallNow() - at);
  }

  /**
   * A stamped command applied here: published at `at`, its bytes read from the socket at
   * `read`, its handler entered at `handled`, applied at `now`.
   */
  applied(at: number, read: number, handled: number, now: number): void {
    if (!this.enabled) return;
    // Another process's clock, on the same machine: a stamp "from the future" means the clocks
    // drifted apart by more than the delivery took. Counted, not timed.
    if (read < at) {
      this.skewed += 1;
    } else {
      this.add('broker', read - at);
      this.add('visible', now - at);
    }
    this.add('queued', handled - read);
    this.add('apply', now - handled);
  }

  /** One of this portal's own writes answered: it entered the backend at `started`, was applied at `applied`. */
  answered(started: number, applied: number): void {
    if (!this.enabled) return;
    const now = wallNow();
    this.add('reply', now - applied);
    this.add('write', now - started);
  }

  /** Every stage since the last read; starts a new window (and the recording, the first time). */
  read(): { stages: Record<MqttStage, StageSummary>; skewed: number } {
    this.start();
    const stages = {} as Record<MqttStage, StageSummary>;
    for (const stage of MQTT_STAGES) {
      if (stage === 'loopDelay') {
        // Its samples are the intervals between its timer's runs, in ns.
        stages.loopDelay = summary(this.loop ?? createHistogram(), 1e-6, LOOP_RESOLUTION_MS);
        this.loop?.reset();
        continue;
      }
      const h = this.histogram(stage);
      stages[stage] = summary(h, 1e-3);
      h.reset();
    }
    const skewed = this.skewed;
    this.skewed = 0;
    return { stages, skewed };
  }

  /** Stops the process-wide monitors (the portal is closing). */
  stop(): void {
    this.loop?.disable();
    this.gcObserver?.disconnect();
    this.enabled = false;
  }

  private start(): void {
    if (this.enabled) return;
    this.enabled = true;
    this.loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
    this.loop.enable();
    this.gcObserver = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) this.add('gc', entry.duration);
    });
    this.gcObserver.observe({ entryTypes: ['gc'] });
  }

  private histogram(stage: Exclude<MqttStage, 'loopDelay'>): RecordableHistogram {
    let h = this.stages.get(stage);
    if (h === undefined) {
      h = createHistogram();
      this.stages.set(stage, h);
    }
    return h;
  }

  private add(stage: Exclude<MqttStage, 'loopDelay'>, ms: number): void {
    this.histogram(stage).record(microseconds(ms));
  }
}
