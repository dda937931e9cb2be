import { readFileSync } from 'node:fs';

/**
 * Moments when the machine itself did not run: the cores' time that Linux accounts to no state
 * at all (not user, system, idle, I/O wait or interrupts), or to steal. On this project's VMs
 * no steal is reported. Under load, though, both cores sometimes lost 100-190 ms at once: every
 * process stalled in the same instant, whichever replica it held (docs/bench-report.md, "Five
 * minutes at 512 in flight: stalls of every replica at once"). A replica cannot tell such a pause
 * from its own slowness. Hence this watch: the bench samples /proc/stat and names them beside
 * its stall figure.
 */
export interface MachinePause {
  /** Epoch ms of the last sample before the pause and the first after it: the pause lies between. */
  readonly from_ms: number;
  readonly until_ms: number;
  /** Time each core, on average, ran nothing that Linux accounts for. */
  readonly lost_ms: number;
}

/** /proc/stat counts in USER_HZ, 100 per second on Linux whatever the kernel's own tick. */
const TICK_MS = 10;
const SAMPLE_EVERY_MS = 50;
/**
 * Over this much lost time per core in one sample, the machine paused. Counting whole ticks
 * leaves up to about 20 ms of rounding per core in a sample. In 5,614 samples of a five-minute
 * run at 512 in flight, just one sample lost more (95 ms per core, at an all-replica stall).
 */
const PAUSE_MIN_LOST_MS = 40;
/** A run never keeps more pauses than this; past it, the figure says that the machine is unfit. */
const MAX_PAUSES = 1_000;

/** user, nice, system, idle, iowait, irq, softirq: the states that mean a core ran. Steal, the 8th, counts as lost. */
const RUNNING_FIELDS = 7;

/** The aggregate line's first eight counters, or undefined when there is no such line (not Linux). */
export function parseProcStat(text: string): { readonly ticks: number[]; readonly cores: number } | undefined {
  const lines = text.split('\n');
  const total = lines.find((l) => l.startsWith('cpu '));
  if (total === undefined) return undefined;
  const ticks = total.trim().split(/\s+/).slice(1, 9).map(Number);
  if (ticks.length < RUNNING_FIELDS || ticks.some((n) => !Number.isFinite(n))) return undefined;
  const cores = lines.filter((l) => /^cpu\d+ /.test(l)).length;
  return cores > 0 ? { ticks, cores } : undefined;
}

/** Time per core between two readings that Linux accounted to no running state (steal included). */
export function lostPerCore_ms(before: readonly number[], after: readonly number[], elapsed_ms: number, cores: number): number {
  let accounted = 0;
  for (let i = 0; i < RUNNING_FIELDS; i++) accounted += (after[i] ?? 0) - (before[i] ?? 0);
  return Math.max(0, elapsed_ms - (accounted * TICK_MS) / cores);
}

export class MachinePauseWatch {
  private readonly pauses: MachinePause[] = [];
  private readonly timer: NodeJS.Timeout;
  private last: { readonly at_ms: number; readonly ticks: number[] };

  private readonly cores: number;

  private constructor(first: { ticks: number[]; cores: number }) {
    this.cores = first.cores;
    this.last = { at_ms: Date.now(), ticks: first.ticks };
    this.timer = setInterval(() => this.sample(), SAMPLE_EVERY_MS).unref();
  }

  /** Starts watching; undefined where /proc/stat cannot be read (the figure is then left out). */
  static start(): MachinePauseWatch | undefined {
    const first = readStat();
    return first === undefined ? undefined : new MachinePauseWatch(first);
  }

  /** Stops watching and returns the pauses seen, oldest first. */
  stop(): MachinePause[] {
    clearInterval(this.timer);
    this.sample();
    return this.pauses;
  }

  private sample(): void {
    const now = readStat();
    if (now === undefined) return;
    const at_ms = Date.now();
    const lost_ms = lostPerCore_ms(this.last.ticks, now.ticks, at_ms - this.last.at_ms, this.cores);
    if (lost_ms >= PAUSE_MIN_LOST_MS && this.pauses.length < MAX_PAUSES) this.pauses.push({ from_ms: this.last.at_ms, until_ms: at_ms, lost_ms: Math.round(lost_ms) });
    this.last = { at_ms, ticks: now.ticks };
  }
}

function readStat(): { ticks: number[]; cores: number } | undefined {
  try {
    return parseProcStat(readFileSync('/proc/stat', 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * Whether a stall or silence noted in `second` (epoch s; noted in the second it ended) may
 * come from a pause: its second overlaps the pause, or the quarter second after it, while the
 * processes that all woke at once wait their turn for a core.
 */
export function touchedByPause(second: number, pauses: readonly MachinePause[]): boolean {
  const [from, until] = [second * 1000, (second + 1) * 1000];
  return pauses.some((p) => from < p.until_ms + 250 && until > p.from_ms);
}
