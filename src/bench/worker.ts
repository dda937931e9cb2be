import { closedLoop, openLoop } from './loops.js';
import { isPort } from '../util/ports.js';
import type { Target } from './targets.js';
import { encode, START_SIGNAL, type WorkerMessage, type WorkerSpec } from './worker-protocol.js';
import { findWorkload, GRPC_CLIENT_KINDS, type GrpcClientKind } from './workloads.js';

/**
 * The body of the hidden `ecom bench-worker SPEC` command: one load-generating process.
 * Several run side by side so the load generator is not what saturates first.
 */
export async function runWorker(specText: string): Promise<void> {
  const send = (m: WorkerMessage) => process.stdout.write(encode(m));
  let abort!: () => void;
  const aborted = new Promise<void>((resolve) => (abort = resolve));
  // The parent (or Ctrl-C on the terminal's process group) stops us: report what was measured.
  process.once('SIGTERM', () => abort());
  process.once('SIGINT', () => abort());
  const started = new Promise<void>((resolve) => process.once(START_SIGNAL, () => resolve()));
  try {
    const spec = parseWorkerSpec(specText);
    const workload = findWorkload(spec.workload);
    const prepared = await workload.prepare({ target: spec.target, worker: spec.worker, runTag: spec.runTag, timeout_ms: spec.timeout_ms, grpcClient: spec.grpcClient });
    try {
      send({ type: 'ready' });
      // A signal listener does not keep Node alive: without a pending timer an idle worker would exit here.
      const keepAlive = setInterval(() => undefined, 60_000);
      await Promise.race([started, aborted]);
      clearInterval(keepAlive);
      const options = { warmup_ms: spec.warmup_ms, duration_ms: spec.duration_ms, abort: aborted, onProgress: (ops: number, errors: number) => send({ type: 'progress', ops, errors }) };
      // Its own CPU, measured here: a worker may have exited before the parent could read /proc.
      let measuredFrom = process.cpuUsage();
      const warmedUp = setTimeout(() => (measuredFrom = process.cpuUsage()), spec.warmup_ms);
      const result =
        spec.rate_per_s !== undefined ? await openLoop(() => prepared.op(), spec.rate_per_s, options) : await closedLoop(() => prepared.op(), spec.concurrency ?? 1, options);
      clearTimeout(warmedUp);
      const cpu = process.cpuUsage(measuredFrom);
      send({ type: 'result', result, cpu_ms: (cpu.user + cpu.system) / 1000 });
    } finally {
      await prepared.close();
    }
  } catch (err) {
    send({ type: 'failed', error: err instanceof Error ? err.message : String(err) });
    process.exitCode = 1;
  }
}

/** A spec field was missing or not what a worker can use: says which, and what came. */
class SpecError extends Error {
  constructor(field: string, wanted: string, got: unknown) {
    super(`ecom bench-worker: the spec's ${field} must be ${wanted}, got ${JSON.stringify(got) ?? String(got)} (the spec is JSON that ecom bench writes; run ecom bench instead)`);
  }
}

/**
 * The hidden command's argument, checked field by field: ecom bench writes it, but the command
 * is reachable by anyone, and a spec that half fits would fail far from the cause.
 */
export function parseWorkerSpec(text: string): WorkerSpec {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new Error(`ecom bench-worker: the spec is not JSON (${(err as Error).message}); it is written by ecom bench, run that instead`);
  }
  const spec = objectAt('spec', value);
  const number = (field: string, check: (n: number) => boolean, wanted: string): number => {
    const n = spec[field];
    if (typeof n !== 'number' || !check(n)) throw new SpecError(field, wanted, n);
    return n;
  };
  const optional = (field: string, check: (n: number) => boolean, wanted: string): number | undefined => (spec[field] === undefined ? undefined : number(field, check, wanted));
  const { workload, runTag, grpcClient } = spec;
  if (typeof workload !== 'string') throw new SpecError('workload', 'a workload name', workload);
  if (typeof runTag !== 'string') throw new SpecError('runTag', 'a string', runTag);
  if (!GRPC_CLIENT_KINDS.includes(grpcClient as GrpcClientKind)) throw new SpecError('grpcClient', `one of ${GRPC_CLIENT_KINDS.join(', ')}`, grpcClient);
  const concurrency = optional('concurrency', (n) => Number.isInteger(n) && n >= 1 && n <= 100_000, 'a whole number from 1 to 100000');
  const rate_per_s = optional('rate_per_s', (n) => Number.isFinite(n) && n > 0, 'a number of requests per second above 0');
  return {
    workload,
    target: targetOf(spec['target']),
    worker: number('worker', (n) => Number.isInteger(n) && n >= 0, 'a whole number from 0'),
    runTag,
    timeout_ms: number('timeout_ms', (n) => Number.isFinite(n) && n > 0, 'a number of milliseconds above 0'),
    warmup_ms: number('warmup_ms', (n) => Number.isFinite(n) && n >= 0, 'a number of milliseconds from 0'),
    duration_ms: number('duration_ms', (n) => Number.isFinite(n) && n > 0, 'a number of milliseconds above 0'),
    ...(concurrency === undefined ? {} : { concurrency }),
    ...(rate_per_s === undefined ? {} : { rate_per_s }),
    grpcClient: grpcClient as GrpcClientKind,
  };
}

function objectAt(field: string, value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new SpecError(field, 'an object', value);
  return value as Record<string, unknown>;
}

function targetOf(value: unknown): Target {
  const target = objectAt('target', value);
  switch (target['kind']) {
    case 'storage': {
      const { topologyFile } = target;
      if (typeof topologyFile !== 'string' || topologyFile === '') throw new SpecError('target.topologyFile', 'a file name', topologyFile);
      return { kind: 'storage', topologyFile };
    }
    case 'portal': {
      const { host, port, ports } = target;
      if (typeof host !== 'string' || host === '') throw new SpecError('target.host', 'a host name or address', host);
      if (!isPort(port)) throw new SpecError('target.port', 'a port from 1 to 65535', port);
      if (ports !== undefined && !(Array.isArray(ports) && ports.length > 0 && ports.every(isPort))) throw new SpecError('target.ports', 'a list of ports from 1 to 65535', ports);
      return { kind: 'portal', host, port, ...(ports === undefined ? {} : { ports: ports as number[] }) };
    }
    case 'etcd': {
      const { endpoints } = target;
      if (!Array.isArray(endpoints) || endpoints.length === 0 || !endpoints.every((e) => typeof e === 'string' && e !== '')) throw new SpecError('target.endpoints', 'a list of etcd endpoints', endpoints);
      return { kind: 'etcd', endpoints: endpoints as string[] };
    }
    case 'floor': {
      const { ports } = target;
      if (!(Array.isArray(ports) && ports.length > 0 && ports.every(isPort))) throw new SpecError('target.ports', 'a list of ports from 1 to 65535', ports);
      return { kind: 'floor', ports: ports as number[] };
    }
    default:
      throw new SpecError('target.kind', 'storage, portal, etcd or floor', target['kind']);
  }
}
