import { Command, Option } from 'commander';
import { FAULT_KINDS, parseFaults } from './nemesis.js';
import { runChaos } from './run.js';
import { TEST_FAULTS } from '../raft/test-faults.js';

/**
 * npm run chaos -- [--mode raft|mqtt] [--duration S] [--seed N] [--faults LIST]
 * Exits 0 when the run found no violation, 1 when it did, 2 on bad arguments.
 */
const program = new Command('chaos')
  .description('Jepsen-style chaos run against real processes: faults from a seed, histories checked (docs/chaos.md)')
  .addOption(new Option('--mode <mode>', 'which system to run').choices(['raft', 'mqtt']).default('raft'))
  .option('--duration <s>', 'seconds of workload under faults', (v) => Number(v), 60)
  .option('--seed <n>', 'seed of the fault schedule and workload (random when absent)', (v) => Number(v))
  .option('--faults <list>', `comma-separated fault kinds, or all: ${FAULT_KINDS.join(', ')}`, 'all')
  .option('--planted-bugs <list>', `TEST ONLY: bugs to plant in the replicas (${TEST_FAULTS.filter((f) => f !== 'lose-unsynced-on-crash').join(', ')})`, '')
  .option('--out <dir>', 'folder for the history, logs and report (a new temporary folder by default)')
  .action(async (opts: { mode: string; duration: number; seed?: number; faults: string; plantedBugs: string; out?: string }) => {
    if (opts.mode === 'mqtt') {
      process.stderr.write('chaos: mqtt mode is not covered by the chaos suite yet (it reached main at the deadline); only --mode raft runs\n');
      process.exit(2);
    }
    if (!(opts.duration > 0)) throw new Error(`--duration must be a positive number of seconds, got ${opts.duration}`);
    const seed = opts.seed ?? Math.floor(Math.random() * 2 ** 31);
    if (!Number.isSafeInteger(seed)) throw new Error(`--seed must be an integer, got ${opts.seed}`);
    const plantedBugs = opts.plantedBugs.split(',').map((w) => w.trim()).filter((w) => w !== '');
    for (const bug of plantedBugs) if (!(TEST_FAULTS as readonly string[]).includes(bug)) throw new Error(`unknown planted bug "${bug}"`);
    const result = await runChaos({ seed, duration_s: opts.duration, faults: parseFaults(opts.faults), plantedBugs, out: opts.out });
    const lines = [
      '',
      `chaos summary (seed ${seed})`,
      `  operations:         ${result.operations} (register checked for linearizability: ${result.checkedRegister}; shop: ${result.checkedShop})`,
      `  faults injected:    ${result.faults.length} (${[...new Set(result.faults.map((f) => f.kind))].join(', ')})`,
      `  violations:         ${result.violations.length}`,
      ...result.violations.map((v) => `    - ${v.checker}: ${v.message}`),
      `  wall clock:         ${result.duration_s.toFixed(1)} s`,
      `  history, logs, report: ${result.folder} (report.html)`,
      `  replay:             npm run chaos -- --seed ${seed} --duration ${opts.duration} --faults ${opts.faults}${plantedBugs.length > 0 ? ` --planted-bugs ${plantedBugs.join(',')}` : ''}`,
      result.ok ? 'PASS' : 'FAIL',
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    process.exit(result.ok ? 0 : 1);
  });

// Ctrl-C: exit through process.exit so the exit hook of src/util/processes.ts kills every child
// (SIGKILL also ends the ones the nemesis stopped with SIGSTOP).
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`chaos: ${signal}: stopping every process of the run\n`);
    process.exit(130);
  });
}

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`chaos: ${(err as Error).message}\n`);
  process.exit(2);
});
