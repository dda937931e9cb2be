// When and how the driver takes a snapshot: once enough entries were applied since the last, the
// state machine captures its state, the core records it, the store makes it durable, and only
// then is the log compacted behind it (a crash in between leaves the longer log, never a gap).
import type { RaftNode, Snapshot } from '../core/index.js';
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

interface InFlight {
  readonly settled: Promise<void>;
}

export class Snapshotter {
  /** Index of the newest snapshot this node holds (taken or installed). */
  private index_: number;
  private gap: number;
  /** The snapshot being taken, if one is: settles once durable or failed. */
  private inFlight: InFlight | undefined;

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
    return this.inFlight?.settled ?? Promise.resolve();
  }

  /**
   * Takes a snapshot now, or joins the one being taken; settles once it is durable or has
   * failed (reported through snapshotFailed). The state machine captures when it can: at once
   * (the whole snapshot is then taken in this turn) or later, while Readies go on meanwhile.
   */
  takeNow(): Promise<void> {
    if (this.inFlight !== undefined) return this.inFlight.settled;
    const started = performance.now();
    let settle!: () => void;
    const flight: InFlight = { settled: new Promise<void>((resolve) => (settle = resolve)) };
    this.inFlight = flight;
    const finish = (): void => {
      if (this.inFlight === flight) this.inFlight = undefined;
      settle();
    };
    this.parts.machine.capture((state) => {
      if (state instanceof Error) return this.failed(state, finish);
      this.captured(state, started, finish);
    });
    return flight.settled;
  }

  private captured(state: CapturedState, started: number, finish: () => void): void {
    const { store } = this.parts;
    let snapshot: Snapshot | undefined;
    try {
      snapshot = this.record(state);
      if (snapshot !== undefined && store.saveAsync === undefined) {
        store.save(snapshot);
        this.compacted(state, started);
      }
    } catch (err) {
      return this.failed(err, finish);
    }
    if (snapshot === undefined || store.saveAsync === undefined) return finish();
    store.saveAsync(snapshot).then(
      () => {
        try {
          if (!this.parts.stopped()) this.compacted(state, started);
          finish();
        } catch (err) {
          this.failed(err, finish);
        }
      },
      (err: unknown) => this.failed(err, finish),
    );
  }

  private failed(err: unknown, finish: () => void): void {
    finish();
    if (!this.parts.stopped()) this.parts.events.snapshotFailed?.(err instanceof Error ? err : new Error(String(err)));
  }

  /**
   * Hands the captured state to the core, unless it is stale by now: another snapshot came first,
   * ours or one from the leader that the core holds but has not applied yet (a capture deferred
   * across its arrival compacted below the log's new start, and the core refused it).
   */
  private record(state: CapturedState): Snapshot | undefined {
    if (this.parts.stopped() || state.applied <= this.index_ || state.applied > this.parts.node.appliedIndex) return undefined;
    if (state.applied < this.parts.node.firstIndex) return undefined;
    return this.parts.node.compact(state.applied, state.data);
  }

  private compacted(state: CapturedState, started: number): void {
    this.parts.log.compact(state.applied);
    this.index_ = Math.max(this.index_, state.applied);
    this.gap = this.parts.gap();
    this.parts.events.snapshotTaken?.(state.applied, state.data.length, performance.now() - started);
  }
}
