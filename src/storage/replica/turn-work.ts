/**
 * The longest piece of each kind of work on the event loop (applying a batch, installing a
 * snapshot) since the last tick, so that a replica which reports its event loop held up can say
 * what held it: its own work, or neither (then the machine kept it from a core). The log's
 * fsync runs off the event loop, so it holds up answers, never ticks, and is not counted.
 */
export type WorkKind = 'apply' | 'restore';

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
