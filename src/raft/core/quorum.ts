// Counting with membership: every decision that needs "enough voters" (commit, elections,
// CheckQuorum, ReadIndex confirmation) is made here, over the voters of the current membership.
// Learners never count.
import type { Membership, NodeId } from '../types.js';

/** A majority of `voters`. */
export function quorumSize(voters: number): number {
  return Math.floor(voters / 2) + 1;
}

/**
 * The highest value that at least `quorum` voters have reached (for match indexes: the index a
 * quorum holds; for ReadIndex rounds: the round a quorum has acknowledged). 0 with no voters.
 */
export function quorumValue(membership: Membership, valueOf: (id: NodeId) => number, quorum = quorumSize(membership.voters.length)): number {
  const values = membership.voters.map(valueOf).sort((a, b) => b - a);
  return values[quorum - 1] ?? 0;
}

export type VoteResult = 'won' | 'lost' | 'pending';

/** An election's outcome so far: won with a quorum of grants, lost once a quorum refused. */
export function voteResult(membership: Membership, votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  let granted = 0;
  let refused = 0;
  for (const id of membership.voters) {
    const vote = votes.get(id);
    if (vote === true) granted++;
    else if (vote === false) refused++;
  }
  const quorum = quorumSize(membership.voters.length);
  if (granted >= quorum) return 'won';
  return refused >= quorum ? 'lost' : 'pending';
}

/** True when a quorum of voters satisfies `active` (CheckQuorum: heard from recently). */
export function quorumActive(membership: Membership, active: (id: NodeId) => boolean): boolean {
  return membership.voters.filter(active).length >= quorumSize(membership.voters.length);
}
