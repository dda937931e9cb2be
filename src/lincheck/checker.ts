// Linearizability checking: Wing & Gong's search with Lowe's memoization of (linearized set, state)
// pairs, run independently per key (linearizability is compositional, Herlihy & Wing).
import type { KvOperation } from './history.js';
import type { KeyState } from './kv-model.js';
import { stepKey } from './kv-model.js';
import { defined } from '../util/assert.js';

export interface CheckResult {
  readonly ok: boolean;
  /** Operations checked. */
  readonly operations: number;
  /** First key whose sub-history is not linearizable. */
  readonly badKey?: string;
  /** Search states visited, to spot pathological histories. */
  readonly visited: number;
}

export interface CheckLimits {
  /** Aborts (throws) when one key's search visits more states than this. */
  readonly max_states_per_key: number;
}

const DEFAULT_LIMITS: CheckLimits = { max_states_per_key: 5_000_000 };

export function checkKvHistory(history: readonly KvOperation[], limits: CheckLimits = DEFAULT_LIMITS): CheckResult {
  const byKey = new Map<string, KvOperation[]>();
  for (const op of history) {
    const list = byKey.get(op.input.key);
    if (list) list.push(op);
    else byKey.set(op.input.key, [op]);
  }
  let visited = 0;
  for (const [key, ops] of byKey) {
    const r = checkOneKey(ops, limits);
    visited += r.visited;
    if (!r.ok) return { ok: false, operations: history.length, badKey: key, visited };
  }
  return { ok: true, operations: history.length, visited };
}

interface Node {
  op: number;
  isCall: boolean;
  time: number;
  match: Node | undefined; // call → its return (undefined for unknown outcomes)
  prev: Node | undefined;
  next: Node | undefined;
}

/**
 * The history as one doubly linked list of call and return events ordered by time, behind a
 * head node; `remaining` counts the operations that must be linearized (those that returned).
 */
function eventList(ops: readonly KvOperation[]): { head: Node; remaining: number } {
  for (const op of ops) {
    if (!(op.call < op.ret)) throw new Error(`operation returns (${op.ret}) before it is called (${op.call})`);
  }
  // Event list ordered by time; at equal times calls come first, which only adds concurrency.
  const events: Node[] = [];
  let remaining = 0;
  ops.forEach((op, i) => {
    const call: Node = { op: i, isCall: true, time: op.call, match: undefined, prev: undefined, next: undefined };
    events.push(call);
    // An op with unknown outcome has no return event: it may be linearized anywhere after its
    // call, or never.
    if (Number.isFinite(op.ret)) {
      const ret: Node = { op: i, isCall: false, time: op.ret, match: undefined, prev: undefined, next: undefined };
      call.match = ret;
      events.push(ret);
      remaining++;
    }
  });
  events.sort((a, b) => a.time - b.time || (a.isCall === b.isCall ? a.op - b.op : a.isCall ? -1 : 1));
  const head: Node = { op: -1, isCall: false, time: -Infinity, match: undefined, prev: undefined, next: undefined };
  let prev = head;
  for (const e of events) {
    prev.next = e;
    e.prev = prev;
    prev = e;
  }
  return { head, remaining };
}

/** Takes a call (and its return) out of the event list: it is linearized. */
function lift(call: Node): void {
  defined(call.prev, 'head sentinel before a call').next = call.next;
  if (call.next) call.next.prev = call.prev;
  const ret = call.match;
  if (ret) {
    defined(ret.prev, 'head sentinel before a return').next = ret.next;
    if (ret.next) ret.next.prev = ret.prev;
  }
}

/** Puts a lifted call back where it was, undoing `lift`. */
function unlift(call: Node): void {
  const ret = call.match;
  if (ret) {
    defined(ret.prev, 'head sentinel before a return').next = ret;
    if (ret.next) ret.next.prev = ret;
  }
  defined(call.prev, 'head sentinel before a call').next = call;
  if (call.next) call.next.prev = call;
}

/**
 * The ops that may be linearized next: every pending call before the first return event.
 * Trying the one that returns earliest first finds the order of a correct history without
 * backtracking in the common case (Wing–Gong try them in call order, which explodes when
 * many writes stay pending across a partition).
 */
function candidates(ops: readonly KvOperation[], head: Node, current: KeyState): Node[] {
  const out: Node[] = [];
  for (let e = head.next; e !== undefined && e.isCall; e = e.next) {
    // Partial-order reduction: an op that leaves the state unchanged (a get, a failed
    // createIfAbsent) and is consistent with it can go first without loss of generality — every
    // op that must precede it is already linearized, and it changes nothing for the rest — so
    // it is the only choice worth trying here.
    const op = ops[e.op]!;
    if (op.output !== undefined && (op.input.kind === 'get' || op.input.kind === 'createIfAbsent')) {
      const stepped = stepKey(current, op.input, op.output);
      if (stepped !== undefined && stepped.next === current) return [e];
    }
    out.push(e);
  }
  out.sort((a, b) => ops[a.op]!.ret - ops[b.op]!.ret || a.time - b.time);
  return out;
}

interface Frame {
  readonly cands: Node[];
  tried: number;
  readonly state: KeyState;
}

/** Depth-first search over linearization orders, remembering (linearized set, state) pairs already explored. */
function checkOneKey(ops: readonly KvOperation[], limits: CheckLimits): { ok: boolean; visited: number } {
  const list = eventList(ops);
  const head = list.head;
  let remaining = list.remaining;
  const linearized = new Uint32Array(Math.ceil(ops.length / 32));
  const seen = new Set<string>();
  let visited = 0;
  let state: KeyState = null;
  const frames: Frame[] = [{ cands: candidates(ops, head, state), tried: 0, state }];
  while (remaining > 0) {
    const f = frames[frames.length - 1]!;
    if (f.tried >= f.cands.length) {
      // Nothing more to try here: undo the choice that led to this frame.
      frames.pop();
      const parent = frames[frames.length - 1];
      if (!parent) return { ok: false, visited };
      const undone = parent.cands[parent.tried - 1]!;
      linearized[undone.op >>> 5]! &= ~(1 << (undone.op & 31));
      unlift(undone);
      if (undone.match) remaining++;
      state = parent.state;
      continue;
    }
    const call = f.cands[f.tried++]!;
    const op = ops[call.op]!;
    const stepped = stepKey(state, op.input, op.output);
    if (stepped === undefined) continue;
    const w = call.op >>> 5;
    const bit = 1 << (call.op & 31);
    linearized[w]! |= bit;
    const key = `${linearized.join(',')}|${stepped.next === null ? '-' : `+${stepped.next}`}`;
    if (seen.has(key)) {
      linearized[w]! &= ~bit;
      continue;
    }
    seen.add(key);
    if (++visited > limits.max_states_per_key) {
      throw new Error(`linearizability search exceeded ${limits.max_states_per_key} states`);
    }
    lift(call);
    if (call.match) remaining--;
    state = stepped.next;
    frames.push({ cands: candidates(ops, head, state), tried: 0, state });
  }
  return { ok: true, visited };
}
