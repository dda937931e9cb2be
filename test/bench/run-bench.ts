import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect } from 'vitest';
import type { BenchResults, LabelledRun } from '../../src/bench/results.js';
import { childPortDepth } from '../../src/util/ports.js';
import { ECOM_BIN } from '../../src/util/processes.js';

const folders: string[] = [];
afterAll(() => {
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});

/** Runs `ecom bench ...args --json FILE` to the end and returns its output and results. */
export async function runBench(args: string[]): Promise<{ code: number | null; output: string; results: BenchResults; folder: string }> {
  const folder = mkdtempSync(join(tmpdir(), 'ecom-bench-test-'));
  folders.push(folder);
  const json = join(folder, 'results.json');
  const child = spawn(process.execPath, [ECOM_BIN, 'bench', ...args, '--json', json], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...childPortDepth() } });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  expect(code, output).toBe(0);
  return { code, output, results: JSON.parse(readFileSync(json, 'utf8')) as BenchResults, folder };
}

/** Figures that any working run has, whatever the machine: requests done, no errors, ordered percentiles. */
export function expectSaneRun(run: LabelledRun): void {
  expect(run.ops, `${run.label}: ${run.errorSamples.join('; ')}`).toBeGreaterThan(0);
  expect(run.errors, `${run.label}: ${run.errorSamples.join('; ')}`).toBe(0);
  expect(run.ops_per_s).toBeGreaterThan(0);
  expect(run.latency.count).toBe(run.ops);
  const l = run.latency;
  expect(l.p50_ms).toBeGreaterThan(0);
  expect(l.p50_ms).toBeLessThanOrEqual(l.p90_ms);
  expect(l.p90_ms).toBeLessThanOrEqual(l.p99_ms);
  expect(l.p99_ms).toBeLessThanOrEqual(l.p999_ms);
  expect(l.p999_ms).toBeLessThanOrEqual(l.max_ms);
}

/** No bench temporary folder of the run is left behind (the one named in its output). */
export function expectCleanedUp(output: string): void {
  const folder = /in (\/\S*ecom-bench-\w+)\)/.exec(output)?.[1];
  expect(folder, output).toBeDefined();
  const parent = join(folder!, '..');
  expect(readdirSync(parent)).not.toContain(folder!.slice(parent.length + 1));
}
