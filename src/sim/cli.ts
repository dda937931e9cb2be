// npm run sim -- --seed N        replay one seed (prints its fault trace on failure)
// npm run sim -- --seeds N       run seeds 1..N with all faults on; non-zero exit on any violation
// Options: --steps S (per seed), --from F (first seed for --seeds), --no-faults, --trace,
//          --bug skip-fsync|local-reads (plant a bug: a disk whose fsync does nothing, or reads without ReadIndex; violations expected)
import { DEFAULT_SIM_CONFIG, replayCommand, runSimulation } from './simulation.js';
import type { SimConfig } from './simulation.js';
import type { InjectedBug } from './node.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function intArg(name: string): number | undefined {
  const v = arg(name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${name} needs a non-negative integer, got ${v}`);
  return n;
}

function bugArg(): InjectedBug {
  const v = arg('--bug') ?? 'none';
  if (v !== 'none' && v !== 'skip-fsync' && v !== 'local-reads') throw new Error(`--bug must be skip-fsync or local-reads, got ${v}`);
  return v;
}

function main(): number {
  const config: SimConfig = {
    ...DEFAULT_SIM_CONFIG,
    steps: intArg('--steps') ?? DEFAULT_SIM_CONFIG.steps,
    faults: !process.argv.includes('--no-faults'),
    inject_bug: bugArg(),
  };
  const one = intArg('--seed');
  if (one !== undefined) {
    const r = runSimulation(one, config, true);
    if (process.argv.includes('--trace') || r.violation) for (const line of r.trace) console.log(line);
    console.log(
      `seed ${one}: ${r.nodes} nodes, ${r.steps} steps, ${r.operations} ops checked ` +
        `(${r.completedWrites} writes, ${r.completedReads} reads), ${r.appliedEntries} entries applied`,
    );
    if (r.violation) {
      console.log(`VIOLATION: ${r.violation}\n  replay: ${replayCommand(one, config)}`);
      return 1;
    }
    console.log(`exercised: ${Object.entries(r.counters).sort().map(([k, v]) => `${k}=${v}`).join(' ')}`);
    console.log('ok');
    return 0;
  }
  const count = intArg('--seeds') ?? 100;
  const from = intArg('--from') ?? 1;
  const started = Date.now();
  let steps = 0;
  let ops = 0;
  let applied = 0;
  const failures: { seed: number; violation: string }[] = [];
  const totals: Record<string, number> = {};
  for (let seed = from; seed < from + count; seed++) {
    const r = runSimulation(seed, config);
    steps += r.steps;
    ops += r.operations;
    applied += r.appliedEntries;
    for (const [k, v] of Object.entries(r.counters)) totals[k] = (totals[k] ?? 0) + v;
    if (r.violation) {
      failures.push({ seed, violation: r.violation });
      console.log(`seed ${seed}: VIOLATION ${r.violation}\n  replay: ${replayCommand(seed, config)}`);
    }
    const done = seed - from + 1;
    if (done % Math.max(1, Math.floor(count / 20)) === 0 || done === count) {
      const secs = (Date.now() - started) / 1000;
      console.log(`progress ${done}/${count} seeds, ${steps} steps, ${ops} ops, ${failures.length} violations, ${secs.toFixed(1)} s`);
    }
  }
  console.log(
    `summary: seeds ${count} (from ${from}), steps ${steps}, entries applied ${applied}, ` +
      `operations checked ${ops}, violations ${failures.length}`,
  );
  console.log(`exercised: ${Object.entries(totals).sort().map(([k, v]) => `${k}=${v}`).join(' ')}`);
  return failures.length > 0 ? 1 : 0;
}

process.exitCode = main();
