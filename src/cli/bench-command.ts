import { writeFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { parsePort, positiveDecimal, wholeNumber } from '../config/options.js';
import { compareModes, compareWithEtcd } from '../bench/compare.js';
import { runFailover } from '../bench/failover.js';
import { writeChart } from '../bench/chart.js';
import { describeProfile, profilesIn, summariseProfile } from '../bench/profile.js';
import { writeReport } from '../bench/report.js';
import { BenchSession, type MeasuredSystem } from '../bench/session.js';
import { runSuite } from '../bench/suite.js';
import { runScale } from '../bench/scale.js';
import { measureStartup } from '../bench/startup.js';
import { mqttSystemName, runMqttFigures, type MqttBroker } from '../bench/mqtt-figures.js';
import { checkTargets, verdictMark } from '../bench/targets-check.js';
import { PORTAL_SYSTEMS, raftTierName, startEtcd, startRaftTier, startVisibilityFloor, type Portal, type RaftTierShape } from '../bench/systems.js';
import { startFloorBroker, startFloorPortal } from '../bench/floor-node.js';
import { visibilityFloorSystemName } from '../bench/visibility-floor.js';
import { closeOnSignals } from '../util/shutdown.js';
import type { Target } from '../bench/targets.js';
import { runWorker } from '../bench/worker.js';
import { DEFAULT_GRPC_CLIENT, DEFAULT_WORKERS, GRPC_CLIENT_KINDS, WORKLOADS, findWorkload, type GrpcClientKind } from '../bench/workloads.js';

/**
 * `ecom bench`: the load generator and benchmark suite (issue #6), and the hidden
 * `ecom bench-worker` that generates the load from separate processes.
 */
interface CommonOptions {
  workers?: number;
  /** Only on the commands that run portal or etcd workloads. */
  grpcClient?: GrpcClientKind;
  duration: number;
  warmup: number;
  timeoutMs: number;
  json?: string;
  chart?: string;
  report?: string;
  trace?: boolean;
  keep?: boolean;
}

const positiveInt = (name: string) => wholeNumber(name, 1);
const positiveNumber = (name: string) => positiveDecimal(name);
const list = (name: string) => (text: string) => text.split(',').map((t) => positiveInt(name)(t.trim()));

/** The options every bench command takes, and for those that run portal or etcd workloads the ones about them. */
function addCommon(command: Command, defaults: { duration: number; warmup: number; portalWorkloads?: true }): Command {
  const portalWorkloads = defaults.portalWorkloads === true;
  if (portalWorkloads) {
    command.addOption(
      new Option('--grpc-client <kind>', "portal and etcd workloads: the gRPC client of the measured calls; lean sends grpc-js's bytes (etcd3's for etcd) for a fraction of its CPU, which the load generator otherwise takes from the system it measures")
        .choices(GRPC_CLIENT_KINDS)
        .default(DEFAULT_GRPC_CLIENT),
    );
  }
  return command
    .addOption(
      new Option('--workers <n>', `load-generating processes the load is spread over (default: ${DEFAULT_WORKERS}${portalWorkloads ? '; 1 for visibility, whose probe is the measuring instrument' : ''})`).argParser(positiveInt('--workers')),
    )
    .addOption(new Option('--duration <seconds>', 'measured time per run').argParser(positiveNumber('--duration')).default(defaults.duration))
    .addOption(new Option('--warmup <seconds>', 'unmeasured time before each run (connections, JIT, leader caches)').argParser(positiveDecimal('--warmup', 3_600, true)).default(defaults.warmup))
    .addOption(new Option('--timeout-ms <ms>', 'deadline of each request; a request past it counts as an error').argParser(positiveInt('--timeout-ms')).default(10_000))
    .addOption(new Option('--json <file>', 'also write every figure (and the latency histograms) to this JSON file'))
    .addOption(new Option('--chart <file.svg>', 'draw the results as an SVG chart'))
    .addOption(new Option('--report <file.md>', 'write a Markdown report (links the chart when --chart is given)'))
    .addOption(new Option('--trace', "print where each write's time went: raft tier runs in the partition leaders (persist, replicate, apply), mqtt mode runs in each portal (publish, broker, apply, reply)"))
    .addOption(new Option('--keep', "keep the run's temporary folder (every process's log and data) and print where it is, to read the replicas' stall and election lines afterwards"));
}

function openSession(opts: CommonOptions): BenchSession {
  return new BenchSession({
    command: `ecom ${process.argv.slice(2).join(' ')}`,
    workers: opts.workers,
    grpcClient: opts.grpcClient,
    duration_ms: opts.duration * 1000,
    warmup_ms: opts.warmup * 1000,
    timeout_ms: opts.timeoutMs,
    trace: opts.trace === true,
    keep: opts.keep === true,
  });
}

/** Writes the outputs asked for, closes the session whatever happened. */
async function finish(session: BenchSession, opts: Pick<CommonOptions, 'json' | 'chart' | 'report'>, work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } finally {
    await session.close();
  }
  if (opts.json !== undefined) {
    writeFileSync(opts.json, `${JSON.stringify(session.results, null, 2)}\n`);
    session.print(`wrote ${opts.json}`);
  }
  if (opts.chart !== undefined) {
    writeChart(opts.chart, session.results);
    session.print(`wrote ${opts.chart}`);
  }
  if (opts.report !== undefined) {
    writeReport(opts.report, session.results, opts.chart);
    session.print(`wrote ${opts.report}`);
  }
}

interface RunOptions extends CommonOptions {
  concurrency: number[];
  rate?: number[];
  mode: string;
  portals: number;
  colocate?: boolean;
  maxPending?: number;
  broker: 'embedded' | 'mosquitto';
}

function tierShape(opts: RunOptions): RaftTierShape {
  return { colocate: opts.colocate !== false, ...(opts.maxPending === undefined ? {} : { maxPendingProposals: opts.maxPending }) };
}

/** `ecom bench run`: starts each target (raft tier, etcd, a portal) once, then runs every workload × load on it. */
async function runWorkloads(names: string[], opts: RunOptions): Promise<void> {
  const workloads = (names.length > 0 ? names : ['put', 'get', 'mixed', 'shop']).map(findWorkload);
  const session = openSession(opts);
  await finish(session, opts, async () => {
    const targets = new Map<string, { target: Target; system: string; of: MeasuredSystem }>();
    const targetFor = async (level: Target['kind']) => {
      const known = targets.get(level);
      if (known) return known;
      let made: { target: Target; system: string; of: MeasuredSystem };
      if (level === 'storage') {
        const raft = session.own(await startRaftTier(`${session.folder}/raft`, tierShape(opts)));
        made = { target: { kind: 'storage', topologyFile: raft.topologyFile }, system: raftTierName(tierShape(opts)), of: raft };
      } else if (level === 'etcd') {
        const etcd = session.own(await startEtcd(session.folder));
        made = { target: { kind: 'etcd', endpoints: etcd.endpoints }, system: 'etcd 3 members', of: {} };
      } else if (level === 'floor') {
        const portals = opts.portals > 1 ? opts.portals : 3;
        const floor = session.own(await startVisibilityFloor(portals));
        made = { target: { kind: 'floor', ports: floor.ports }, system: visibilityFloorSystemName(portals), of: floor };
      } else {
        const start = PORTAL_SYSTEMS[opts.mode];
        if (start === undefined) throw new Error(`unknown mode ${opts.mode}; choose one of: ${Object.keys(PORTAL_SYSTEMS).join(', ')}`);
        const portal: Portal = session.own(await start(`${session.folder}/mode-${opts.mode}`, { portals: opts.portals, broker: opts.broker, metrics: opts.trace === true, ...tierShape(opts) }));
        const system = opts.mode === 'mqtt' ? mqttSystemName(opts.portals, opts.broker) : `portal, ${opts.mode} mode`;
        made = { target: { kind: 'portal', host: '127.0.0.1', port: portal.port, ...(portal.ports ? { ports: portal.ports } : {}) }, system, of: portal };
      }
      targets.set(level, made);
      return made;
    };
    for (const workload of workloads) {
      if (workload.unavailable !== undefined) {
        session.note(`${workload.name} skipped: ${workload.unavailable}`);
        continue;
      }
      const { target, system, of } = await targetFor(workload.level);
      for (const load of opts.rate ?? opts.concurrency) {
        if (session.aborted) return;
        await session.run(`${workload.level} ${workload.name}`, system, {
          workload: workload.name,
          target,
          of,
          ...(opts.rate ? { rate_per_s: load } : { concurrency: load }),
        });
      }
    }
  });
}

function registerWorker(program: Command): void {
  program
    .command('bench-worker', { hidden: true })
    .description('one load-generating process of ecom bench (started by it; speaks JSON lines on stdout)')
    .argument('<spec>', 'the worker spec as JSON')
    .action(async (spec: string) => {
      await runWorker(spec);
      // Done: the stdin pipe spawnEcom watches (and our SIGTERM handler) would keep us waiting for the parent's stop.
      process.exit();
    });
}

function registerFloorNode(program: Command): void {
  program
    .command('bench-floor-node', { hidden: true })
    .description("a stand-in of the visibility floor (started by ecom bench): a broker or a portal that only moves five-byte frames")
    .argument('<role>', 'broker or portal')
    .addOption(new Option('--port <port>', 'port to listen on').argParser(parsePort).makeOptionMandatory())
    .addOption(new Option('--broker-port <port>', "portal: the broker stand-in's port").argParser(parsePort))
    .addOption(new Option('--host <address>', 'address to bind and connect to').default('127.0.0.1'))
    .action(async (role: string, opts: { port: number; brokerPort?: number; host: string }) => {
      const warn = (message: string) => process.stderr.write(`bench-floor-node ${role} :${opts.port}: ${message}\n`);
      const closers = closeOnSignals();
      if (role === 'broker') {
        const broker = await startFloorBroker(opts.host, opts.port, warn);
        closers.push(() => broker.close());
      } else if (role === 'portal') {
        if (opts.brokerPort === undefined) throw new Error('bench-floor-node portal needs --broker-port');
        const lost = () => {
          warn('the broker stand-in closed the connection; stopping');
          process.exit(1);
        };
        const portal = await startFloorPortal(opts.host, opts.port, opts.brokerPort, warn, lost);
        closers.push(() => portal.close());
      } else throw new Error(`bench-floor-node: "${role}" is not a role; choose broker or portal`);
      warn('listening');
    });
}

function registerRun(bench: Command): void {
  addCommon(
    bench
      .command('run', { isDefault: true })
      .description('Run workloads in a closed loop (--concurrency) or an open loop (--rate).')
      .argument('[workloads...]', `any of: ${WORKLOADS.map((w) => w.name).join(', ')} (default: put get mixed shop)`)
      .addOption(new Option('-c, --concurrency <list>', 'closed loop: requests in flight, comma-separated for a sweep').argParser(list('--concurrency')).default([64]))
      .addOption(new Option('--rate <list>', 'open loop: requests per second, comma-separated for a sweep (replaces --concurrency)').argParser(list('--rate')))
      .addOption(new Option('--mode <mode>', 'where portal workloads store their data').choices(Object.keys(PORTAL_SYSTEMS)).default('raft'))
      .addOption(new Option('--portals <n>', 'mqtt mode: portals on the broker, the load spread over them').argParser(positiveInt('--portals')).default(1))
      .addOption(new Option('--broker <kind>', 'mqtt mode: the embedded broker or a real Mosquitto').choices(['embedded', 'mosquitto']).default('embedded'))
      .addOption(new Option('--colocate', 'raft tier (storage workloads and --mode raft), the default: 3 processes each hosting one replica of both partitions, as ecom up runs it'))
      .addOption(new Option('--no-colocate', 'raft tier: 6 processes, one per replica, as ecom up --no-colocate'))
      .addOption(new Option('--max-pending <n>', "raft tier: proposals a leader takes before it answers busy (ecom storage --max-pending; default: the shipped bound), to measure admission control's effect").argParser(positiveInt('--max-pending'))),
    { duration: 10, warmup: 2, portalWorkloads: true },
  )
    .addHelpText(
      'after',
      `\nExamples:\n  $ ecom bench run put -c 1,16,64,256\n  $ ecom bench run put -c 1,64,512 --no-colocate\n  $ ecom bench run put -c 512 --max-pending 128 --duration 60\n  $ ecom bench run shop --mode single --rate 500,1000,2000 --json shop.json\n  $ ecom bench run visibility --mode mqtt --portals 3 --broker mosquitto --rate 250,1000`,
    )
    .action((names: string[], opts: RunOptions) => {
      if (opts.mode !== 'mqtt' && (opts.portals !== 1 || opts.broker !== 'embedded')) throw new Error('--portals and --broker shape mqtt mode only; add --mode mqtt');
      if (opts.colocate !== undefined && opts.mode !== 'raft') throw new Error('--colocate and --no-colocate shape the raft storage tier; they go with --mode raft (the default)');
      if (opts.maxPending !== undefined && opts.mode !== 'raft') throw new Error('--max-pending bounds the raft storage tier\'s leaders; it goes with --mode raft (the default)');
      return runWorkloads(names, opts);
    });
}

function registerFailover(bench: Command): void {
  addCommon(
    bench
      .command('failover')
      .description('kill -9 a partition leader under load, again and again; time to the first successful write.')
      .addOption(new Option('--kills <n>', 'how many leaders to kill (alternating partitions)').argParser(positiveInt('--kills')).default(20))
      .addOption(new Option('--load <n>', 'background writes in flight during the benchmark').argParser(positiveInt('--load')).default(16)),
    { duration: 10, warmup: 2 },
  )
    .addHelpText('after', `\nExample:\n  $ ecom bench failover --kills 20 --json failover.json`)
    .action(async (opts: CommonOptions & { kills: number; load: number }) => {
      const session = openSession(opts);
      await finish(session, opts, async () => {
        const raft = session.own(await startRaftTier(`${session.folder}/raft`));
        const result = await runFailover(raft, {
          kills: opts.kills,
          backgroundConcurrency: opts.load,
          runTag: session.runTag,
          aborted: () => session.aborted,
          onKill: (k, partition, leader, ms) => session.print(`  kill ${k}/${opts.kills}: leader ${leader} of partition ${partition}, first successful write after ${ms.toFixed(0)} ms`),
        });
        session.results.failover = result;
        session.print(`failover (${result.kills} kills, ${result.backgroundLoad}): p50 ${result.latency.p50_ms.toFixed(0)} ms, p99 ${result.latency.p99_ms.toFixed(0)} ms, max ${result.latency.max_ms.toFixed(0)} ms`);
      });
    });
}

function registerCompare(bench: Command): void {
  addCommon(
    bench
      .command('compare')
      .description('A 3-member etcd and the ecom tier side by side in one run: same durable-put workload, and the ratio; then the ecom modes on one portal workload.')
      .addOption(new Option('-c, --concurrency <n>', 'puts in flight against each store').argParser(positiveInt('--concurrency')).default(256))
      .addOption(new Option('--modes <list>', 'ecom modes to compare on the portal workload (empty: none)').default(Object.keys(PORTAL_SYSTEMS).join(',')))
      .addOption(new Option('--mode-workload <name>', 'the portal workload the modes run').default('shop'))
      .addOption(new Option('--mode-concurrency <n>', 'portal requests in flight').argParser(positiveInt('--mode-concurrency')).default(64)),
    { duration: 10, warmup: 2, portalWorkloads: true },
  )
    .addHelpText('after', `\nExamples:\n  $ ecom bench compare\n  $ ecom bench compare -c 512 --modes single,raft --chart compare.svg`)
    .action(async (opts: CommonOptions & { concurrency: number; modes: string; modeWorkload: string; modeConcurrency: number }) => {
      findWorkload(opts.modeWorkload);
      const session = openSession(opts);
      await finish(session, opts, async () => {
        await compareWithEtcd(session, opts.concurrency);
        const modes = opts.modes.split(',').filter((m) => m !== '');
        if (modes.length > 0 && !session.aborted) await compareModes(session, modes, opts.modeWorkload, opts.modeConcurrency);
      });
    });
}

function registerProfile(bench: Command): void {
  bench
    .command('profile')
    .description('Where the time goes: self time by function and by category in the .cpuprofile files of a profiled bench run.')
    .argument('<dir>', 'the --cpu-prof-dir the processes wrote to')
    .addOption(new Option('--top <n>', 'functions listed per process').argParser(positiveInt('--top')).default(15))
    .addOption(new Option('--processes <n>', 'how many profiles to show, busiest first').argParser(positiveInt('--processes')).default(4))
    .addHelpText(
      'after',
      `\nExample: profile the replicas under a durable-write load, then read the profiles\n  $ ECOM_CHILD_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" ecom bench run put -c 256\n  $ ecom bench profile /tmp/prof`,
    )
    .action((dir: string, opts: { top: number; processes: number }) => {
      const files = profilesIn(dir);
      if (files.length === 0) throw new Error(`no .cpuprofile in ${dir}; run the bench with ECOM_CHILD_NODE_ARGS="--cpu-prof --cpu-prof-dir=${dir}" first`);
      for (const file of files.slice(0, opts.processes)) process.stdout.write(`${describeProfile(summariseProfile(file, opts.top))}\n\n`);
    });
}

function registerMqtt(bench: Command): void {
  addCommon(
    bench
      .command('mqtt')
      .description("mqtt mode's figures (issue #17) on each broker: orders one at a time and 64 in flight through one portal; time until a write is visible on all of 3 portals at 250 and 1,000 writes/s, beside the machine's floor for it (bare stand-ins on the same hops); the targets met or not.")
      .addOption(new Option('--brokers <list>', 'which brokers, comma-separated: embedded, mosquitto').default('embedded,mosquitto')),
    { duration: 8, warmup: 2, portalWorkloads: true },
  )
    .addHelpText('after', `\nExample:\n  $ ecom bench mqtt --report mqtt-report.md\n  $ ecom bench mqtt --brokers mosquitto --duration 20`)
    .action(async (opts: CommonOptions & { brokers: string }) => {
      const brokers = opts.brokers.split(',').map((b) => b.trim());
      for (const b of brokers) if (b !== 'embedded' && b !== 'mosquitto') throw new Error(`--brokers: "${b}" is not a broker; choose embedded, mosquitto`);
      const session = openSession(opts);
      await finish(session, opts, async () => {
        await runMqttFigures(session, brokers as MqttBroker[]);
        session.print('\ntargets (issue #17), this run:');
        for (const v of checkTargets(session.results).filter((t) => t.target.startsWith('mqtt mode'))) session.print(`  ${verdictMark(v).padEnd(12)} ${v.target}: ${v.reached}`);
      });
    });
}

function registerScale(bench: Command): void {
  addCommon(
    bench
      .command('scale')
      .description('Grow one partition to --records, timing each segment of writes; then the restart time of its leader after kill -9 and the catch-up time of a follower that needs a snapshot.')
      .addOption(new Option('--records <n>', 'records written to partition 0').argParser(positiveInt('--records')).default(1_000_000))
      .addOption(new Option('--segments <n>', 'equal steps, each timed on its own').argParser(positiveInt('--segments')).default(10))
      .addOption(new Option('-c, --concurrency <n>', 'writes in flight').argParser(positiveInt('--concurrency')).default(256)),
    { duration: 10, warmup: 0 },
  )
    .addHelpText('after', `\nExamples:\n  $ ecom bench scale --records 1000000 --json scale.json\n  $ ecom bench scale --records 10000000 --segments 20`)
    .action(async (opts: CommonOptions & { records: number; segments: number; concurrency: number }) => {
      const session = openSession(opts);
      await finish(session, opts, async () => {
        const dataDir = `${session.folder}/raft`;
        // One process per replica: the catch-up stage kills one follower and empties its folder alone.
        const raft = session.own(await startRaftTier(dataDir, { colocate: false }));
        session.print(`scale: ${opts.records.toLocaleString('en-US')} records to partition 0 in ${opts.segments} segments, ${opts.concurrency} writes in flight`);
        session.results.scale = await runScale(raft, { records: opts.records, segments: opts.segments, concurrency: opts.concurrency, runTag: session.runTag, dataDir, say: (l) => session.print(l), aborted: () => session.aborted });
        const [first, last] = [session.results.scale.segments[0], session.results.scale.segments.at(-1)];
        if (first !== undefined && last !== undefined) session.print(`scale: the last segment ran at ${((100 * last.ops_per_s) / first.ops_per_s).toFixed(0)} % of the first's rate (target ≥ 80 %)`);
      });
    });
}

function registerSuite(bench: Command): void {
  addCommon(
    bench
      .command('suite')
      .description('Everything the targets of issue #6 ask, in one run: concurrency sweeps, serial latency, reads, orders through gRPC, failover, etcd and modes comparison.')
      .addOption(new Option('--kills <n>', 'failover: leaders to kill').argParser(positiveInt('--kills')).default(20))
      .addOption(new Option('--sweep <list>', 'closed-loop concurrencies for the storage put curve').argParser(list('--sweep')).default([1, 16, 64, 256, 512])),
    { duration: 8, warmup: 2, portalWorkloads: true },
  )
    .addHelpText('after', `\nExample (what produced docs/img/bench.svg):\n  $ ecom bench suite --chart docs/img/bench.svg --report docs/bench-report.md --json bench.json`)
    .action(async (opts: CommonOptions & { kills: number; sweep: number[] }) => {
      const session = openSession(opts);
      await finish(session, opts, () => runSuite(session, { kills: opts.kills, sweep: opts.sweep }));
    });
}

function registerStartup(bench: Command): void {
  bench
    .command('startup')
    .description('How long `ecom up` takes to serve (each stage, and the CPU it costs) and how long a one-shot client command takes against it; on free ports, in a temporary folder.')
    .addOption(new Option('--runs <n>', 'starts of `ecom up`, each in a fresh data folder').argParser(positiveInt('--runs')).default(3))
    .addOption(new Option('--one-shots <n>', 'one-shot commands timed after each start').argParser(wholeNumber('--one-shots', 0)).default(5))
    .addOption(new Option('--json <file>', 'also write every figure to this JSON file'))
    .addHelpText('after', `\nExample:\n  $ ecom bench startup --runs 5 --one-shots 10`)
    .action(async (opts: { runs: number; oneShots: number; json?: string }) => {
      const session = new BenchSession({ command: `ecom ${process.argv.slice(2).join(' ')}`, workers: 0, duration_ms: 0, warmup_ms: 0, timeout_ms: 0 });
      await finish(session, opts, async () => {
        session.results.startup = await measureStartup(session.folder, { runs: opts.runs, oneShots: opts.oneShots, say: (l) => session.print(l), aborted: () => session.aborted, own: (up) => session.own(up) });
      });
    });
}

export function registerBenchCommand(program: Command): void {
  registerWorker(program);
  registerFloorNode(program);
  const bench = program
    .command('bench')
    .description('Benchmarks on this machine: storage API and portal workloads, failover, comparison with etcd.')
    .addHelpText(
      'after',
      `
Every subcommand starts what it measures (raft tier, portals, etcd) on free loopback ports in a
temporary folder, prints the machine (cores, load average, fsync latency measured on the spot),
and stops and deletes everything at the end or on Ctrl-C.

Examples:
  $ ecom bench run put get --concurrency 1,64,256       storage API, closed loop
  $ ecom bench run create-order shop --mode raft -c 128   portal workloads through gRPC
  $ ecom bench run put --rate 2000,8000,16000            open loop: latency before saturation
  $ ecom bench failover --kills 20
  $ ecom bench startup --runs 5                        ecom up to serving, one-shot commands
  $ ecom bench compare --chart bench.svg --report bench.md
  $ ecom bench suite --chart docs/img/bench.svg --report docs/bench-report.md --json bench.json

Workloads: ${WORKLOADS.map((w) => w.name).join(', ')}`,
    );
  registerRun(bench);
  registerFailover(bench);
  registerCompare(bench);
  registerProfile(bench);
  registerSuite(bench);
  registerMqtt(bench);
  registerScale(bench);
  registerStartup(bench);
}
