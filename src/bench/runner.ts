import { spawnEcom, type EcomChild } from '../util/processes.js';
import { Histogram, type HistogramJson, type LatencySummary } from './histogram.js';
import type { LoopResult } from './loops.js';
import type { Target } from './targets.js';
import { DEFAULT_GRPC_CLIENT, type GrpcClientKind } from './workloads.js';
import { decode, START_SIGNAL, type WorkerSpec } from './worker-protocol.js';
import { CpuMeter, type NamedCpu } from './cpu.js';
import type { MachinePause } from './machine-pauses.js';
import type { StallSplit } from './stability.js';

/**
 * Runs one workload from several worker processes (`ecom bench-worker`) and adds up what they
 * measured. Closed loop: the total concurrency is split over the workers; open loop: the
 * total rate is.
 */
/** What a worker reports: its loop's result and its own CPU over the measured window. */
interface WorkerResult {
  readonly loop: LoopResult;
  readonly cpu_ms: number;
}

/** One kind of process's CPU in a run: how many there were, and each one's CPU per operation. */
export interface ProcessCpu {
  readonly process: string;
  readonly processes: number;
  readonly perOpEach_us: number;
}

export interface RunOptions {
  readonly workload: string;
  readonly target: Target;
  readonly workers: number;
  readonly runTag: string;
  readonly warmup_ms: number;
  readonly duration_ms: number;
  readonly timeout_ms: number;
  /** Closed loop: total requests in flight. */
  readonly concurrency?: number;
  /** Open loop: total requests started per second. */
  readonly rate_per_s?: number;
  /** The gRPC client of portal and etcd workloads' measured calls; unset, DEFAULT_GRPC_CLIENT. */
  readonly grpcClient?: GrpcClientKind;
  /** The processes of the system under test, whose CPU per operation the run reports. */
  readonly systemPids?: () => readonly number[];
  /** Progress while measuring: completed requests and errors so far, all workers together. */
  readonly onProgress?: (ops: number, errors: number) => void;
  /** Lines the workers print that are not messages (warnings), for the console. */
  readonly onWorkerLine?: (line: string) => void;
  /** The warm-up is over and the measured window starts (e.g. to start a trace's window with it). */
  readonly onMeasuring?: () => void;
}

export interface RunResult {
  readonly workload: string;
  readonly target: Target['kind'];
  readonly loop: 'closed' | 'open';
  readonly concurrency?: number;
  readonly rate_per_s?: number;
  readonly workers: number;
  /** Portal and etcd runs: the gRPC client the workers measured through. */
  readonly grpcClient?: GrpcClientKind;
  readonly duration_ms: number;
  readonly ops: number;
  readonly errors: number;
  readonly dropped: number;
  readonly ops_per_s: number;
  readonly latency: LatencySummary;
  readonly histogram: HistogramJson;
  readonly errorSamples: string[];
  /** Raft tiers only: elections during the run (term increases over all partitions). */
  readonly leaderChanges?: number;
  /** CPU the system's processes (not the load generators) spent in the measured window, per operation, in µs. */
  readonly cpuPerOp_us?: number;
  /** Context switches of every thread of those processes per operation (src/bench/cpu.ts). */
  readonly switchesPerOp?: number;
  /** Read and write system calls of those processes per operation (src/bench/cpu.ts). */
  readonly syscallsPerOp?: number;
  /**
   * CPU per operation of each kind of process (src/bench/cpu.ts, processName), each process's
   * mean, busiest first: the system's processes, then the load generators ("bench-worker"),
   * whose CPU the system figure leaves out but which share the machine's cores.
   */
  readonly cpuPerOpByProcess?: readonly ProcessCpu[];
  /** Raft tiers only: the longest event-loop stall a replica had during the run. */
  readonly maxStall_ms?: number;
  /** Raft tiers only: the seconds of the run in which a replica's event loop was held up 50 ms or more (src/bench/stability.ts). */
  readonly stalledSeconds?: number;
  /** Raft tiers only: the longest stall outside the seconds a pause of the whole machine touched. */
  readonly maxStallOutsidePauses_ms?: number;
  /** Raft tiers on Linux: whose the longest stall was, and how long its event loop ran and waited for a core in it. */
  readonly maxStallSplit?: StallSplit;
  /** When the whole machine stopped running during the measured window (src/bench/machine-pauses.ts); absent where /proc/stat cannot be read. */
  readonly machinePauses?: readonly MachinePause[];
  /** Raft tiers only: the longest a follower went without a message from its leader during the run. */
  readonly maxLeaderSilence_ms?: number;
  /** Raft tiers only: the longest leader silence outside the seconds a pause of the whole machine touched. */
  readonly maxLeaderSilenceOutsidePauses_ms?: number;
  /** Raft tiers only: the longest fsync of a replica's Raft log during the run (absent where the replicas are of an older build). */
  readonly maxFsync_ms?: number;
  /** Raft tiers only: why leaders stopped leading during the run. */
  readonly stepDowns?: string[];
}

/** Workers currently running, so Ctrl-C can stop them from anywhere. */
const live = new Set<EcomChild>();

export async function stopAllWorkers(): Promise<void> {
  await Promise.all([...live].map((w) => w.stop(2_000)));
}

function split(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));
}

/** What worker number `worker` is told to do: its share of the load, the rest as the run's. */
function workerSpec(options: RunOptions, worker: number, share: { concurrency: number } | { rate_per_s: number }): WorkerSpec {
  return {
    workload: options.workload,
    target: options.target,
    worker,
    runTag: options.runTag,
    timeout_ms: options.timeout_ms,
    warmup_ms: options.warmup_ms,
    duration_ms: options.duration_ms,
    ...share,
    grpcClient: options.grpcClient ?? DEFAULT_GRPC_CLIENT,
  };
}

export async function runWorkload(options: RunOptions): Promise<RunResult> {
  const closed = options.rate_per_s === undefined;
  const total = options.rate_per_s ?? options.concurrency ?? 1;
  // No worker without load: one request in flight cannot be split over two processes.
  const workers = Math.max(1, closed ? Math.min(options.workers, total) : options.workers);
  const shares = closed ? split(total, workers) : Array.from({ length: workers }, () => total / workers);
  const progress = shares.map(() => ({ ops: 0, errors: 0 }));
  const children: Array<{ child: EcomChild; ready: Promise<void>; result: Promise<WorkerResult> }> = shares.map((share, worker) => {
    const spec = workerSpec(options, worker, closed ? { concurrency: share } : { rate_per_s: share });
    let onReady!: () => void;
    let onResult!: (r: WorkerResult) => void;
    let onFailed!: (e: Error) => void;
    const ready = new Promise<void>((resolve) => (onReady = resolve));
    const result = new Promise<WorkerResult>((resolve, reject) => {
      onResult = resolve;
      onFailed = reject;
    });
    const child = spawnEcom(['bench-worker', JSON.stringify(spec)], {
      name: `bench-worker-${worker}`,
      onLine: (_name, line) => {
        let message;
        try {
          message = decode(line);
        } catch {
          message = undefined;
        }
        if (message === undefined) return options.onWorkerLine?.(`[bench-worker-${worker}] ${line}`);
        if (message.type === 'ready') onReady();
        else if (message.type === 'result') onResult({ loop: message.result, cpu_ms: message.cpu_ms });
        else if (message.type === 'failed') onFailed(new Error(`bench worker ${worker} (${options.workload}): ${message.error}`));
        else {
          progress[worker] = { ops: message.ops, errors: message.errors };
          if (worker === 0) options.onProgress?.(sum(progress.map((p) => p.ops)), sum(progress.map((p) => p.errors)));
        }
      },
    });
    live.add(child);
    void child.exited.then((code) => {
      live.delete(child);
      onFailed(new Error(`bench worker ${worker} (${options.workload}) exited (${code}) before reporting a result`));
    });
    return { child, ready: Promise.race([ready, result.then(() => undefined)]), result };
  });
  try {
    await Promise.all(children.map((c) => c.ready));
    for (const c of children) c.child.process.kill(START_SIGNAL);
    // The workers measure after their warm-up: so does the meter.
    const meter = new CpuMeter(options.systemPids ?? (() => []));
    const meterStart = setTimeout(() => {
      meter.start();
      options.onMeasuring?.();
    }, options.warmup_ms);
    const results = await Promise.all(children.map((c) => c.result));
    clearTimeout(meterStart);
    const cost = meter.stop();
    const result = aggregate(options, workers, closed, results.map((r) => r.loop));
    if (result.ops === 0) return result;
    const load: NamedCpu = { process: 'bench-worker', count: results.length, cpu_ms: sum(results.map((r) => r.cpu_ms)) };
    const perOp = (named: NamedCpu): ProcessCpu => ({ process: named.process, processes: named.count, perOpEach_us: Math.round((named.cpu_ms * 1000) / named.count / result.ops) });
    const withProcesses = { ...result, cpuPerOpByProcess: [...(cost?.byProcess ?? []), load].map(perOp) };
    if (cost === undefined) return withProcesses;
    const calls = Number.isFinite(cost.systemCalls) ? { syscallsPerOp: Math.round((cost.systemCalls * 10) / result.ops) / 10 } : {};
    return { ...withProcesses, cpuPerOp_us: Math.round((cost.cpu_ms * 1000) / result.ops), switchesPerOp: Math.round((cost.contextSwitches * 10) / result.ops) / 10, ...calls };
  } finally {
    await Promise.all(children.map((c) => c.child.stop(5_000)));
  }
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

function aggregate(options: RunOptions, workers: number, closed: boolean, results: LoopResult[]): RunResult {
  const histogram = new Histogram();
  for (const r of results) histogram.merge(r.histogram);
  const ops = sum(results.map((r) => r.ops));
  // Workers started together; the shortest window is the one all of them were measuring in.
  const duration_ms = Math.min(...results.map((r) => r.elapsed_ms));
  return {
    workload: options.workload,
    target: options.target.kind,
    loop: closed ? 'closed' : 'open',
    ...(closed ? { concurrency: options.concurrency ?? 1 } : { rate_per_s: options.rate_per_s }),
    workers,
    ...(options.target.kind === 'portal' || options.target.kind === 'etcd' ? { grpcClient: options.grpcClient ?? DEFAULT_GRPC_CLIENT } : {}),
    duration_ms,
    ops,
    errors: sum(results.map((r) => r.errors)),
    dropped: sum(results.map((r) => r.dropped)),
    ops_per_s: duration_ms > 0 ? ops / (duration_ms / 1000) : 0,
    latency: histogram.summary(),
    histogram: histogram.toJSON(),
    errorSamples: results.flatMap((r) => r.errorSamples).slice(0, 5),
  };
}
