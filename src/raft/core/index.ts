/**
 * Public API of the pure Raft core.
 *
 * The core is a deterministic state machine: it performs no I/O, reads no clock and draws no
 * randomness of its own. Time enters only through `tick()`, randomness only through the
 * `random_int` option (pass a seeded PRNG), and network input through `step(msg)`.
 *
 *   const node = new RaftNode({ ...DEFAULT_OPTIONS, id, random_int }, initialStateFromDisk);
 *
 * The initial state comes from storage via recoverInitialState(log, log, snapshots, bootstrap)
 * (../log/recover.ts); a persistent state machine sets `appliedIndex` so committed entries it
 * already holds are not handed out again. Options (RaftOptions) carry every timeout and bound.
 *
 * Inputs (any order, any time):
 *   node.tick()                       advance logical time one tick (e.g. every 10 ms)
 *   node.step(msg)                    deliver a message from a peer (after codec decode)
 *   node.propose(data) → index        leader only; opaque Uint8Array payload
 *   node.proposeConfChange(cc) → index  single-server change: addLearner | promote | remove
 *   node.readIndex(ctx)               leader only; a ReadState{ctx,index} follows in a Ready
 *   node.transferLeadership(to)       leader only; refuses proposals until done or timed out
 *   node.compact(index, data)         app snapshot at index ≤ appliedIndex; drops the log prefix
 *   node.campaign()                   start an election now (tests, operator tooling)
 *   node.leaderLinkLost(peer)         the transport saw its connection from `peer` close
 * Every refusal throws RaftError with a `code` (NotLeader, ProposalQueueFull, ReadQueueFull,
 * OutboxFull, ...). Every internal queue is bounded by an option and refuses when full.
 *
 * Output, the Ready loop (one Ready outstanding at a time). src/raft/driver runs it, for the
 * replica and the simulator alike; its order refines step 2 for a leader (appends before its fsync):
 *   if (node.hasReady()) {
 *     const rd = node.ready();
 *     1. persist rd.snapshot (if any; it replaces the whole log), then rd.hardState and
 *        rd.entries (entries[0].index may overwrite a suffix: truncate from there); one fsync
 *        when rd.mustSync. Nothing below may happen before this is durable.
 *     2. send rd.messages (lossy delivery is fine: Raft retries)
 *     3. apply rd.snapshot, then rd.committedEntries in order; conf entries are already in
 *        effect inside the core (membership changes take effect when committed)
 *     4. serve rd.readStates with ok once appliedIndex ≥ index; fail those with !ok
 *     node.advance();
 *   }
 *
 * Status: node.leaderId, node.term, node.role, node.commitIndex, node.appliedIndex, node.firstIndex,
 * node.membership, node.status() for everything at once.
 *
 * Wire format for messages: ../codec.ts. Storage interfaces: ../log/interfaces.ts.
 */
export { RaftNode, DEFAULT_OPTIONS, CAMPAIGN_TRANSFER, quorumSize, isHeartbeat } from './raft.js';
export type { RaftOptions, RaftInitialState, Ready, ReadState, SoftState, Status, StepDown, Role, FollowerView } from './raft.js';
export type { ConfChange, ConfChangeType, ConfEntry } from './membership.js';
export { decodeConfEntry, encodeConfEntry } from './membership.js';
export { RaftError, InvariantError } from '../errors.js';
export type { RaftErrorCode } from '../errors.js';
export type { Entry, EntryKind, HardState, Membership, Message, MessageType, NodeId, Snapshot, SnapshotMeta } from '../types.js';
export { NO_NODE } from '../types.js';
