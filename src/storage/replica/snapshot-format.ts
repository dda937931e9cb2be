/** A replica snapshot's data: every key and value of the partition's state, as JSON. */
export const SNAPSHOT_FORMAT = 1;

export interface SnapshotData {
  readonly format: number;
  readonly entries: Array<[string, unknown]>;
}

/** To the snapshot worker: take one now. */
export type SnapshotRequest = Record<string, never>;

/** From the snapshot worker: the state at `applied`, encoded. */
export interface SnapshotReply {
  readonly applied: number;
  readonly data: Uint8Array;
  /** How many keys the state holds: the next snapshot waits for at least as many new entries. */
  readonly keys: number;
}
