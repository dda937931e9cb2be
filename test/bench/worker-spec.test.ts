import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseWorkerSpec } from '../../src/bench/worker.js';
import { decode, type WorkerSpec } from '../../src/bench/worker-protocol.js';
import { testSeed } from '../helpers/seed.js';

/**
 * `ecom bench-worker SPEC` is hidden, but anyone can run it: its JSON argument is checked field
 * by field, and whatever it is given ends in a spec a worker can use or an error naming the field.
 */
const specs: WorkerSpec[] = [
  { workload: 'put', target: { kind: 'storage', topologyFile: '/tmp/topology.json' }, worker: 0, runTag: 'r1', timeout_ms: 10_000, warmup_ms: 2_000, duration_ms: 8_000, concurrency: 32, grpcClient: 'lean' },
  { workload: 'visibility', target: { kind: 'portal', host: '127.0.0.1', port: 5001, ports: [5001, 5002, 5003] }, worker: 1, runTag: 'r2', timeout_ms: 10_000, warmup_ms: 0, duration_ms: 1, rate_per_s: 250, grpcClient: 'grpc-js' },
  { workload: 'etcd-put', target: { kind: 'etcd', endpoints: ['127.0.0.1:2379'] }, worker: 0, runTag: '', timeout_ms: 1, warmup_ms: 0, duration_ms: 5_000, grpcClient: 'lean' },
  { workload: 'visibility-floor', target: { kind: 'floor', ports: [6001, 6002, 6003] }, worker: 0, runTag: 'r3', timeout_ms: 10_000, warmup_ms: 2_000, duration_ms: 8_000, rate_per_s: 1_000, grpcClient: 'lean' },
];

describe('the bench worker spec', () => {
  it('reads back every kind of spec the bench writes', () => {
    for (const spec of specs) expect(parseWorkerSpec(JSON.stringify(spec))).toEqual(spec);
  });

  it('refuses what is not a usable spec, naming the field (seeded)', () => {
    const seed = testSeed('bench worker spec refuses');
    const mutated = fc.tuple(fc.constantFrom(...specs), fc.constantFrom('workload', 'target', 'worker', 'runTag', 'timeout_ms', 'warmup_ms', 'duration_ms', 'concurrency', 'rate_per_s', 'grpcClient'), fc.option(fc.jsonValue(), { nil: undefined }));
    fc.assert(
      fc.property(fc.oneof(mutated, fc.jsonValue().map((v) => [v] as const), fc.string().map((s) => [s, 'raw'] as const)), (input) => {
        let text: string;
        if (input.length === 3) {
          const [spec, field, value] = input;
          text = JSON.stringify({ ...spec, [field]: value });
        } else if (input.length === 2) text = input[0];
        else text = JSON.stringify(input[0]);
        let parsed: WorkerSpec | undefined;
        try {
          parsed = parseWorkerSpec(text);
        } catch (err) {
          expect(err).toBeInstanceOf(Error);
          expect((err as Error).message).toMatch(/^ecom bench-worker: /);
          return;
        }
        // Accepted: then every field a worker reads is there and in range.
        expect(typeof parsed.workload).toBe('string');
        expect(['storage', 'portal', 'etcd', 'floor']).toContain(parsed.target.kind);
        expect(parsed.duration_ms).toBeGreaterThan(0);
        expect(['lean', 'grpc-js']).toContain(parsed.grpcClient);
        if (parsed.concurrency !== undefined) expect(Number.isInteger(parsed.concurrency) && parsed.concurrency >= 1).toBe(true);
      }),
      { seed, numRuns: 2_000 },
    );
  });

  it('names the field and what it wants', () => {
    expect(() => parseWorkerSpec('{')).toThrow(/the spec is not JSON/);
    expect(() => parseWorkerSpec(JSON.stringify({ ...specs[1], target: { kind: 'portal', host: 'h', port: 70_000 } }))).toThrow(/target\.port must be a port from 1 to 65535, got 70000/);
    expect(() => parseWorkerSpec(JSON.stringify({ ...specs[0], grpcClient: 'curl' }))).toThrow(/grpcClient must be one of lean, grpc-js, got "curl"/);
    expect(() => parseWorkerSpec(JSON.stringify({ ...specs[0], concurrency: 0 }))).toThrow(/concurrency must be a whole number from 1/);
  });

  it('is reported by the command as a failed worker, not a crash', () => {
    const run = spawnSync(process.execPath, ['bin/ecom.js', 'bench-worker', '{"workload": "put"}'], { encoding: 'utf8', timeout: 30_000 });
    expect(run.status).toBe(1);
    const messages = run.stdout.split('\n').map(decode).filter((m) => m !== undefined);
    expect(messages).toEqual([{ type: 'failed', error: expect.stringMatching(/the spec's runTag must be a string, got undefined/) as unknown }]);
    expect(run.stderr).not.toMatch(/at .*\.js:\d+/);
  });
});
