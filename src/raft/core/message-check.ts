// What no correct peer sends. A replica's Raft port is reachable by anything on its network, so
// the core checks a message's own consistency before it may change any state: a message that
// fails is refused whole (RaftError MessageInvalid), and nothing it carries reaches an
// invariant. What a message claims about the sender's state (its term, its log) cannot be
// checked here; authenticating peers is what keeps forged messages out.
import type { Message, NodeId } from '../types.js';

/** Far beyond any term or index a real log reaches, and far below where arithmetic loses precision. */
export const MAX_SANE_NUMBER = 2 ** 48;

const sane = (n: number) => Number.isSafeInteger(n) && n >= 0 && n <= MAX_SANE_NUMBER;

/** Why `m`, received by node `self`, cannot come from a correct peer; undefined when it may. */
export function messageProblem(m: Message, self: NodeId): string | undefined {
  if (!Number.isSafeInteger(m.from) || m.from <= 0 || m.from === self) return `sender ${m.from} is not another node`;
  for (const [field, value] of [
    ['term', m.term],
    ['logTerm', m.logTerm],
    ['index', m.index],
    ['commit', m.commit],
    ['rejectHint', m.rejectHint],
    ['context', m.context],
  ] as const) {
    if (!sane(value)) return `${field} ${value} is out of range`;
  }
  for (const [i, e] of m.entries.entries()) {
    if (!sane(e.term) || !sane(e.index)) return `entry ${i} has an out-of-range term or index`;
    // A leader sends a run of its log: consecutive indexes after m.index, terms never above its own.
    if (e.index !== m.index + 1 + i) return `entry ${i} has index ${e.index}, not ${m.index + 1 + i}`;
    if (e.term > m.term) return `entry ${i} has term ${e.term} above the message's ${m.term}`;
    if (e.term < (i === 0 ? m.logTerm : m.entries[i - 1]!.term)) return `entry ${i}'s term goes backwards`;
  }
  const meta = m.snapshot?.meta;
  if (meta !== undefined && (!sane(meta.index) || !sane(meta.term) || meta.term > m.term)) return 'snapshot metadata out of range';
  return undefined;
}
