/**
 * The largest value noted over the last one to two windows: the current window and the one
 * before it, so a reading just after a window turns over still sees the recent past. No timer:
 * windows turn over when a value is noted or read.
 */
export class WindowedMax {
  private current = 0;
  private previous = 0;
  private windowStart_ms: number;

  constructor(
    private readonly window_ms: number,
    private readonly now_ms: () => number = () => performance.now(),
  ) {
    this.windowStart_ms = now_ms();
  }

  note(value: number): void {
    this.turnOver();
    if (value > this.current) this.current = value;
  }

  value(): number {
    this.turnOver();
    return Math.max(this.current, this.previous);
  }

  private turnOver(): void {
    const now = this.now_ms();
    const windows = Math.floor((now - this.windowStart_ms) / this.window_ms);
    if (windows <= 0) return;
    // A window with nothing noted in it leaves nothing to remember.
    this.previous = windows === 1 ? this.current : 0;
    this.current = 0;
    this.windowStart_ms += windows * this.window_ms;
  }
}
