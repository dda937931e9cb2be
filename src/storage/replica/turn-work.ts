/**
 * The longest piece of each kind of work (an fsync, applying a batch, installing a snapshot)
 * since the last tick, so that a replica which reports its event loop held up can say what held
 * it: its own disk, its own applying, or neither (then the machine kept it from a core).
 */
export type WorkKind = 'fsync' | 'apply' | 'restore';

export class TurnWork {
  private readonly longest = new Map<WorkKind, number>();

  note(kind: WorkKind, ms: number): void {
    if (ms > (this.longest.get(kind) ?? 0)) this.longest.set(kind, ms);
  }

  /** What was noted since the last call, in whole milliseconds, then forgets it. */
  take(): Partial<Record<WorkKind, number>> {
    const out: Partial<Record<WorkKind, number>> = {};
    for (const [kind, ms] of this.longest) out[kind] = Math.round(ms);
    this.longest.clear();
    return out;
  }
}
