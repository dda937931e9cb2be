import type { LoopResult } from './loops.js';
import type { Target } from './targets.js';
import type { GrpcClientKind } from './workloads.js';

/**
 * How the bench talks to its worker processes. The parent passes the spec as one JSON
 * argument; the worker prepares its data, prints `ready`, waits for SIGUSR2 (so every worker
 * starts measuring at the same moment), prints `progress` about once a second and finally
 * `result`. Lines start with a marker so stray output (a library's warning) cannot be mistaken
 * for a message.
 */
export const LINE_MARKER = '@ecom-bench ';
export const START_SIGNAL = 'SIGUSR2';

export interface WorkerSpec {
  readonly workload: string;
  readonly target: Target;
  readonly worker: number;
  readonly runTag: string;
  readonly timeout_ms: number;
  readonly warmup_ms: number;
  readonly duration_ms: number;
  /** Closed loop: requests in flight in this worker. */
  readonly concurrency?: number;
  /** Open loop: requests per second started by this worker. */
  readonly rate_per_s?: number;
  /** The gRPC client of portal and etcd workloads' measured calls. */
  readonly grpcClient: GrpcClientKind;
}

export type WorkerMessage =
  | { readonly type: 'ready' }
  | { readonly type: 'progress'; readonly ops: number; readonly errors: number }
  /** `cpu_ms`: this worker's own CPU from the end of its warm-up to its result. */
  | { readonly type: 'result'; readonly result: LoopResult; readonly cpu_ms: number }
  | { readonly type: 'failed'; readonly error: string };

export function encode(message: WorkerMessage): string {
  return `${LINE_MARKER}${JSON.stringify(message)}\n`;
}

export function decode(line: string): WorkerMessage | undefined {
  if (!line.startsWith(LINE_MARKER)) return undefined;
  return JSON.parse(line.slice(LINE_MARKER.length)) as WorkerMessage;
}
