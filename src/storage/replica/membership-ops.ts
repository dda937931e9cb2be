import { decodeConfEntry, quorumSize, RaftError, type ConfChange, type Entry, type Membership, type RaftNode } from '../../raft/core/index.js';
import type { Logger } from '../../util/log.js';
import type { ReplicaResponse } from '../common/protocol.js';
import { addressKey, addressOfChange, addressProblem, ADDRESS_KEY_PREFIX, type AddressOp, type MemberChangeRequest, type MemberChangeResult, type MemberView } from '../common/members.js';
import { replicasOf, type ReplicaAddress, type Topology } from '../common/topology.js';
import type { StateStore } from './state-store.js';

/**
 * A replica's side of online membership changes (issue #16 item 1): where every member of the
 * partition listens, the `changeMember` requests a leader takes, and the promotion of learners
 * that have caught up. The Raft core decides who votes (conf entries); this keeps the addresses,
 * which travel in the same log as `address` entries, are kept in the state machine under
 * `members/ID` (so snapshots carry them to new replicas) and override --storage-config, which
 * only names the members a partition was bootstrapped with.
 */
export interface MembershipHost {
  readonly id: number;
  readonly partition: number;
  readonly topology: Topology;
  readonly node: RaftNode;
  /** The replica's applied state: address records are read from it after a restart or a snapshot. */
  readonly state: StateStore;
  readonly log: Logger;
  /** Appends an address entry through the replica's proposal path; resolves once it applied. */
  propose(op: AddressOp): Promise<ReplicaResponse>;
  /** Runs the replica's Ready loop soon (a conf entry was proposed). */
  schedule(): void;
}

/** How long a change waits for its conf entry to apply before answering "outcome unknown". */
const CHANGE_WAIT_MS = 10_000;
/** How often a leader looks for learners to promote. */
const PROMOTE_CHECK_MS = 100;

interface ConfWaiter {
  readonly term: number;
  readonly resolve: (response: ReplicaResponse) => void;
  readonly timer: NodeJS.Timeout;
}

const invalid = (message: string): ReplicaResponse => ({ ok: false, error: 'invalid', message });

export class ReplicaMembership {
  private readonly addresses = new Map<number, ReplicaAddress>();
  private readonly waiters = new Map<number, ConfWaiter>();
  /** The change this leader is carrying out, described for status and refusals. */
  private inFlight: string | undefined;
  private lastPromoteCheck_ms = 0;
  /** Whether this replica is in the membership it applied last (a joining one is not, until added). */
  private member: boolean;

  constructor(private readonly host: MembershipHost) {
    this.reload();
    this.member = this.isIn(host.node.membership);
  }

  private isIn(m: Membership): boolean {
    return m.voters.includes(this.host.id) || m.learners.includes(this.host.id);
  }

  /** Where member `id` listens, as far as this replica knows. */
  addressOf(id: number): ReplicaAddress | undefined {
    return this.addresses.get(id);
  }

  /** Re-reads the address records after the state was replaced (start-up, an installed snapshot). */
  reload(): void {
    this.addresses.clear();
    for (const address of replicasOf(this.host.topology, this.host.partition)) this.addresses.set(address.id, address);
    for (const [, value] of this.host.state.range(ADDRESS_KEY_PREFIX)) {
      if (addressProblem(value, this.host.partition) === undefined) this.addresses.set((value as ReplicaAddress).id, value as ReplicaAddress);
    }
  }

  /** Applies a committed address entry to `store` (every replica alike); checked again here, as every entry is. */
  applyAddress(op: AddressOp, store: StateStore): ReplicaResponse {
    const problem = addressProblem(op.replica, this.host.partition);
    if (problem !== undefined) return invalid(`invalid address entry: ${problem}; nothing was changed`);
    const { id, partition, host, clientPort, raftPort } = op.replica;
    const address: ReplicaAddress = { id, partition, host, clientPort, raftPort };
    store.put(addressKey(id), address);
    this.addresses.set(id, address);
    return { ok: true, result: { t: 'done' } };
  }

  views(): MemberView[] {
    const { voters, learners } = this.host.node.membership;
    const view = (id: number, role: MemberView['role']): MemberView => {
      const address = this.addresses.get(id);
      return address === undefined ? { id, role } : { id, role, address };
    };
    return [...voters.map((id) => view(id, 'voter')), ...learners.map((id) => view(id, 'learner'))];
  }

  get changeUnderWay(): string | undefined {
    return this.inFlight;
  }

  /** After entries applied: answers the changes whose conf entry they hold, and says what changed. */
  applied(entries: readonly Entry[]): void {
    for (const entry of entries) {
      if (entry.kind !== 'conf') continue;
      const { change, result } = decodeConfEntry(entry.data);
      this.host.log.info({ replica: this.host.id, partition: this.host.partition, index: entry.index, change: `${change.type} ${change.node}`, voters: result.voters, learners: result.learners }, 'membership changed');
      const waiter = this.waiters.get(entry.index);
      if (waiter !== undefined) {
        this.waiters.delete(entry.index);
        clearTimeout(waiter.timer);
        waiter.resolve(waiter.term === entry.term ? this.done() : { ok: false, error: 'outcome-unknown', message: 'leadership changed before the membership change applied; see `ecom member list`, then retry' });
      }
      this.reportIfRemoved(result);
    }
  }

  private reportIfRemoved(result: Membership): void {
    const was = this.member;
    this.member = this.isIn(result);
    if (!was || this.member) return;
    this.host.log.warn({ replica: this.host.id, partition: this.host.partition }, `replica ${this.host.id} was removed from partition ${this.host.partition}: it takes no further part; stop it and delete its data folder`);
  }

  /** This replica stopped leading: the changes it was waiting for may or may not apply. */
  leadershipLost(): void {
    for (const [index, waiter] of this.waiters) {
      this.waiters.delete(index);
      clearTimeout(waiter.timer);
      waiter.resolve({ ok: false, error: 'outcome-unknown', message: 'leadership was lost before the membership change applied; see `ecom member list`, then retry' });
    }
  }

  close(): void {
    for (const waiter of this.waiters.values()) {
      clearTimeout(waiter.timer);
      waiter.resolve({ ok: false, error: 'refused', message: `replica ${this.host.id} is stopping` });
    }
    this.waiters.clear();
  }

  /** The `changeMember` request: validated already (validate.ts); decided here against the live membership. */
  async change(request: MemberChangeRequest): Promise<ReplicaResponse> {
    const { node } = this.host;
    if (node.role !== 'leader') return { ok: false, error: 'not-leader', leader: node.leaderId };
    if (this.inFlight !== undefined) {
      return invalid(`partition ${this.host.partition} is already changing its membership (${this.inFlight}); one change at a time keeps every majority overlapping. Wait for it (ecom member list), then retry`);
    }
    const settled = this.settledAlready(request);
    if (settled !== undefined) return settled;
    const problem = this.changeProblem(request);
    if (problem !== undefined) return invalid(problem);
    this.inFlight = `${request.change} replica ${request.id}`;
    try {
      if (request.change === 'add') {
        const recorded = await this.host.propose({ t: 'address', replica: addressOfChange(request) });
        if (!recorded.ok) return recorded;
      }
      const type = request.change === 'add' ? 'addLearner' : request.change;
      return await this.proposeConf({ type, node: request.id });
    } finally {
      this.inFlight = undefined;
    }
  }

  /** A retry of a change that already took effect answers as the change did. */
  private settledAlready(request: MemberChangeRequest): ReplicaResponse | undefined {
    const { voters, learners } = this.host.node.membership;
    const member = voters.includes(request.id) || learners.includes(request.id);
    if (request.change === 'promote' && voters.includes(request.id)) return this.done();
    if (request.change !== 'add' || !member) return undefined;
    const known = this.addresses.get(request.id);
    const same = known !== undefined && known.host === request.host && known.clientPort === request.clientPort && known.raftPort === request.raftPort;
    return same ? this.done() : invalid(`replica ${request.id} is already a member of partition ${this.host.partition}${known ? ` at ${known.host}:${known.clientPort}/${known.raftPort}` : ''}; remove it first, or pick another id`);
  }

  private changeProblem(request: MemberChangeRequest): string | undefined {
    const m = this.host.node.membership;
    const { partition } = this.host;
    const list = `voters ${m.voters.join(', ') || 'none'}; learners ${m.learners.join(', ') || 'none'}`;
    switch (request.change) {
      case 'add':
        return this.addProblem(addressOfChange(request), m);
      case 'promote':
        if (!m.learners.includes(request.id)) return `replica ${request.id} is not a learner of partition ${partition} (${list}); add it first`;
        return this.catchUpProblem(request.id) ?? this.quorumProblem({ voters: [...m.voters, request.id], learners: [] }, `promoting replica ${request.id}`);
      case 'remove':
        if (!m.voters.includes(request.id) && !m.learners.includes(request.id)) return `replica ${request.id} is not a member of partition ${partition} (${list})`;
        if (m.voters.length === 1 && m.voters[0] === request.id) return `replica ${request.id} is the last voter of partition ${partition}; add and promote another first`;
        return this.quorumProblem({ voters: m.voters.filter((v) => v !== request.id), learners: [] }, `removing replica ${request.id}`);
    }
  }

  /** The core refuses a learner behind the commit index too; saying so first names the real reason. */
  private catchUpProblem(id: number): string | undefined {
    const { node } = this.host;
    const match = node.status().followers?.find((f) => f.id === id)?.match ?? 0;
    if (match >= node.commitIndex) return undefined;
    return `replica ${id} has not caught up yet (it holds up to index ${match} of ${node.commitIndex}); it is promoted by itself once it has, or retry later`;
  }

  private addProblem(address: ReplicaAddress, m: Membership): string | undefined {
    const elsewhere = this.host.topology.replicas.find((r) => r.id === address.id && r.partition !== this.host.partition);
    if (elsewhere !== undefined) return `replica id ${address.id} belongs to partition ${elsewhere.partition} in --storage-config; pick an id no replica uses`;
    for (const id of [...m.voters, ...m.learners]) {
      const other = this.addresses.get(id);
      if (other === undefined || other.host !== address.host) continue;
      const clash = [other.clientPort, other.raftPort].find((p) => p === address.clientPort || p === address.raftPort);
      if (clash !== undefined) return `port ${clash} on ${address.host} is already replica ${id}'s; give replica ${address.id} ports of its own`;
    }
    return undefined;
  }

  /**
   * Refuses a change after which the voters that answer the leader now would be fewer than a
   * quorum: it would commit nothing (and block every write) until a down member came back.
   */
  private quorumProblem(after: Membership, what: string): string | undefined {
    const active = new Set([this.host.id, ...(this.host.node.status().followers ?? []).filter((f) => f.active).map((f) => f.id)]);
    const up = after.voters.filter((id) => active.has(id));
    const need = quorumSize(after.voters.length);
    if (up.length >= need) return undefined;
    const down = after.voters.filter((id) => !active.has(id));
    return `${what} would leave partition ${this.host.partition} with voters ${after.voters.join(', ')}, of which ${down.join(', ')} do not answer the leader now: ${up.length} of the ${need} a quorum needs, so no write could commit. Bring ${down.join(', ')} back (or remove a down voter) first`;
  }

  private proposeConf(cc: ConfChange): Promise<ReplicaResponse> {
    const { node } = this.host;
    let index: number;
    try {
      index = node.proposeConfChange(cc);
    } catch (err) {
      if (!(err instanceof RaftError)) throw err;
      return Promise.resolve(this.confRefusal(err, cc));
    }
    this.host.log.info({ replica: this.host.id, partition: this.host.partition, index, change: `${cc.type} ${cc.node}` }, 'membership change proposed');
    this.host.schedule();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.delete(index);
        resolve({ ok: false, error: 'outcome-unknown', message: `the membership change did not apply within ${CHANGE_WAIT_MS} ms (is a quorum up?); see \`ecom member list\`` });
      }, CHANGE_WAIT_MS);
      this.waiters.set(index, { term: node.term, resolve, timer });
    });
  }

  private confRefusal(err: RaftError, cc: ConfChange): ReplicaResponse {
    switch (err.code) {
      case 'NotLeader':
        return { ok: false, error: 'not-leader', leader: err.leaderHint };
      case 'LeaderNotReady':
      case 'TransferInProgress':
        return { ok: false, error: 'refused', message: `the leader of partition ${this.host.partition} is not ready for a membership change yet (${err.message}); retry` };
      case 'ConfChangePending':
        return invalid(`an earlier membership change of partition ${this.host.partition} is not committed yet (${err.message}); wait for it, then retry`);
      case 'LearnerNotCaughtUp':
        return invalid(this.catchUpProblem(cc.node) ?? err.message);
      default:
        return invalid(err.message);
    }
  }

  private done(): ReplicaResponse {
    const result: MemberChangeResult = { partition: this.host.partition, members: this.views() };
    return { ok: true, result };
  }

  /** A leader promotes each learner that is up and holds everything committed, one at a time. */
  maybePromote(): void {
    const { node } = this.host;
    if (node.role !== 'leader' || this.inFlight !== undefined || node.membership.learners.length === 0) return;
    const now = Date.now();
    if (now - this.lastPromoteCheck_ms < PROMOTE_CHECK_MS) return;
    this.lastPromoteCheck_ms = now;
    const ready = (node.status().followers ?? []).find((f) => f.active && node.membership.learners.includes(f.id) && f.match >= node.commitIndex);
    if (ready === undefined) return;
    this.host.log.info({ replica: this.host.id, partition: this.host.partition, learner: ready.id, match: ready.match }, 'learner has caught up: promoting it to voter');
    void this.change({ op: 'changeMember', partition: this.host.partition, change: 'promote', id: ready.id }).then((answer) => {
      if (!answer.ok) this.host.log.info({ learner: ready.id, why: answer.error === 'not-leader' ? 'not the leader' : answer.message }, 'promotion not done this time; tried again');
    });
  }
}
