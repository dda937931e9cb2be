// The Raft state machine. Pure: no I/O, no clocks, no randomness of its own. See index.ts for the contract.
import type { Entry, HardState, Membership, Message, MessageType, NodeId, Snapshot } from '../types.js';
import { NO_NODE } from '../types.js';
import { assert, defined } from '../../util/assert.js';
import { RaftError } from '../errors.js';
import { RaftLog } from './log.js';
import { Progress } from './progress.js';
import type { ConfChange } from './membership.js';
import { confChangeProblem, applyConfChange, decodeConfEntry, encodeConfEntry } from './membership.js';
import { quorumActive, quorumSize, quorumValue, voteResult } from './quorum.js';
import { messageProblem } from './message-check.js';
import { ReadOnly, type PendingRead, type ReadState } from './read-only.js';

export { quorumSize } from './quorum.js';
export type { ReadState } from './read-only.js';

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

/** Marks a Vote/PreVote sent because the leader asked us to take over (bypasses leader stickiness). */
export const CAMPAIGN_TRANSFER = 1;

/** Probes in a row a follower must refuse, its log ending below what it acknowledged, before it is named as having lost it. */
const LOST_LOG_CONFIRMATIONS = 3;

export interface RaftOptions {
  readonly id: NodeId;
  /** Followers wait a random time in [election_timeout_ticks, 2·election_timeout_ticks) before campaigning. */
  readonly election_timeout_ticks: number;
  readonly heartbeat_interval_ticks: number;
  /** Seeded source of randomness: returns an integer in [0, n). */
  readonly random_int: (n: number) => number;
  readonly pre_vote: boolean;
  readonly check_quorum: boolean;
  readonly max_entries_per_msg: number;
  readonly max_msg_bytes: number;
  readonly max_inflight_msgs: number;
  readonly max_inflight_bytes: number;
  /** Bounds on proposed-but-uncommitted entries at the leader (bytes alone would let empty entries pile up). */
  readonly max_uncommitted_bytes: number;
  readonly max_uncommitted_entries: number;
  readonly max_entry_bytes: number;
  readonly max_pending_reads: number;
  /** step/tick/propose refuse with OutboxFull when this many messages wait for ready(). */
  readonly max_outbox_msgs: number;
  /** Bound on committed entry payload bytes handed out by a single ready(). */
  readonly max_apply_bytes: number;
  /**
   * How many voters must hold an entry before it commits, for a group of `voters` (a majority
   * when unset). A seam for the chaos suite, which plants the bug `skip-commit-check` here (one:
   * the leader alone) to prove its checkers catch lost writes. Anything below a majority no
   * longer intersects every election quorum, and acknowledged writes can be lost.
   */
  readonly commit_quorum?: (voters: number) => number;
}

export const DEFAULT_OPTIONS: Omit<RaftOptions, 'id' | 'random_int'> = {
  election_timeout_ticks: 10,
  heartbeat_interval_ticks: 1,
  pre_vote: true,
  check_quorum: true,
  max_entries_per_msg: 4096,
  max_msg_bytes: 1 << 20,
  max_inflight_msgs: 256,
  max_inflight_bytes: 16 << 20,
  max_uncommitted_bytes: 64 << 20,
  max_uncommitted_entries: 1 << 20,
  max_entry_bytes: 1 << 20,
  max_pending_reads: 65_536,
  max_outbox_msgs: 65_536,
  max_apply_bytes: 64 << 20,
};

/** What the node recovered from disk (or the bootstrap configuration for a fresh node). */
export interface RaftInitialState {
  readonly hardState: HardState;
  /** The latest durable snapshot, if any. */
  readonly snapshot: Snapshot | undefined;
  /** Log entries following the snapshot (or from index 1). */
  readonly entries: readonly Entry[];
  /** Membership before the first log entry; ignored when a snapshot is given. Empty for a joining node. */
  readonly bootstrap: Membership;
  /**
   * How far a persistent state machine (e.g. LMDB) has already applied; committed entries up to
   * here are not handed out again. Omit for an in-memory state machine rebuilt from the snapshot.
   */
  readonly appliedIndex?: number;
}

export interface SoftState {
  readonly leaderId: NodeId;
  readonly role: Role;
}

/** One batch of work for the driver; see index.ts for the order it must be handled in. */
export interface Ready {
  readonly softState: SoftState;
  readonly hardState: HardState | undefined;
  readonly snapshot: Snapshot | undefined;
  readonly entries: readonly Entry[];
  readonly committedEntries: readonly Entry[];
  readonly messages: readonly Message[];
  readonly readStates: readonly ReadState[];
  /** True when hardState term/vote or entries changed: an fsync is needed before sending messages. */
  readonly mustSync: boolean;
}

/** A leader's end: the term it led in and why it stopped. */
export interface StepDown {
  readonly term: number;
  readonly reason: string;
}

export interface Status {
  readonly id: NodeId;
  readonly role: Role;
  readonly term: number;
  readonly vote: NodeId;
  readonly leaderId: NodeId;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly lastIndex: number;
  readonly firstIndex: number;
  readonly membership: Membership;
  readonly leadTransferee: NodeId;
  /** Why this node last stopped leading, with the term it led in (undefined if it never did). */
  readonly lastStepDown: StepDown | undefined;
  /** While leading: its view of every other member (what it knows they hold, how it sends to them). */
  readonly followers: readonly FollowerView[] | undefined;
}

/** A leader's view of one follower, for status pages. */
export interface FollowerView {
  readonly id: NodeId;
  /** The highest index the leader knows the follower holds. */
  readonly match: number;
  readonly next: number;
  readonly state: 'probe' | 'replicate' | 'snapshot';
  /** Heard from within the last election timeout (what CheckQuorum counts). */
  readonly active: boolean;
  /** Set once the follower has refused LOST_LOG_CONFIRMATIONS probes in a row, its log ending here, below `match`: it lost entries it had acknowledged. */
  readonly logEnd?: number;
}

interface OutstandingReady {
  lastEntryIndex: number;
  lastEntryTerm: number;
  lastCommittedIndex: number;
  snapshotIndex: number;
}

/**
 * What only a leader has: its view of every follower's progress, the proposals it has in flight,
 * a leadership transfer under way. Created when the node becomes leader and dropped when it
 * steps down, so nothing leader-only survives into another role to be reset by hand.
 */
class Leadership {
  readonly progress = new Map<NodeId, Progress>();
  uncommitted_bytes = 0;
  uncommitted_entries = 0;
  transferee: NodeId = NO_NODE;

  /** Membership changes wait until everything up to here (the leader's log when it won) is committed. */
  constructor(public pendingConfIndex: number) {}
}

export class RaftNode {
  readonly id: NodeId;
  private readonly opts: RaftOptions;

  private term_ = 0;
  private vote_: NodeId = NO_NODE;
  private role_: Role = 'follower';
  /** Why this node last stopped leading, for logs and status. */
  private lastStepDown: StepDown | undefined;
  private lostLogNotices_ = 0;
  private leader_: NodeId = NO_NODE;
  private readonly log: RaftLog;
  private commit_ = 0;
  private applied_ = 0;

  private membership_: Membership;
  /** Committed memberships since the snapshot, to stamp a snapshot at any applied index. */
  private membershipHistory: { index: number; membership: Membership }[];

  /** Exists exactly while this node leads. */
  private lead: Leadership | undefined;
  private readonly votes = new Map<NodeId, boolean>();

  /** Ticks since this node started: the leader's clock for CheckQuorum. */
  private now_ticks = 0;
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;

  private outbox: Message[] = [];
  /** Heartbeats and their answers in the outbox: takeHeartbeats() looks through it only when there are some. */
  private heartbeatsInOutbox = 0;
  private replicationDirty = false;

  private readonly readOnly: ReadOnly;
  private readStates: ReadState[] = [];

  private snapshot_: Snapshot | undefined;
  private snapshotToPersist: Snapshot | undefined;
  private lastHardState: HardState;
  private outstanding: OutstandingReady | undefined;

  constructor(opts: RaftOptions, init: RaftInitialState) {
    assert(opts.id !== NO_NODE, 'node id 0 is reserved');
    assert(opts.heartbeat_interval_ticks < opts.election_timeout_ticks, 'heartbeat must be shorter than election timeout');
    this.id = opts.id;
    this.opts = opts;
    this.readOnly = new ReadOnly(opts.max_pending_reads);
    const snap = init.snapshot;
    this.snapshot_ = snap;
    this.log = new RaftLog(snap?.meta.index ?? 0, snap?.meta.term ?? 0, init.entries.slice());
    this.term_ = init.hardState.term;
    this.vote_ = init.hardState.vote;
    const base = snap?.meta.index ?? 0;
    this.membership_ = snap ? snap.meta.membership : init.bootstrap;
    this.membershipHistory = [{ index: base, membership: this.membership_ }];
    this.commit_ = base;
    this.applied_ = base;
    const commit = Math.min(init.hardState.commit, this.log.lastIndex());
    assert(commit >= base, 'hard state commit precedes the snapshot');
    this.commitTo(commit);
    this.applied_ = Math.max(base, Math.min(init.appliedIndex ?? 0, this.commit_));
    this.lastHardState = this.hardState();
    this.resetRandomizedTimeout();
  }

  // ---- public surface -------------------------------------------------------------------------

  get term(): number {
    return this.term_;
  }
  get leaderId(): NodeId {
    return this.leader_;
  }
  get role(): Role {
    return this.role_;
  }
  /** How many times, as leader, it named a follower whose log ends below what it had acknowledged (FollowerView.logEnd). */
  get lostLogNotices(): number {
    return this.lostLogNotices_;
  }
  get commitIndex(): number {
    return this.commit_;
  }
  get appliedIndex(): number {
    return this.applied_;
  }
  /** The first index the log still holds (one past its last snapshot). */
  get firstIndex(): number {
    return this.log.firstIndex();
  }
  get membership(): Membership {
    return this.membership_;
  }

  status(): Status {
    return {
      id: this.id,
      role: this.role_,
      term: this.term_,
      vote: this.vote_,
      leaderId: this.leader_,
      commitIndex: this.commit_,
      appliedIndex: this.applied_,
      lastIndex: this.log.lastIndex(),
      firstIndex: this.firstIndex,
      membership: this.membership_,
      leadTransferee: this.lead?.transferee ?? NO_NODE,
      lastStepDown: this.lastStepDown,
      followers:
        this.lead === undefined
          ? undefined
          : [...this.lead.progress].filter(([id]) => id !== this.id).map(([id, pr]) => ({ id, match: pr.match, next: pr.next, state: pr.state, active: this.recentlyHeard(pr), ...(pr.lostLog !== undefined && pr.lostLog.seen >= LOST_LOG_CONFIRMATIONS ? { logEnd: pr.lostLog.end } : {}) })),
    };
  }

  /** Term of a retained log index (undefined once compacted or beyond the end); for tests and drivers. */
  termAt(index: number): number | undefined {
    return this.log.term(index);
  }

  /** Advances logical time by one tick. */
  tick(): void {
    this.ensureOutboxRoom();
    this.now_ticks++;
    if (this.role_ === 'leader') this.tickLeader();
    else this.tickFollower();
  }

  /** Starts an election now (as if the election timer fired). */
  campaign(): void {
    this.ensureOutboxRoom();
    this.hup(false);
  }

  /**
   * The transport saw its connection from `peer` close. When `peer` is the leader this follower
   * follows, the leader's process has most likely died (a kill closes its sockets at once), so
   * the follower stops honouring its lease and campaigns within a few ticks instead of waiting
   * a whole election timeout of silence. A leader that is alive (a connection reset and
   * reopened) is not deposed by it: its next heartbeat makes this node follow it again, and the
   * other followers, still hearing it, ignore the pre-votes.
   */
  leaderLinkLost(peer: NodeId): void {
    this.ensureOutboxRoom();
    if (this.role_ !== 'follower' || peer === NO_NODE || this.leader_ !== peer || !this.promotable()) return;
    this.leader_ = NO_NODE;
    // Campaign in 1–3 ticks, at random, so the followers that all saw it do not all ask at once.
    this.electionElapsed = Math.max(this.electionElapsed, this.randomizedElectionTimeout - 1 - this.opts.random_int(3));
  }

  /** Appends a normal entry; returns its index. Only a leader accepts proposals. */
  propose(data: Uint8Array): number {
    this.checkCanPropose(data.length);
    return this.appendAsLeader('normal', data);
  }

  /** Proposes a single-server membership change; returns the entry's index. */
  proposeConfChange(cc: ConfChange): number {
    this.checkCanPropose(0);
    if (this.log.term(this.commit_) !== this.term_) {
      throw new RaftError('LeaderNotReady', 'leader has not yet committed an entry of its term');
    }
    const lead = this.leader;
    if (lead.pendingConfIndex > this.commit_) {
      throw new RaftError('ConfChangePending', `membership change at ${lead.pendingConfIndex} not yet committed`);
    }
    const problem = confChangeProblem(this.membership_, cc);
    if (problem !== undefined) throw new RaftError('ConfChangeInvalid', problem);
    if (cc.type === 'promote') {
      const pr = lead.progress.get(cc.node);
      if (!pr || pr.match < this.commit_) {
        throw new RaftError('LearnerNotCaughtUp', `learner ${cc.node} matched ${pr?.match ?? 0} < commit ${this.commit_}`);
      }
    }
    const data = encodeConfEntry({ change: cc, result: applyConfChange(this.membership_, cc) });
    const index = this.appendAsLeader('conf', data);
    lead.pendingConfIndex = index;
    return index;
  }

  /**
   * Requests a linearizable read. The answer arrives as a ReadState with the same ctx once a
   * majority has confirmed this node is still leader; serve it when appliedIndex ≥ its index.
   */
  readIndex(ctx: number): void {
    this.ensureOutboxRoom();
    if (this.role_ !== 'leader') throw new RaftError('NotLeader', `node ${this.id} is ${this.role_}`, this.leader_);
    const read = this.readOnly.add(ctx);
    if (this.log.term(this.commit_) === this.term_) this.scheduleRead(read);
  }

  /**
   * Leader only: the other voter whose log matches ours furthest (the quickest to take over),
   * or NO_NODE when there is none. Ties go to the lowest ID, so the choice is deterministic.
   */
  bestSuccessor(): NodeId {
    if (this.role_ !== 'leader') return NO_NODE;
    let best: NodeId = NO_NODE;
    let bestMatch = -1;
    for (const id of [...this.membership_.voters].sort((a, b) => a - b)) {
      const match = this.leader.progress.get(id)?.match ?? 0;
      if (id !== this.id && match > bestMatch) [best, bestMatch] = [id, match];
    }
    return best;
  }

  /** Hands leadership to `to` once its log is current; proposals are refused meanwhile. */
  transferLeadership(to: NodeId): void {
    this.ensureOutboxRoom();
    if (this.role_ !== 'leader') throw new RaftError('NotLeader', `node ${this.id} is ${this.role_}`, this.leader_);
    if (to === this.id || !this.membership_.voters.includes(to)) {
      throw new RaftError('TransferInvalid', `node ${to} is not another voter`);
    }
    const lead = this.leader;
    if (lead.transferee === to) return;
    lead.transferee = to;
    this.electionElapsed = 0; // the transfer is abandoned after one election timeout
    const pr = defined(lead.progress.get(to), () => `progress of transfer target ${to}`);
    if (pr.match === this.log.lastIndex()) this.send(this.msg('TimeoutNow', to));
    else this.sendAppend(to, true);
  }

  /**
   * Records that the application has a snapshot of its state at `index` (≤ appliedIndex) and
   * drops the log up to there. The snapshot is what lagging followers will be sent.
   */
  compact(index: number, data: Uint8Array): Snapshot {
    if (index > this.applied_ || index <= this.log.snapshotIndex()) {
      throw new RaftError(
        'CompactionInvalid',
        `index ${index} not in (${this.log.snapshotIndex()}, applied ${this.applied_}]`,
      );
    }
    const term = defined(this.log.term(index), () => `term of compaction index ${index}`);
    const membership = this.membershipAt(index);
    const snap: Snapshot = { meta: { index, term, membership }, data };
    this.snapshot_ = snap;
    this.log.compact(index, term);
    const keepFrom = this.membershipHistory.findLastIndex((h) => h.index <= index);
    this.membershipHistory = this.membershipHistory.slice(keepFrom);
    return snap;
  }

  /** The snapshot lagging followers are sent (latest from compact() or a received InstallSnapshot). */
  get snapshot(): Snapshot | undefined {
    return this.snapshot_;
  }

  step(m: Message): void {
    this.ensureOutboxRoom();
    const problem = messageProblem(m, this.id);
    if (problem !== undefined) throw new RaftError('MessageInvalid', `message ${m.type} from ${m.from} refused: ${problem}`);
    if (m.term > this.term_) {
      if (m.type === 'Vote' || m.type === 'PreVote') {
        // Leader stickiness: while we hear from a live leader, ignore disruptive candidates.
        const inLease =
          this.opts.check_quorum &&
          this.leader_ !== NO_NODE &&
          this.electionElapsed < this.opts.election_timeout_ticks;
        if (inLease && m.context !== CAMPAIGN_TRANSFER) return;
      }
      if (m.type === 'PreVote') {
        // A pre-vote never changes our term.
      } else if (m.type === 'PreVoteResp' && !m.reject) {
        // The future term we asked for; we change term when we actually campaign.
      } else {
        const fromLeader = m.type === 'App' || m.type === 'Heartbeat' || m.type === 'Snap';
        this.becomeFollower(m.term, fromLeader ? m.from : NO_NODE, `heard the higher term ${m.term} from ${m.from} (${m.type})`);
      }
    } else if (m.term < this.term_) {
      if ((this.opts.check_quorum || this.opts.pre_vote) && (m.type === 'App' || m.type === 'Heartbeat')) {
        // A leader cut off by a partition may never learn of the new term otherwise, since with
        // PreVote we will not disrupt it with votes: tell it.
        this.send(this.msg('AppResp', m.from));
      } else if (m.type === 'PreVote') {
        this.send({ ...this.msg('PreVoteResp', m.from), reject: true });
      }
      return;
    }

    if (m.type === 'Vote' || m.type === 'PreVote') {
      this.handleVoteRequest(m);
      return;
    }
    switch (this.role_) {
      case 'leader':
        this.stepLeader(m);
        break;
      case 'candidate':
      case 'preCandidate':
        this.stepCandidate(m);
        break;
      case 'follower':
        this.stepFollower(m);
        break;
    }
  }

  hasReady(): boolean {
    if (this.outstanding) return false;
    this.flush();
    return (
      this.outbox.length > 0 ||
      this.readStates.length > 0 ||
      this.snapshotToPersist !== undefined ||
      this.log.stableIndex < this.log.lastIndex() ||
      !sameHardState(this.hardState(), this.lastHardState) ||
      (this.snapshotToPersist === undefined && this.applied_ < Math.min(this.commit_, this.log.stableIndex))
    );
  }

  ready(): Ready {
    assert(this.outstanding === undefined, 'ready() called again before advance()');
    this.flush();
    const hs = this.hardState();
    const hardStateChanged = !sameHardState(hs, this.lastHardState);
    const entries = this.log.unstable();
    const snapshot = this.snapshotToPersist;
    const committedEntries: Entry[] = [];
    if (snapshot === undefined) {
      const hi = Math.min(this.commit_, this.log.stableIndex);
      let size_bytes = 0;
      for (let i = this.applied_ + 1; i <= hi; i++) {
        const e = this.log.entry(i);
        size_bytes += e.data.length;
        if (committedEntries.length > 0 && size_bytes > this.opts.max_apply_bytes) break;
        committedEntries.push(e);
      }
    }
    const last = entries[entries.length - 1];
    this.outstanding = {
      lastEntryIndex: last?.index ?? 0,
      lastEntryTerm: last?.term ?? 0,
      lastCommittedIndex: committedEntries[committedEntries.length - 1]?.index ?? 0,
      snapshotIndex: snapshot?.meta.index ?? 0,
    };
    const rd: Ready = {
      softState: { leaderId: this.leader_, role: this.role_ },
      hardState: hardStateChanged ? hs : undefined,
      snapshot,
      entries,
      committedEntries,
      messages: this.outbox,
      readStates: this.readStates,
      mustSync:
        entries.length > 0 ||
        snapshot !== undefined ||
        (hardStateChanged && (hs.term !== this.lastHardState.term || hs.vote !== this.lastHardState.vote)),
    };
    this.lastHardState = hs;
    this.snapshotToPersist = undefined;
    this.outbox = [];
    this.heartbeatsInOutbox = 0;
    this.readStates = [];
    return rd;
  }

  /**
   * Takes the heartbeats and heartbeat answers of term `durableTerm` out of the outbox, to send
   * before the next Ready, while the one before it is still being made durable. They may: a
   * heartbeat carries a commit index the follower already holds (its acknowledged match, at
   * most) and an answer carries no claim about the log, so neither needs this node's unwritten
   * entries; only a term that is not yet durable must not be told, hence the term asked for.
   * Without this, a slow fsync silences a healthy leader and its followers alike, and the
   * partition elects a leader for nothing (issue #18: fsyncs of 0.3-1 s under load deposed both
   * partitions' leaders).
   */
  takeHeartbeats(durableTerm: number): readonly Message[] {
    if (this.heartbeatsInOutbox === 0) return NO_MESSAGES;
    const taken: Message[] = [];
    const kept: Message[] = [];
    for (const m of this.outbox) (isHeartbeat(m) && m.term === durableTerm ? taken : kept).push(m);
    this.outbox = kept;
    this.heartbeatsInOutbox -= taken.length;
    return taken;
  }

  /** Acknowledges that the last Ready was persisted, its messages sent and its entries applied. */
  advance(): void {
    const o = this.outstanding;
    assert(o !== undefined, 'advance() without ready()');
    this.outstanding = undefined;
    if (o.snapshotIndex > this.applied_) this.applied_ = o.snapshotIndex;
    if (o.lastEntryIndex > 0 && this.log.term(o.lastEntryIndex) === o.lastEntryTerm) {
      // The log may have been cut and rewritten meanwhile; the term check tells us the persisted
      // entries are still ours (log matching makes the whole prefix equal).
      if (o.lastEntryIndex > this.log.stableIndex) this.log.stableIndex = o.lastEntryIndex;
    }
    if (o.lastCommittedIndex > this.applied_) this.applied_ = o.lastCommittedIndex;
    if (this.role_ === 'leader') this.maybeCommit();
  }

  // ---- roles --------------------------------------------------------------------------------

  private tickFollower(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.hup(false);
    } else if (this.role_ === 'preCandidate' && this.electionElapsed % this.opts.heartbeat_interval_ticks === 0) {
      this.askPreVotesAgain();
    }
  }

  /**
   * A voter still inside its leader lease ignores a pre-vote without answering: when the old
   * leader has died, its lease ends a few ticks later, not a whole election timeout later. So a
   * pre-candidate asks the voters that have not answered again every heartbeat interval, instead
   * of waiting for its next timeout (measured: kill -9 of a leader took 420 ms to the next write
   * instead of 200 when the first pre-vote met a lease). A pre-vote changes no state anywhere,
   * so asking twice is harmless.
   */
  private askPreVotesAgain(): void {
    for (const id of this.membership_.voters) {
      if (id === this.id || this.votes.has(id)) continue;
      this.send({ ...this.msg('PreVote', id), term: this.term_ + 1, index: this.log.lastIndex(), logTerm: this.log.lastTerm(), context: 0 });
    }
  }

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.opts.check_quorum && !this.quorumActive()) {
      this.becomeFollower(this.term_, NO_NODE, `heard from no quorum for ${this.opts.election_timeout_ticks} ticks (check-quorum)`);
      return;
    }
    if (this.electionElapsed >= this.opts.election_timeout_ticks) {
      this.electionElapsed = 0;
      this.leader.transferee = NO_NODE;
    }
    for (const [id, pr] of this.leader.progress) {
      if (pr.state === 'snapshot' && ++pr.snapshotElapsed_ticks >= this.opts.election_timeout_ticks) {
        pr.becomeProbe(); // the snapshot or its answer was lost: try again
        this.sendAppend(id, true);
      }
    }
    if (this.heartbeatElapsed >= this.opts.heartbeat_interval_ticks) {
      this.heartbeatElapsed = 0;
      this.broadcastHeartbeat();
    }
  }

  /** CheckQuorum: has a majority of voters (counting us) answered within the last election timeout? */
  private quorumActive(): boolean {
    return quorumActive(this.membership_, (id) => {
      if (id === this.id) return true;
      const pr = this.leader.progress.get(id);
      return pr !== undefined && this.recentlyHeard(pr);
    });
  }

  private recentlyHeard(pr: Progress): boolean {
    return this.now_ticks - pr.lastHeard_ticks < this.opts.election_timeout_ticks;
  }

  private promotable(): boolean {
    return this.membership_.voters.includes(this.id);
  }

  private hup(transfer: boolean): void {
    if (this.role_ === 'leader' || !this.promotable()) return;
    this.startCampaign(this.opts.pre_vote && !transfer, transfer);
  }

  private startCampaign(pre: boolean, transfer: boolean): void {
    if (pre) this.becomePreCandidate();
    else this.becomeCandidate();
    const voteTerm = pre ? this.term_ + 1 : this.term_;
    this.votes.clear();
    if (this.recordVote(this.id, true)) return;
    for (const id of this.membership_.voters) {
      if (id === this.id) continue;
      this.send({
        ...this.msg(pre ? 'PreVote' : 'Vote', id),
        term: voteTerm,
        index: this.log.lastIndex(),
        logTerm: this.log.lastTerm(),
        context: transfer ? CAMPAIGN_TRANSFER : 0,
      });
    }
  }

  /** Records a vote; returns true when the election was decided by it. */
  private recordVote(from: NodeId, granted: boolean): boolean {
    if (!this.votes.has(from)) this.votes.set(from, granted);
    const result = voteResult(this.membership_, this.votes);
    if (result === 'won') {
      if (this.role_ === 'preCandidate') this.startCampaign(false, false);
      else this.becomeLeader();
    } else if (result === 'lost') {
      this.becomeFollower(this.term_, NO_NODE);
    }
    return result !== 'pending';
  }

  private becomeFollower(term: number, leader: NodeId, reason = 'stepped down'): void {
    assert(term >= this.term_, 'term must never decrease');
    if (this.role_ === 'leader') this.lastStepDown = { term: this.term_, reason };
    if (term > this.term_) {
      this.term_ = term;
      this.vote_ = NO_NODE;
    }
    const wasLeader = this.role_ === 'leader';
    this.role_ = 'follower';
    this.leader_ = leader;
    this.resetTimers();
    if (wasLeader) this.dropLeaderState();
  }

  private becomePreCandidate(): void {
    assert(this.role_ !== 'leader', 'leader cannot pre-campaign');
    this.role_ = 'preCandidate';
    this.leader_ = NO_NODE;
    this.resetTimers();
  }

  private becomeCandidate(): void {
    assert(this.role_ !== 'leader', 'leader cannot campaign');
    this.term_++;
    this.vote_ = this.id;
    this.role_ = 'candidate';
    this.leader_ = NO_NODE;
    this.resetTimers();
  }

  private becomeLeader(): void {
    assert(this.role_ === 'candidate', 'only a candidate becomes leader');
    this.role_ = 'leader';
    this.leader_ = this.id;
    this.resetTimers();
    // No membership change until everything from earlier terms is committed (Ongaro's fix for
    // single-server changes across leader changes).
    this.lead = new Leadership(this.log.lastIndex() + 1);
    for (const id of [...this.membership_.voters, ...this.membership_.learners]) this.addProgress(id);
    this.readOnly.restart();
    // The no-op lets us commit, by counting, everything left over from earlier terms (§5.4.2).
    this.log.append({ term: this.term_, index: this.log.lastIndex() + 1, kind: 'normal', data: EMPTY });
    this.replicationDirty = true;
    this.maybeCommit();
  }

  private addProgress(id: NodeId): void {
    const pr = new Progress(
      this.log.lastIndex() + 1,
      this.membership_.learners.includes(id),
      this.opts.max_inflight_msgs,
      this.opts.max_inflight_bytes,
    );
    pr.lastHeard_ticks = this.now_ticks; // a new leader or member gets one election timeout of grace
    if (id === this.id) {
      pr.match = this.log.stableIndex;
      pr.becomeReplicate();
    }
    this.leader.progress.set(id, pr);
  }

  private dropLeaderState(): void {
    this.lead = undefined;
    this.replicationDirty = false;
    this.readOnly.failAll(this.readStates);
  }

  private resetTimers(): void {
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedTimeout();
    this.votes.clear();
  }

  private resetRandomizedTimeout(): void {
    const et = this.opts.election_timeout_ticks;
    this.randomizedElectionTimeout = et + this.opts.random_int(et);
  }

  // ---- message handling -----------------------------------------------------------------------

  private handleVoteRequest(m: Message): void {
    const pre = m.type === 'PreVote';
    const canVote =
      this.vote_ === m.from ||
      (this.vote_ === NO_NODE && this.leader_ === NO_NODE) ||
      (pre && m.term > this.term_);
    if (canVote && this.log.isUpToDate(m.index, m.logTerm) && !(pre && this.yieldsNotTo(m))) {
      this.send({ ...this.msg(pre ? 'PreVoteResp' : 'VoteResp', m.from), term: m.term });
      if (!pre) {
        this.electionElapsed = 0;
        this.vote_ = m.from;
      }
    } else {
      this.send({ ...this.msg(pre ? 'PreVoteResp' : 'VoteResp', m.from), reject: true });
    }
  }

  /**
   * Two pre-candidates for the same term with the same log would each grant the other and then
   * split the real vote (followers that all saw a dead leader's connection close campaign
   * within the same few ticks). Of two such, the lower id goes first: the other refuses it
   * nothing, it refuses the other. Liveness only: refusing a pre-vote never risks safety.
   */
  private yieldsNotTo(m: Message): boolean {
    return this.role_ === 'preCandidate' && m.term === this.term_ + 1 && m.from > this.id && m.index === this.log.lastIndex() && m.logTerm === this.log.lastTerm();
  }

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case 'App':
      case 'Heartbeat':
      case 'Snap':
        // Someone won this term.
        this.becomeFollower(this.term_, m.from);
        this.stepFollower(m);
        return;
      case 'VoteResp':
        if (this.role_ === 'candidate') this.recordVote(m.from, !m.reject);
        return;
      case 'PreVoteResp':
        if (this.role_ === 'preCandidate') this.recordVote(m.from, !m.reject);
        return;
      default:
        return;
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'App':
        this.electionElapsed = 0;
        this.leader_ = m.from;
        this.handleAppend(m);
        return;
      case 'Heartbeat':
        this.electionElapsed = 0;
        this.leader_ = m.from;
        this.commitTo(Math.min(m.commit, this.log.lastIndex()));
        this.send({ ...this.msg('HeartbeatResp', m.from), context: m.context });
        return;
      case 'Snap':
        this.electionElapsed = 0;
        this.leader_ = m.from;
        this.handleSnapshot(m);
        return;
      case 'TimeoutNow':
        this.hup(true);
        return;
      default:
        return;
    }
  }

  private handleAppend(m: Message): void {
    if (m.index < this.commit_) {
      this.send({ ...this.msg('AppResp', m.from), index: this.commit_ });
      return;
    }
    if (this.log.matchTerm(m.index, m.logTerm)) {
      const lastNew = m.index + m.entries.length;
      this.log.mergeFrom(m.entries, this.commit_);
      this.commitTo(Math.min(m.commit, lastNew));
      this.send({ ...this.msg('AppResp', m.from), index: lastNew });
      return;
    }
    // Fast backtracking: tell the leader where our conflicting term starts so it can skip it whole.
    let hint: number;
    let hintTerm: number;
    if (m.index > this.log.lastIndex()) {
      hint = this.log.lastIndex() + 1;
      hintTerm = 0;
    } else {
      hintTerm = defined(this.log.term(m.index), () => `term of conflicting index ${m.index}`);
      hint = this.log.firstIndexOfTerm(m.index);
    }
    this.send({ ...this.msg('AppResp', m.from), index: m.index, reject: true, rejectHint: hint, logTerm: hintTerm });
  }

  private handleSnapshot(m: Message): void {
    const s = m.snapshot;
    assert(s !== undefined, 'Snap message without snapshot');
    const { index, term } = s.meta;
    if (index <= this.commit_) {
      this.send({ ...this.msg('AppResp', m.from), index: this.commit_ });
      return;
    }
    if (this.log.matchTerm(index, term)) {
      this.commitTo(index);
      this.send({ ...this.msg('AppResp', m.from), index });
      return;
    }
    this.log.restore(index, term);
    this.commit_ = index;
    this.membership_ = s.meta.membership;
    this.membershipHistory = [{ index, membership: s.meta.membership }];
    this.snapshot_ = s;
    this.snapshotToPersist = s;
    this.send({ ...this.msg('AppResp', m.from), index });
  }

  private stepLeader(m: Message): void {
    const pr = this.leader.progress.get(m.from);
    if (!pr) return;
    switch (m.type) {
      case 'AppResp':
        // In its own term a leader's log only grows, and a follower acknowledges what it was
        // sent: an index beyond our log is no correct peer's.
        if (m.index > this.log.lastIndex()) throw new RaftError('MessageInvalid', `AppResp from ${m.from} names index ${m.index} beyond the last ${this.log.lastIndex()}`);
        pr.lastHeard_ticks = this.now_ticks;
        if (m.reject) this.handleAppendReject(m, pr);
        else this.handleAppendAck(m, pr);
        return;
      case 'HeartbeatResp':
        pr.lastHeard_ticks = this.now_ticks;
        pr.probeSent = false;
        // If every inflight append was lost the window stays full forever; free a slot so the
        // next append (which the follower will reject if it has a gap) restarts replication.
        if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirst();
        if (pr.match < this.log.lastIndex()) this.sendAppend(m.from, true);
        if (m.context > 0) {
          this.readOnly.ack(m.from, m.context);
          this.releaseReads();
        }
        return;
      default:
        return;
    }
  }

  private handleAppendReject(m: Message, pr: Progress): void {
    // A follower whose log now ends below what it acknowledged to this leader lost entries it had
    // made durable (its folder emptied, or put back from an older copy, under the same id). Raft
    // cannot mend that by itself: the entries it lacks may have counted in a commit. Sending again
    // at each refusal ping-ponged with it at full speed, at half a core, with nothing said: it is
    // probed once a heartbeat instead. A refusal delayed past the acknowledgement looks the same
    // once, so it is named (lostLogNotices, FollowerView.logEnd) only when it refuses
    // LOST_LOG_CONFIRMATIONS probes in a row; a stale one costs that follower a heartbeat.
    if (m.logTerm === 0 && m.index >= pr.match && m.rejectHint - 1 < pr.match && pr.state !== 'snapshot') {
      const seen = (pr.lostLog?.seen ?? 0) + 1;
      pr.lostLog = { end: m.rejectHint - 1, seen };
      if (seen === LOST_LOG_CONFIRMATIONS) this.lostLogNotices_++;
      if (pr.state === 'replicate') pr.becomeProbe();
      // From just after `match`, as a refusal always backs off to: if the log is compacted past
      // it, that probe is a snapshot, which mends the follower.
      pr.next = pr.match + 1;
      pr.probeSent = true;
      return;
    }
    let hintNext = m.rejectHint;
    if (m.logTerm > 0) {
      const j = this.log.lastIndexWithTermAtMost(m.logTerm, m.index);
      if (this.log.term(j) === m.logTerm) hintNext = j + 1;
    }
    if (pr.maybeDecrease(m.index, Math.max(1, hintNext))) {
      if (pr.state === 'replicate') {
        const next = pr.next;
        pr.becomeProbe();
        pr.next = next; // keep the backtracking hint
      }
      this.sendAppend(m.from, true);
    }
  }

  private handleAppendAck(m: Message, pr: Progress): void {
    pr.lostLog = undefined;
    const wasPaused = pr.isPaused();
    if (!pr.maybeUpdate(m.index)) {
      if (pr.state === 'replicate') pr.inflights.freeTo(m.index);
      return;
    }
    if (pr.state === 'probe') pr.becomeReplicate();
    else if (pr.state === 'snapshot' && pr.match >= pr.pendingSnapshot) {
      pr.becomeProbe();
      if (pr.match + 1 >= this.log.firstIndex()) pr.becomeReplicate();
    } else if (pr.state === 'replicate') pr.inflights.freeTo(m.index);

    this.maybeCommit();
    if (wasPaused || pr.match < this.log.lastIndex()) this.sendAppendsTo(m.from, false);
    // The commit above may have removed this leader (it then stepped down): hence lead?.
    if (m.from === this.lead?.transferee && pr.match === this.log.lastIndex()) {
      this.send(this.msg('TimeoutNow', m.from));
    }
  }

  // ---- replication ----------------------------------------------------------------------------

  private checkCanPropose(size_bytes: number): void {
    this.ensureOutboxRoom();
    if (this.role_ !== 'leader') throw new RaftError('NotLeader', `node ${this.id} is ${this.role_}`, this.leader_);
    const lead = this.leader;
    if (lead.transferee !== NO_NODE) {
      throw new RaftError('TransferInProgress', `transferring leadership to ${lead.transferee}`);
    }
    if (size_bytes > this.opts.max_entry_bytes) {
      throw new RaftError('ProposalTooLarge', `${size_bytes} bytes > max_entry_bytes ${this.opts.max_entry_bytes}`);
    }
    if (
      lead.uncommitted_bytes + size_bytes > this.opts.max_uncommitted_bytes ||
      lead.uncommitted_entries + 1 > this.opts.max_uncommitted_entries
    ) {
      throw new RaftError(
        'ProposalQueueFull',
        `${lead.uncommitted_entries} entries / ${lead.uncommitted_bytes} bytes proposed and not yet committed`,
      );
    }
  }

  private appendAsLeader(kind: Entry['kind'], data: Uint8Array): number {
    const index = this.log.lastIndex() + 1;
    this.log.append({ term: this.term_, index, kind, data });
    this.leader.uncommitted_bytes += data.length;
    this.leader.uncommitted_entries++;
    this.replicationDirty = true;
    return index;
  }

  /**
   * Sends whatever replication work accumulated since the last ready(), batching proposals.
   * A commit alone sends nothing: followers learn the commit index with the next append or
   * heartbeat (at most a heartbeat interval later). Telling them at once cost every write an
   * empty append and its answer per follower, doubling the messages and wake-ups of a round,
   * while nothing waits on a follower's apply: reads are served by the leader.
   */
  private flush(): void {
    if (this.role_ !== 'leader') return;
    if (this.replicationDirty) {
      for (const id of this.leader.progress.keys()) {
        if (id !== this.id) this.sendAppendsTo(id, false);
      }
    }
    this.replicationDirty = false;
  }

  /** Sends appends to one peer until its window is full or it has everything. */
  private sendAppendsTo(to: NodeId, sendIfEmpty: boolean): void {
    if (this.sendAppend(to, sendIfEmpty)) {
      while (this.sendAppend(to, false)) {
        // keep streaming while the inflight window allows
      }
    }
  }

  /** Sends one append (or the snapshot) to a peer; returns false when nothing was sent. */
  private sendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.lead?.progress.get(to);
    if (!pr || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    if (prevTerm === undefined || pr.next < this.log.firstIndex()) {
      return this.sendSnapshot(to, pr);
    }
    const entries =
      pr.next <= this.log.lastIndex()
        ? this.log.slice(pr.next, this.log.lastIndex(), this.opts.max_entries_per_msg, this.opts.max_msg_bytes)
        : [];
    if (entries.length === 0 && !sendIfEmpty) return false;
    this.send({ ...this.msg('App', to), index: prevIndex, logTerm: prevTerm, entries, commit: this.commit_ });
    const last = entries[entries.length - 1];
    if (pr.state === 'replicate' && last !== undefined) {
      pr.next = last.index + 1;
      let size_bytes = 0;
      for (const e of entries) size_bytes += e.data.length;
      pr.inflights.add(last.index, size_bytes);
    } else if (pr.state === 'probe') {
      pr.probeSent = true;
    }
    return true;
  }

  private sendSnapshot(to: NodeId, pr: Progress): boolean {
    const snap = this.snapshot_;
    assert(snap !== undefined, 'log compacted without a snapshot');
    pr.becomeSnapshot(snap.meta.index);
    this.send({ ...this.msg('Snap', to), snapshot: snap });
    return true;
  }

  private broadcastHeartbeat(): void {
    const context = this.readOnly.roundInFlight;
    for (const [id, pr] of this.leader.progress) {
      if (id === this.id) continue;
      this.send({ ...this.msg('Heartbeat', id), commit: Math.min(pr.match, this.commit_), context });
    }
  }

  /** Commit by counting replicas — only entries of the current term (§5.4.2). */
  private maybeCommit(): boolean {
    let changed = false;
    // A committed membership change can shrink the quorum, so count again until stable.
    while (this.role_ === 'leader' && this.maybeCommitOnce()) changed = true;
    return changed;
  }

  private maybeCommitOnce(): boolean {
    const progress = this.leader.progress;
    const self = progress.get(this.id);
    if (self) self.match = this.log.stableIndex;
    const voters = this.membership_.voters.length;
    if (voters === 0) return false;
    const quorum = this.opts.commit_quorum?.(voters) ?? quorumSize(voters);
    assert(quorum >= 1 && quorum <= voters, () => `commit quorum ${quorum} of ${voters} voters`);
    const candidate = quorumValue(this.membership_, (id) => progress.get(id)?.match ?? 0, quorum);
    if (candidate <= this.commit_ || this.log.term(candidate) !== this.term_) return false;
    const firstOfTerm = this.log.term(this.commit_) !== this.term_;
    this.commitTo(candidate);
    if (firstOfTerm) {
      for (const r of this.readOnly.unscheduled()) this.scheduleRead(r);
    }
    return true;
  }

  private commitTo(index: number): void {
    if (index <= this.commit_) return;
    assert(index <= this.log.lastIndex(), () => `commit ${index} beyond last index ${this.log.lastIndex()}`);
    const from = this.commit_ + 1;
    this.commit_ = index;
    let released = 0;
    for (let i = from; i <= index; i++) {
      const e = this.log.entry(i);
      released += e.data.length;
      if (e.kind === 'conf') this.applyMembership(i, decodeConfEntry(e.data).result);
    }
    const lead = this.lead;
    if (lead !== undefined) {
      // Entries from earlier terms were never counted, hence the floor at zero.
      lead.uncommitted_bytes = Math.max(0, lead.uncommitted_bytes - released);
      lead.uncommitted_entries = Math.max(0, lead.uncommitted_entries - (index - from + 1));
    }
  }

  private applyMembership(index: number, m: Membership): void {
    this.membership_ = m;
    this.membershipHistory.push({ index, membership: m });
    const lead = this.lead;
    if (lead === undefined) return;
    for (const id of [...lead.progress.keys()]) {
      if (!m.voters.includes(id) && !m.learners.includes(id)) lead.progress.delete(id);
    }
    for (const id of [...m.voters, ...m.learners]) {
      const pr = lead.progress.get(id);
      if (pr) pr.isLearner = m.learners.includes(id);
      else {
        this.addProgress(id);
        // A new member is probed at once rather than at the next heartbeat.
        if (id !== this.id) this.sendAppend(id, true);
      }
    }
    if (lead.transferee !== NO_NODE && !m.voters.includes(lead.transferee)) lead.transferee = NO_NODE;
    this.replicationDirty = true;
    if (!m.voters.includes(this.id)) {
      // Removed: stop leading once the change that removes us is committed (thesis §4.2.2). First
      // tell the others it committed, and hand over to the most caught-up voter so the cluster
      // does not wait an election timeout.
      for (const id of lead.progress.keys()) if (id !== this.id) this.sendAppend(id, true);
      let best: NodeId = NO_NODE;
      for (const id of m.voters) {
        const pr = lead.progress.get(id);
        if (pr && pr.match === this.log.lastIndex() && best === NO_NODE) best = id;
      }
      if (best !== NO_NODE) this.send({ ...this.msg('TimeoutNow', best), commit: this.commit_ });
      this.becomeFollower(this.term_, NO_NODE, 'removed from the membership');
    }
  }

  private membershipAt(index: number): Membership {
    let m = this.membershipHistory[0]!.membership;
    for (const h of this.membershipHistory) if (h.index <= index) m = h.membership;
    return m;
  }

  // ---- ReadIndex ------------------------------------------------------------------------------

  /** Puts a read into the next heartbeat round; starts that round now if none is outstanding. */
  private scheduleRead(r: PendingRead): void {
    if (this.readOnly.schedule(r, this.commit_)) this.startReadRound();
  }

  private startReadRound(): void {
    const round = this.readOnly.startRound(this.id);
    for (const [id, pr] of this.leader.progress) {
      if (id === this.id) continue;
      this.send({ ...this.msg('Heartbeat', id), commit: Math.min(pr.match, this.commit_), context: round });
    }
    this.releaseReads();
  }

  /** Releases every read whose round a quorum has acknowledged; starts the next round if one is wanted. */
  private releaseReads(): void {
    if (this.readOnly.release(this.membership_, this.readStates)) this.startReadRound();
  }

  // ---- helpers --------------------------------------------------------------------------------

  /** The leader-only state; asserting it exists is asserting this node leads. */
  private get leader(): Leadership {
    assert(this.lead !== undefined && this.role_ === 'leader', () => `leader-only state used while ${this.role_}`);
    return this.lead;
  }

  private hardState(): HardState {
    return { term: this.term_, vote: this.vote_, commit: this.commit_ };
  }

  private ensureOutboxRoom(): void {
    if (this.outbox.length >= this.opts.max_outbox_msgs) {
      throw new RaftError('OutboxFull', `${this.outbox.length} messages wait for ready()`);
    }
  }

  private msg(type: MessageType, to: NodeId): Message {
    return {
      type,
      from: this.id,
      to,
      term: this.term_,
      logTerm: 0,
      index: 0,
      entries: NO_ENTRIES,
      commit: 0,
      reject: false,
      rejectHint: 0,
      context: 0,
      snapshot: undefined,
    };
  }

  private send(m: Message): void {
    this.outbox.push(m);
    if (isHeartbeat(m)) this.heartbeatsInOutbox++;
  }
}

const EMPTY = new Uint8Array(0);
const NO_ENTRIES: Entry[] = [];
const NO_MESSAGES: readonly Message[] = [];

/** A heartbeat or its answer: what takeHeartbeats() hands out while an fsync is out. */
export const isHeartbeat = (m: Message): boolean => m.type === 'Heartbeat' || m.type === 'HeartbeatResp';


function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}
