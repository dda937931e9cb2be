// The pieces an application plugs into the Raft driver (after hashicorp/raft's FSM, Transport
// and stores, and etcd's raft examples). The replica plugs in its file log, LMDB state machine
// and TCP transport; the simulator its in-memory disk, KV machine and simulated network. Faults
// are injected by wrapping these, never by branches inside the driver or the core.
import type { Entry, Message, NodeId, Snapshot } from '../types.js';
import type { Role } from '../core/index.js';
import type { RaftError } from '../errors.js';
import type { SnapshotStore } from '../log/interfaces.js';

/** The application's state: what committed entries are applied to. */
export interface StateMachine {
  /** Index of the last entry the state holds (a snapshot's index right after a restore). */
  appliedIndex(): number;
  /**
   * Applies committed entries (normal and membership alike) in order. Entries the state already
   * holds come again after a restart, when the log replays from the last snapshot: skip them.
   */
  apply(entries: readonly Entry[]): void;
  /** Replaces the whole state by a snapshot's. */
  restore(snapshot: Snapshot): void;
  /**
   * Captures the state as snapshot data, with the index it was taken at, and hands it (or why it
   * failed) to `done`: at once, or later while the driver goes on (the replica reads LMDB on a
   * worker thread; the simulator answers some ticks later, to run that interleaving too).
   */
  capture(done: (state: CapturedState | Error) => void): void;
}

export interface CapturedState {
  readonly applied: number;
  readonly data: Uint8Array;
}

/** Where the driver keeps snapshots; `saveAsync`, when there, keeps a big one's fsync off the event loop. */
export interface DriverSnapshotStore extends SnapshotStore {
  saveAsync?(snapshot: Snapshot): Promise<void>;
}

export interface Transport {
  /**
   * Sends messages; delivery may fail (Raft retries). `now`: a leader's appends sent before its
   * own fsync, which should leave at once instead of at the end of the turn.
   */
  send(messages: readonly Message[], now: boolean): void;
}

/** How the driver's work is scheduled: the event loop in the replica, virtual time in the simulator. */
export interface Scheduler {
  /** Runs `run` soon, after the current input (the replica: setImmediate). */
  soon(run: () => void): void;
  /** Runs `run` after `ms` milliseconds; returns what cancels it. */
  after(ms: number, run: () => void): () => void;
  /** Milliseconds on this scheduler's clock (wall clock, or virtual). */
  now_ms(): number;
}

export interface LeadershipChange {
  readonly role: Role;
  readonly term: number;
  /** The node led just before this change (so it has now stopped leading, or won a new term). */
  readonly wasLeader: boolean;
}

/** Why a read could not be confirmed: a refusal of the core (not leader, queue full), or lost leadership when absent. */
export type ReadOutcome = { readonly ok: true } | { readonly ok: false; readonly refusal?: RaftError };

/** The driver's reports; every one optional but `halted`. Metrics and logs hang here, the core stays pure. */
export interface DriverEvents {
  /** An internal failure stopped the driver (a broken invariant, a state machine that throws). */
  readonly halted: (err: Error) => void;
  /** The role or term changed. Reads waiting on a leader that stopped leading are already failed. */
  readonly leadership?: (change: LeadershipChange) => void;
  /** The core refused an input (a full outbox, a message it rejects): dropped, Raft retries. */
  readonly refused?: (err: RaftError) => void;
  /** The core has nothing more to hand out this turn. */
  readonly idle?: () => void;
  /** One Ready is done (persisted, sent, applied, advanced). */
  readonly readyDone?: () => void;
  /** Entries up to `lastIndex` are being written to this node's log now (their fsync follows). */
  readonly writing?: (lastIndex: number) => void;
  /** Entries up to `lastIndex` are durable in this node's log. */
  readonly persisted?: (lastIndex: number) => void;
  readonly appended?: (seconds: number) => void;
  /** An fsync of the log finished, `seconds` after it was issued (it ran off the event loop). */
  readonly synced?: (seconds: number) => void;
  /**
   * An fsync has been out `out_ms`, longer than DriverOptions.heartbeatsDuringSync_ms: the node
   * stops its heartbeats until it finishes (told once per fsync).
   */
  readonly syncHung?: (out_ms: number) => void;
  readonly snapshotSent?: (bytes: number, to: NodeId) => void;
  readonly snapshotTaken?: (index: number, bytes: number, ms: number) => void;
  readonly snapshotFailed?: (err: Error) => void;
  /** The disk refused a write; the driver takes no input and retries every `retry_ms` (reported once per stall). */
  readonly diskStalled?: (stage: DiskStage, fault: string, retry_ms: number) => void;
  readonly diskResumed?: (after_ms: number) => void;
}

/** Where a Ready stopped when the disk refused: its log writes, or (after they were durable and sent) applying it. */
export type DiskStage = 'persist' | 'apply';
