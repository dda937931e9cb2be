import { closedLoop, openLoop } from './loops.js';
import { encode, START_SIGNAL, type WorkerMessage, type WorkerSpec } from './worker-protocol.js';
import { findWorkload, GRPC_CLIENT_KINDS } from './workloads.js';

/**
 * The body of the hidden `ecom bench-worker SPEC` command: one load-generating process.
 * Several run side by side so the load generator is not what saturates first.
 */
export async function runWorker(spec: WorkerSpec): Promise<void> {
  const send = (m: WorkerMessage) => process.stdout.write(encode(m));
  let abort!: () => void;
  const aborted = new Promise<void>((resolve) => (abort = resolve));
  // The parent (or Ctrl-C on the terminal's process group) stops us: report what was measured.
  process.once('SIGTERM', () => abort());
  process.once('SIGINT', () => abort());
  const started = new Promise<void>((resolve) => process.once(START_SIGNAL, () => resolve()));
  try {
    const workload = findWorkload(spec.workload);
    const { grpcClient } = spec;
    if (!GRPC_CLIENT_KINDS.includes(grpcClient)) throw new Error(`no gRPC client "${String(grpcClient)}"; choose one of: ${GRPC_CLIENT_KINDS.join(', ')}`);
    const prepared = await workload.prepare({ target: spec.target, worker: spec.worker, runTag: spec.runTag, timeout_ms: spec.timeout_ms, grpcClient });
    try {
      send({ type: 'ready' });
      // A signal listener does not keep Node alive: without a pending timer an idle worker would exit here.
      const keepAlive = setInterval(() => undefined, 60_000);
      await Promise.race([started, aborted]);
      clearInterval(keepAlive);
      const options = { warmup_ms: spec.warmup_ms, duration_ms: spec.duration_ms, abort: aborted, onProgress: (ops: number, errors: number) => send({ type: 'progress', ops, errors }) };
      const result =
        spec.rate_per_s !== undefined ? await openLoop(() => prepared.op(), spec.rate_per_s, options) : await closedLoop(() => prepared.op(), spec.concurrency ?? 1, options);
      send({ type: 'result', result });
    } finally {
      await prepared.close();
    }
  } catch (err) {
    send({ type: 'failed', error: err instanceof Error ? err.message : String(err) });
    process.exitCode = 1;
  }
}
