import { performance } from 'node:perf_hooks';
import { message, render } from '../domain/messages.js';

/**
 * The recorded history of a chaos run: every operation a workload client issued, with when it
 * was called and when it returned (ms since the run started), and every fault injected.
 */
export type Outcome = 'ok' | 'fail' | 'unknown';

export interface OpRecord {
  readonly id: number;
  readonly workload: 'register' | 'shop' | 'cache';
  /** The client (one sequential thread of calls) that issued it. */
  readonly client: number;
  readonly op: string;
  /** The records it touches, e.g. `client/1001`, `order/7`, for the report's filtering. */
  readonly keys: readonly string[];
  readonly input: unknown;
  readonly call_ms: number;
  /** undefined while in flight. */
  ret_ms: number | undefined;
  outcome: Outcome | undefined;
  /** What came back: the reply, the value read, or the error text. */
  result: unknown;
}

/** Bound on recorded operations: a run that would exceed it stops issuing new ones. */
// A 600 s soak records about 350,000 on this machine; the checkers take seconds for that.
export const MAX_OPERATIONS = 1_000_000;

export class Recorder {
  readonly ops: OpRecord[] = [];
  private readonly t0 = performance.now();

  now(): number {
    return performance.now() - this.t0;
  }

  get full(): boolean {
    return this.ops.length >= MAX_OPERATIONS;
  }

  begin(workload: OpRecord['workload'], client: number, op: string, keys: readonly string[], input: unknown): OpRecord {
    const record: OpRecord = { id: this.ops.length, workload, client, op, keys, input, call_ms: this.now(), ret_ms: undefined, outcome: undefined, result: undefined };
    this.ops.push(record);
    return record;
  }

  end(record: OpRecord, outcome: Outcome, result: unknown): void {
    record.ret_ms = this.now();
    record.outcome = outcome;
    record.result = result;
  }
}

export interface Violation {
  readonly checker: string;
  readonly message: string;
  /** Records involved, to focus the report. */
  readonly keys: readonly string[];
}

/** The portals' text for a 503 that changed nothing, in either language. */
const NOT_APPLIED_TEXTS = new Set((['pt', 'en'] as const).map((lang) => render(message('storeUnavailableNotApplied'), lang)));

/**
 * The outcome of a write from a portal's gRPC reply. A 503 that says nothing was changed is
 * taken at its word (a refusal): if that claim were ever false, the write would show up in the
 * final state or in a read, and a checker would report it. Any other 503, and a 500, may or may
 * not have been applied.
 */
export function outcomeOfReply(reply: { error: number; description?: string }): Outcome {
  if (reply.error === 0) return 'ok';
  if (reply.error === 503) return NOT_APPLIED_TEXTS.has(reply.description ?? '') ? 'fail' : 'unknown';
  return reply.error === 500 ? 'unknown' : 'fail';
}
