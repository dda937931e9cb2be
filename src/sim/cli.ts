import { Command, Option } from 'commander';
import { exitOnUsageError, wholeNumber } from '../config/options.js';
import { DEFAULT_SIM_CONFIG, replayCommand, runSimulation } from './simulation.js';
import type { SimConfig } from './simulation.js';
import type { InjectedBug } from './node.js';

/**
 * npm run sim -- [--seed N | --seeds N [--from F]] [--steps S] [--no-faults] [--trace] [--bug KIND]
 * Exits 0 when every seed held, 1 on a violation, 2 on bad arguments (a typo must not quietly
 * run the default 100 seeds instead of the one asked for).
 */
interface SimOptions {
  readonly seed?: number;
  readonly seeds: number;
  readonly from: number;
  readonly steps: number;
  readonly faults: boolean;
  readonly trace?: boolean;
  readonly bug: InjectedBug;
}

const BUGS: readonly InjectedBug[] = ['none', 'skip-fsync', 'local-reads'];

const program = new Command('sim')
  .description("Deterministic simulation of the Raft core and its shipped driver on virtual time: seeded faults (crashes, lost unsynced writes, partitions, dropped and duplicated messages, full disks), Raft's invariants checked after every step and the client history for linearizability (docs/raft.md)")
  .addOption(new Option('--seed <n>', 'replay this one seed (prints its fault trace on a violation)').argParser(wholeNumber('--seed')).conflicts(['seeds', 'from']))
  .addOption(new Option('--seeds <n>', 'run this many seeds, from --from').argParser(wholeNumber('--seeds', 1)).default(100))
  .addOption(new Option('--from <n>', 'the first seed of --seeds').argParser(wholeNumber('--from')).default(1))
  .addOption(new Option('--steps <n>', 'steps per seed').argParser(wholeNumber('--steps', 1)).default(DEFAULT_SIM_CONFIG.steps))
  .addOption(new Option('--no-faults', 'a fault-free network and disks'))
  .addOption(new Option('--trace', "--seed: print the seed's trace even when it holds"))
  .addOption(new Option('--bug <kind>', 'plant a bug to see the checker catch it (violations expected): a disk whose fsync does nothing, or reads without ReadIndex').choices(BUGS).default('none'))
  .addHelpText(
    'after',
    `
Examples:
  npm run sim -- --seeds 2000                    seeds 1..2000, every fault on
  npm run sim -- --seed 42                       replay one seed
  npm run sim -- --seeds 1000 --from 5000 --steps 20000
  npm run sim -- --seeds 200 --bug local-reads   the checker must report violations

A violation prints "replay: npm run sim -- --seed N ..." to reproduce it exactly.`,
  )
  .action((opts: SimOptions) => {
    if (opts.trace === true && opts.seed === undefined) program.error('error: --trace prints the trace of one seed: give that seed with --seed N');
    process.exitCode = main(opts);
  });

function main(opts: SimOptions): number {
  const config: SimConfig = { ...DEFAULT_SIM_CONFIG, steps: opts.steps, faults: opts.faults, inject_bug: opts.bug };
  const one = opts.seed;
  if (one !== undefined) {
    const r = runSimulation(one, config, true);
    if (opts.trace === true || r.violation) for (const line of r.trace) console.log(line);
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
  const count = opts.seeds;
  const from = opts.from;
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

// A usage error exits as ecom's own do, so that it is not taken for a violation.
exitOnUsageError(program);
program.parse(process.argv);
