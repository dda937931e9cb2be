/** One line a child printed, and its JSON object when it is one (children log JSON lines). */
export interface PrintedLine {
  readonly text: string;
  readonly json: Readonly<Record<string, unknown>> | undefined;
}

/** Lines kept at most; past it the older half goes (`dropped` counts them). */
const MAX_LINES = 50_000;

/**
 * The lines a child prints from now on, as this process reads them from the child's pipe, and
 * a way to await one. A child's log file is written behind that reading, and the pipe is read
 * independently of any socket, so a line printed just before an answer may be neither here nor
 * in the file when the answer arrives: waiting for the line itself is the only sure order.
 * Start watching before causing what prints the line (right after starting the child).
 */
export class PrintedLines {
  private lines_: PrintedLine[] = [];
  private dropped_ = 0;
  private readonly waiters = new Set<() => void>();
  private readonly unwatch: () => void;

  constructor(child: { watchLines(listener: (line: string) => void): () => void }) {
    this.unwatch = child.watchLines((text) => {
      this.lines_.push({ text, json: jsonObject(text) });
      if (this.lines_.length > MAX_LINES) {
        const cut = this.lines_.length - MAX_LINES / 2;
        this.lines_ = this.lines_.slice(cut);
        this.dropped_ += cut;
      }
      for (const wake of this.waiters) wake();
    });
  }

  /** Every line kept so far, oldest first. */
  get lines(): readonly PrintedLine[] {
    return this.lines_;
  }

  /** Lines dropped to stay within the bound (the oldest). */
  get dropped(): number {
    return this.dropped_;
  }

  /** The first kept line that matches, as soon as it is printed; undefined if none is within `timeout_ms`. */
  first(match: (line: PrintedLine) => boolean, timeout_ms: number): Promise<PrintedLine | undefined> {
    return this.nth(match, 1, timeout_ms);
  }

  /** The `n`th kept line that matches (from 1), as soon as it is printed; undefined if it is not within `timeout_ms`. */
  nth(match: (line: PrintedLine) => boolean, n: number, timeout_ms: number): Promise<PrintedLine | undefined> {
    return new Promise((resolve) => {
      // Each line is matched once: a wake-up looks only at the lines printed since the last one.
      let seen = 0;
      let scannedDropped = this.dropped_;
      let scanned = 0;
      const check = () => {
        // Lines dropped to stay within the bound moved the others down.
        scanned = Math.max(0, scanned - (this.dropped_ - scannedDropped));
        scannedDropped = this.dropped_;
        for (; scanned < this.lines_.length; scanned++) {
          const line = this.lines_[scanned]!;
          if (match(line) && ++seen === n) return done(line);
        }
      };
      const done = (found: PrintedLine | undefined) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(found);
      };
      const timer = setTimeout(() => done(undefined), timeout_ms);
      this.waiters.add(check);
      check();
    });
  }

  /** Stops watching; what was kept stays readable. */
  stop(): void {
    this.unwatch();
    this.waiters.clear();
  }
}

/** A printed line's JSON object (a log record), or undefined for any other text. */
export function jsonObject(text: string): PrintedLine['json'] {
  if (!text.startsWith('{')) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined; // a line cut by a crash, or not ours: kept as text
  }
}
