// Safety properties checked after every simulator step. A violation throws SimViolation.
import type { Entry, NodeId } from '../raft/types.js';
import type { RaftNode } from '../raft/core/index.js';

export class SimViolation extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SimViolation';
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class Invariants {
  /** term → the node that led it. */
  private readonly leaders = new Map<number, NodeId>();
  /** "index:term" → (term of the previous entry, payload) as first seen in any log. */
  private readonly logged = new Map<string, { prevTerm: number; data: Uint8Array }>();
  /** index → the entry first applied at that index by any replica. */
  private readonly applied: (Entry | undefined)[] = [];
  private maxApplied = 0;
  /** index → highest term observed when it was first applied (≥ the term that committed it). */
  private readonly bound: number[] = [0];
  private maxTerm = 0;
  private readonly lastApplied = new Map<NodeId, number>();
  private readonly lastCommit = new Map<NodeId, number>();
  checks = 0;

  /** At most one leader per term (Election Safety). */
  checkLeader(node: RaftNode): void {
    this.checks++;
    if (node.term > this.maxTerm) this.maxTerm = node.term;
    if (node.role !== 'leader') return;
    const other = this.leaders.get(node.term);
    if (other === undefined) this.leaders.set(node.term, node.id);
    else if (other !== node.id) throw new SimViolation(`two leaders in term ${node.term}: ${other} and ${node.id}`);
    // Leader Completeness: a leader holds every entry committed in an earlier term. An entry's
    // commit term is at most the highest term seen when it was first applied (`bound`), and
    // bounds grow with the index, so checking the last index with bound < term covers the rest.
    let lo = 0;
    let hi = this.maxApplied;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.bound[mid]! < node.term) lo = mid;
      else hi = mid - 1;
    }
    if (lo > 0) {
      const st = node.status();
      if (st.lastIndex < lo) throw new SimViolation(`leader ${node.id} (term ${node.term}) lacks committed index ${lo}`);
      const want = this.applied[lo]!.term;
      const have = node.termAt(lo);
      if (have !== undefined && have !== want) {
        throw new SimViolation(`leader ${node.id} (term ${node.term}) has term ${have} at committed index ${lo}, applied term ${want}`);
      }
    }
  }

  /** Commit index never decreases while a node is up. */
  checkCommit(node: RaftNode): void {
    const before = this.lastCommit.get(node.id) ?? 0;
    if (node.commitIndex < before) {
      throw new SimViolation(`node ${node.id} commit index went back from ${before} to ${node.commitIndex}`);
    }
    this.lastCommit.set(node.id, node.commitIndex);
  }

  /** Log Matching: an (index, term) pair identifies the entry and its predecessor everywhere. */
  checkNewEntries(node: RaftNode, entries: readonly Entry[]): void {
    for (const e of entries) {
      const prevTerm = e.index === 1 ? 0 : node.termAt(e.index - 1);
      if (prevTerm === undefined) continue;
      const key = `${e.index}:${e.term}`;
      const seen = this.logged.get(key);
      if (seen === undefined) this.logged.set(key, { prevTerm, data: e.data });
      else if (seen.prevTerm !== prevTerm || !sameBytes(seen.data, e.data)) {
        throw new SimViolation(`log matching broken at index ${e.index} term ${e.term} on node ${node.id}`);
      }
    }
  }

  /** State Machine Safety: every replica applies the same entry at each index, in order. */
  checkApply(id: NodeId, nodeTerm: number, e: Entry): void {
    const last = this.lastApplied.get(id) ?? 0;
    if (e.index !== last + 1) throw new SimViolation(`node ${id} applied ${e.index} after ${last}`);
    this.lastApplied.set(id, e.index);
    const first = this.applied[e.index];
    if (first === undefined) {
      this.applied[e.index] = e;
      if (nodeTerm > this.maxTerm) this.maxTerm = nodeTerm;
      this.bound[e.index] = this.maxTerm;
      if (e.index > this.maxApplied) this.maxApplied = e.index;
    } else if (first.term !== e.term || !sameBytes(first.data, e.data)) {
      throw new SimViolation(`node ${id} applied a different entry at ${e.index} (term ${e.term} vs ${first.term})`);
    }
  }

  /** A snapshot jump, or a restart that re-applies from its snapshot. */
  resetApplied(id: NodeId, index: number, term: number): void {
    const known = this.applied[index];
    if (index > 0 && known !== undefined && known.term !== term) {
      throw new SimViolation(`node ${id} snapshot at ${index} has term ${term}, applied entry has ${known.term}`);
    }
    this.lastApplied.set(id, index);
  }

  restarted(id: NodeId, commit: number): void {
    this.lastCommit.set(id, commit);
  }

  appliedCount(): number {
    return this.maxApplied;
  }
}
