import { Command, Option } from 'commander';
import { MQTT_FAULT_KINDS } from './mqtt-nemesis.js';
import type { BrokerKind } from './mqtt-cluster.js';
import { runMqttChaos } from './mqtt-run.js';
import { RAFT_FAULT_KINDS } from './raft-nemesis.js';
import { runRaftChaos } from './raft-run.js';
import type { ChaosResult } from './result.js';
import { parseFaults } from './schedule.js';
import { PLANTED_BUGS, TEST_FAULTS } from '../faults/planted.js';
import { exitOnUsageError, positiveDecimal, USAGE_EXIT_CODE, wholeNumber } from '../config/options.js';

/**
 * npm run chaos -- [--mode raft|mqtt] [--duration S] [--seed N] [--faults LIST]
 * Exits 0 when the run found no violation, 1 when it did, 2 on bad arguments.
 */
interface ChaosModeRunner {
  readonly faultKinds: readonly string[];
  run(options: { seed: number; duration_s: number; faults: string[]; plantedBugs: string[]; out?: string; broker: BrokerKind; colocate: boolean }): Promise<ChaosResult>;
}

/** The summary lists this many violations; summary.json and report.html have them all. */
const SHOWN_VIOLATIONS = 15;

const MODES: Record<'raft' | 'mqtt', ChaosModeRunner> = {
  raft: {
    faultKinds: RAFT_FAULT_KINDS,
    run: ({ broker, ...o }) => {
      if (broker !== 'embedded') throw new Error('--broker mosquitto applies to --mode mqtt only');
      return runRaftChaos({ ...o, faults: parseFaults(o.faults.join(','), RAFT_FAULT_KINDS) });
    },
  },
  mqtt: {
    faultKinds: MQTT_FAULT_KINDS,
    run: (o) => runMqttChaos({ ...o, faults: parseFaults(o.faults.join(','), MQTT_FAULT_KINDS) }),
  },
};

const program = new Command('chaos')
  .description('Jepsen-style chaos run against real processes: faults from a seed, histories checked (docs/chaos.md)')
  .addOption(new Option('--mode <mode>', 'which system to run').choices(['raft', 'mqtt']).default('raft'))
  .addOption(new Option('--broker <kind>', 'mqtt mode: the embedded broker or a real Mosquitto').choices(['embedded', 'mosquitto']).default('embedded'))
  .addOption(new Option('--duration <s>', 'seconds of workload under faults').argParser(positiveDecimal('--duration', 86_400)).default(60))
  .addOption(new Option('--seed <n>', 'seed of the fault schedule and workload (random when absent)').argParser(wholeNumber('--seed')))
  .option('--faults <list>', `comma-separated fault kinds, or all; raft: ${MODES.raft.faultKinds.join(', ')}; mqtt: ${MODES.mqtt.faultKinds.join(', ')}`, 'all')
  .option('--planted-bugs <list>', `TEST ONLY: bugs to plant (${PLANTED_BUGS.join(', ')})`, '')
  .option('--out <dir>', 'folder for the history, logs and report (a new temporary folder by default)')
  .option('--colocate', 'raft mode: replica i of every partition in one process, as ecom up runs them (a kill or pause of a replica takes its process, so one replica of each partition)', false)
  .addHelpText(
    'after',
    `
Examples:
  npm run chaos                                  raft mode, 60 s, every fault kind, random seed
  npm run chaos -- --duration 600                the documented soak
  npm run chaos -- --mode mqtt --duration 45     mqtt mode: broker restarts, portal kills, pauses, cut links
  npm run chaos -- --mode mqtt --broker mosquitto   the same against a real Mosquitto
  npm run chaos -- --seed 42 --faults kill-leader,partition-symmetric
  npm run chaos -- --colocate --duration 90      raft mode over the tier as ecom up lays it out

The exit code is 0 on a pass, 1 on any violation, 2 on bad arguments. See docs/chaos.md.`,
  )
  .action(async (opts: { mode: 'raft' | 'mqtt'; broker: BrokerKind; duration: number; seed?: number; faults: string; plantedBugs: string; out?: string; colocate: boolean }) => {
    const mode = MODES[opts.mode];
    const seed = opts.seed ?? Math.floor(Math.random() * 2 ** 31);
    const faults = parseFaults(opts.faults, mode.faultKinds);
    const plantedBugs = opts.plantedBugs.split(',').map((w) => w.trim()).filter((w) => w !== '');
    for (const bug of plantedBugs) if (!(TEST_FAULTS as readonly string[]).includes(bug)) throw new Error(`unknown planted bug "${bug}"`);
    if (opts.colocate && opts.mode !== 'raft') throw new Error('--colocate shapes the raft storage tier; it goes with --mode raft');
    const result = await mode.run({ seed, duration_s: opts.duration, faults, plantedBugs, out: opts.out, broker: opts.broker, colocate: opts.colocate });
    const lines = [
      '',
      `chaos summary (${result.mode} mode, seed ${seed})`,
      `  operations:         ${result.operations} (checked: ${Object.entries(result.checked).map(([name, n]) => `${name} ${n}`).join(', ')})`,
      `  faults injected:    ${result.faults.length} (${[...new Set(result.faults.map((f) => f.kind))].join(', ')})`,
      `  violations:         ${result.violations.length}`,
      ...result.violations.slice(0, SHOWN_VIOLATIONS).map((v) => `    - ${v.checker}: ${v.message}`),
      ...(result.violations.length > SHOWN_VIOLATIONS ? [`    ... and ${result.violations.length - SHOWN_VIOLATIONS} more in summary.json`] : []),
      `  wall clock:         ${result.duration_s.toFixed(1)} s`,
      `  history, logs, report: ${result.folder} (report.html)`,
      `  replay:             ${result.replay}`,
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

// A usage error exits as ecom's own do, so that it is not taken for a violation.
exitOnUsageError(program);
program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`chaos: ${(err as Error).message}\n`);
  process.exit(USAGE_EXIT_CODE);
});
