// Virtual time for one simulated node: the Raft driver's scheduler in the simulator.
import type { Scheduler } from '../raft/driver/interfaces.js';

/** Virtual milliseconds per simulated tick (the replica ticks every 10 ms by default). */
export const SIM_TICK_MS = 10;

export class SimClock implements Scheduler {
  private ticks = 0;
  private timers: Array<{ readonly due_ms: number; readonly run: () => void }> = [];

  /**
   * Nothing to queue: the simulation drains every node's driver after every step, which is
   * when a real event loop would have run the turn.
   */
  soon(): void {}

  after(ms: number, run: () => void): () => void {
    const timer = { due_ms: this.now_ms() + ms, run };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((t) => t !== timer);
    };
  }

  now_ms(): number {
    return this.ticks * SIM_TICK_MS;
  }

  /** One tick of virtual time passes; timers that fall due run, in the order they were set. */
  tick(): void {
    this.ticks++;
    const due = this.timers.filter((t) => t.due_ms <= this.now_ms());
    if (due.length === 0) return;
    this.timers = this.timers.filter((t) => t.due_ms > this.now_ms());
    for (const t of due) t.run();
  }
}
