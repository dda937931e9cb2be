// Wire- and storage-level data shapes shared by the core, the codec, the storage and the simulator.

/** Replica identity. 0 is reserved for "nobody". */
export type NodeId = number;
export const NO_NODE: NodeId = 0;

/** 'normal' carries an opaque application payload (empty = the leader's no-op); 'conf' carries an encoded ConfChange. */
export type EntryKind = 'normal' | 'conf';

export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly kind: EntryKind;
  readonly data: Uint8Array;
}

/** What must be on disk before any message that depends on it leaves the node. */
export interface HardState {
  readonly term: number;
  readonly vote: NodeId;
  readonly commit: number;
}

/** Cluster membership: voters elect and count for commit; learners only receive the log. */
export interface Membership {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

export interface SnapshotMeta {
  readonly index: number;
  readonly term: number;
  readonly membership: Membership;
}

export interface Snapshot {
  readonly meta: SnapshotMeta;
  readonly data: Uint8Array;
}

export type MessageType =
  | 'PreVote'
  | 'PreVoteResp'
  | 'Vote'
  | 'VoteResp'
  | 'App'
  | 'AppResp'
  | 'Heartbeat'
  | 'HeartbeatResp'
  | 'Snap'
  | 'TimeoutNow';

/**
 * One flat message shape for every type (like etcd's raftpb.Message) so the codec stays a single
 * function. Field meaning per type:
 *  - Vote/PreVote: index/logTerm = candidate's last log position; context = 1 for a leadership-transfer campaign.
 *  - *VoteResp: reject.
 *  - App: index/logTerm = the entry preceding `entries`; commit = leader commit.
 *  - AppResp: success → index = last index known to match; reject → index = the rejected prevIndex,
 *    rejectHint/logTerm = the follower's conflict hint (fast backtracking).
 *  - Heartbeat/HeartbeatResp: commit (capped at the follower's match); context = ReadIndex round.
 *  - Snap: snapshot.
 */
export interface Message {
  type: MessageType;
  from: NodeId;
  to: NodeId;
  term: number;
  logTerm: number;
  index: number;
  entries: Entry[];
  commit: number;
  reject: boolean;
  rejectHint: number;
  context: number;
  snapshot: Snapshot | undefined;
}

export function emptyMembership(): Membership {
  return { voters: [], learners: [] };
}
