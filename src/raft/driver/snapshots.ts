// When and how the driver takes a snapshot: once enough entries were applied since the last, the
// state machine captures its state, the core records it, the store makes it durable, and only
// then is the log compacted behind it (a crash in between leaves the longer log, never a gap).
import type { RaftNode } from '../core/index.js';
import type { DurableLog } from '../log/interfaces.js';
import type { CapturedState, DriverEvents, DriverSnapshotStore, StateMachine } from './interfaces.js';

export interface SnapshotterParts {
  readonly node: RaftNode;
  readonly machine: StateMachine;
  readonly store: DriverSnapshotStore;
  readonly log: DurableLog;
  readonly events: DriverEvents;
  /** Applied entries after a snapshot before the next is taken; asked again after each. */
  readonly gap: () => number;
  readonly stopped: () => boolean;
}

export class Snapshotter {
  /** Index of the newest snapshot this node holds (taken or installed). */
  private index_: number;
  private gap: number;
  /** The snapshot being taken off the event loop, if one is: settles once durable or failed. */
  private inFlight: Promise<void> | undefined;

  constructor(
    private readonly parts: SnapshotterParts,
    recoveredIndex: number,
  ) {
    this.index_ = recoveredIndex;
    this.gap = parts.gap();
  }

  get index(): number {
    return this.index_;
  }

  /** A snapshot from the leader replaced the log. */
  installed(index: number): void {
    this.index_ = index;
  }

  maybeTake(): void {
    if (this.inFlight !== undefined || this.parts.stopped()) return;
    if (this.parts.machine.appliedIndex() - this.index_ < this.gap) return;
    void this.takeNow();
  }

  /** Settles when the snapshot being taken (if any) has; never rejects. */
  settled(): Promise<void> {
    return this.inFlight ?? Promise.resolve();
  }

  /** Takes a snapshot now, or joins the one being taken; settles once durable or failed (reported through snapshotFailed). */
  takeNow(): Promise<void> {
    if (this.inFlight !== undefined) return this.inFlight;
    const started = performance.now();
    const captured = this.parts.machine.capture();
    // Synchronous machines (the simulator) finish in this turn, so a seed replays exactly.
    if (!(captured instanceof Promise)) {
      const snapshot = this.record(captured);
      if (snapshot !== undefined) {
        this.parts.store.save(snapshot);
        this.compacted(captured, started);
      }
      return Promise.resolve();
    }
    this.inFlight = captured
      .then(async (state) => {
        const snapshot = this.record(state);
        if (snapshot === undefined) return;
        const { store } = this.parts;
        await (store.saveAsync !== undefined ? store.saveAsync(snapshot) : Promise.resolve(store.save(snapshot)));
        if (!this.parts.stopped()) this.compacted(state, started);
      })
      .catch((err: unknown) => {
        if (!this.parts.stopped()) this.parts.events.snapshotFailed?.(err instanceof Error ? err : new Error(String(err)));
      })
      .finally(() => {
        this.inFlight = undefined;
      });
    return this.inFlight;
  }

  /** Hands the captured state to the core, unless it is stale by now (another snapshot came first). */
  private record(state: CapturedState): ReturnType<RaftNode['compact']> | undefined {
    if (this.parts.stopped() || state.applied <= this.index_ || state.applied > this.parts.node.appliedIndex) return undefined;
    return this.parts.node.compact(state.applied, state.data);
  }

  private compacted(state: CapturedState, started: number): void {
    this.parts.log.compact(state.applied);
    this.index_ = Math.max(this.index_, state.applied);
    this.gap = this.parts.gap();
    this.parts.events.snapshotTaken?.(state.applied, state.data.length, performance.now() - started);
  }
}
