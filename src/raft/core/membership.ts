// Single-server membership changes and their encoding inside a 'conf' log entry.
import type { Membership, NodeId } from '../types.js';
import { RaftError } from '../errors.js';

/**
 * addLearner: a new node starts receiving the log without voting.
 * promote: a learner that has caught up becomes a voter.
 * remove: a voter or learner leaves.
 * One change at a time keeps every old and new majority overlapping (thesis §4.1).
 */
export type ConfChangeType = 'addLearner' | 'promote' | 'remove';

export interface ConfChange {
  readonly type: ConfChangeType;
  readonly node: NodeId;
}

/**
 * A conf entry carries the change and the whole resulting membership, so a node replaying the log
 * from any point (a new learner starting from index 1, a restart) knows the exact membership
 * without having to be told the bootstrap configuration.
 */
export interface ConfEntry {
  readonly change: ConfChange;
  readonly result: Membership;
}

const TYPE_CODES: Record<ConfChangeType, number> = { addLearner: 1, promote: 2, remove: 3 };
const CODE_TYPES: readonly (ConfChangeType | undefined)[] = [undefined, 'addLearner', 'promote', 'remove'];
const MAX_MEMBERS = 1024;

export function encodeConfEntry(ce: ConfEntry): Uint8Array {
  const { voters, learners } = ce.result;
  if (voters.length + learners.length > MAX_MEMBERS) {
    throw new RaftError('ConfChangeInvalid', `membership larger than ${MAX_MEMBERS} nodes`);
  }
  const out = new Uint8Array(1 + 4 + 2 + 4 * voters.length + 2 + 4 * learners.length);
  const view = new DataView(out.buffer);
  out[0] = TYPE_CODES[ce.change.type];
  view.setUint32(1, ce.change.node);
  let at = 5;
  for (const list of [voters, learners]) {
    view.setUint16(at, list.length);
    at += 2;
    for (const id of list) {
      view.setUint32(at, id);
      at += 4;
    }
  }
  return out;
}

export function decodeConfEntry(data: Uint8Array): ConfEntry {
  const fail = (why: string): never => {
    throw new RaftError('ConfChangeInvalid', `undecodable conf entry (${why}, ${data.length} bytes)`);
  };
  const type = CODE_TYPES[data[0] ?? 0];
  if (type === undefined || data.length < 9) return fail('bad header');
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const node = view.getUint32(1);
  let at = 5;
  const lists: NodeId[][] = [];
  for (let l = 0; l < 2; l++) {
    if (at + 2 > data.length) return fail('truncated');
    const n = view.getUint16(at);
    at += 2;
    if (at + 4 * n > data.length) return fail('truncated list');
    const list: NodeId[] = [];
    for (let i = 0; i < n; i++, at += 4) list.push(view.getUint32(at));
    lists.push(list);
  }
  if (at !== data.length) fail('trailing bytes');
  return { change: { type, node }, result: { voters: lists[0]!, learners: lists[1]! } };
}

/** Checks a change against the membership it would apply to; returns the reason it is invalid, if any. */
export function confChangeProblem(m: Membership, cc: ConfChange): string | undefined {
  const isVoter = m.voters.includes(cc.node);
  const isLearner = m.learners.includes(cc.node);
  if (cc.node <= 0) return `node id ${cc.node} is not a valid id`;
  switch (cc.type) {
    case 'addLearner':
      return isVoter || isLearner ? `node ${cc.node} is already a member` : undefined;
    case 'promote':
      return isLearner ? undefined : `node ${cc.node} is not a learner`;
    case 'remove':
      if (!isVoter && !isLearner) return `node ${cc.node} is not a member`;
      if (isVoter && m.voters.length === 1) return 'cannot remove the last voter';
      return undefined;
  }
}

export function applyConfChange(m: Membership, cc: ConfChange): Membership {
  const voters = m.voters.filter((n) => n !== cc.node);
  const learners = m.learners.filter((n) => n !== cc.node);
  if (cc.type === 'addLearner') learners.push(cc.node);
  if (cc.type === 'promote') voters.push(cc.node);
  voters.sort((a, b) => a - b);
  learners.sort((a, b) => a - b);
  return { voters, learners };
}
