/**
 * At most one log line per `every_ms` for a kind of event that can come many times a second (a
 * stalled loop, a slow fsync): the line that is told names how many were held back since the
 * last one, so nothing goes uncounted. `urgent` events are always told.
 */
export class ReportLimiter {
  private lastTold_ms = -Infinity;
  private heldBack = 0;

  constructor(private readonly every_ms: number) {}

  /** Whether to tell this one; if so, `notReported` is how many were held back before it (then reset). */
  tell(now_ms: number, urgent = false): { readonly notReported: number } | undefined {
    if (!urgent && now_ms - this.lastTold_ms < this.every_ms) {
      this.heldBack++;
      return undefined;
    }
    const notReported = this.heldBack;
    this.lastTold_ms = now_ms;
    this.heldBack = 0;
    return { notReported };
  }
}
