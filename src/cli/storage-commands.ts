import { plantedFromEnvironment } from '../faults/planted.js';
import { Option, type Command } from 'commander';
import { wholeNumber } from '../config/options.js';
import { Replica } from '../storage/replica/replica.js';
import { ReplicaClusterClient, withClusterClient } from '../storage/client/cluster-client.js';
import type { ReplicaStatus } from '../storage/common/protocol.js';
import type { Topology } from '../storage/common/topology.js';
import { createClusterSecret, readClusterSecret, SECRET_FILE_NAME } from '../net/cluster-secret.js';
import { configOption, topologyFrom } from '../modes/raft/storage-config.js';
import { clusterSecretOption } from '../modes/cluster-secret-option.js';
import { createLogger } from '../util/log.js';
import { closeOnSignals } from '../util/shutdown.js';
import { serveProcessMetrics } from '../metrics/process-metrics.js';
import { ReplicaMetrics } from '../metrics/replica-metrics.js';
import { metricsHostOption, metricsPortOption, type MetricsCliOptions } from './common-options.js';
import { topologyForReplica, type JoinOptions } from './storage-join.js';
import { hostedReplicasProblem, sameProcessAs } from '../storage/common/colocation.js';
import { LeaderSpread } from '../storage/replica/leader-spread.js';

/** `ecom storage ID...` (replicas in one process) and `ecom status` (every partition's leader and indexes). */

type StorageCliOptions = { storageConfig?: string; clusterSecret?: string; data: string; snapshotEvery: number; broker?: string; maxPending: number } & MetricsCliOptions & JoinOptions;

/**
 * One storage process hosting the replicas `ids`: one event loop, one metrics server (each
 * replica's series labelled replica="ID" when there are several), one shutdown that stops
 * them all, and a fatal failure in any of them takes the whole process down, loudly.
 */
async function runStorageProcess(ids: readonly number[], opts: StorageCliOptions): Promise<void> {
  const name = ids.join('_');
  const log = createLogger(`storage-${name}`);
  if (opts.join === true && ids.length > 1) throw new Error('--join starts one replica added by ecom member add; give it one id');
  const listed = topologyFrom(opts, opts.data);
  const problem = hostedReplicasProblem(listed, ids);
  if (problem !== undefined) throw new Error(problem);
  const closers = closeOnSignals((signal) => log.info(`${signal}: stopping replica${ids.length > 1 ? 's' : ''} ${ids.join(', ')}`));
  const served = await serveProcessMetrics(opts.metricsPort, opts.metricsHost, log);
  if (served !== undefined) closers.push(() => served.close());
  const seams = plantedFromEnvironment();
  if (seams !== undefined) log.warn(`TEST BUILD: planted faults ${seams.describe()} (ECOM_TEST_FAULTS); never use this replica for real data`);
  const replicas: Replica[] = [];
  closers.push(async () => {
    await Promise.all(replicas.map((replica) => replica.stop()));
  });
  for (const id of ids) {
    const replicaLog = ids.length === 1 ? log : createLogger(`storage-${id}`);
    const onFatal = (err: Error) => {
      // One line that says what and where; exit 70 (EX_SOFTWARE) tells a supervisor not to restart it blindly.
      const others = ids.length === 1 ? '' : ` (and with it this process's other replicas, ${ids.filter((other) => other !== id).join(', ')})`;
      replicaLog.fatal({ err: err.message }, `replica ${id} halted on an internal failure; nothing more is applied or answered${others}. Keep its data folder for diagnosis and restart it once the cause is fixed`);
      process.exit(70);
    };
    const registry = served === undefined ? undefined : ids.length === 1 ? served.registry : served.registry.part({ replica: String(id) });
    const metrics = registry === undefined ? undefined : new ReplicaMetrics(registry);
    const topology = await topologyForReplica(listed, id, opts, opts.data, replicaLog);
    replicas.push(new Replica({ topology, join: opts.join === true, id, dataDir: opts.data, log: replicaLog, snapshotEvery_entries: opts.snapshotEvery, broker: opts.broker, maxPendingProposals: opts.maxPending, seams, onFatal, metrics }));
  }
  await Promise.all(replicas.map((replica) => replica.start()));
  if (replicas.length > 1) {
    const spread = new LeaderSpread(replicas, sameProcessAs(listed, ids), log);
    // Closers run last-pushed first: the spreading stops before the replicas do.
    closers.push(() => {
      spread.stop();
      return Promise.resolve();
    });
  }
}

export function registerStorageCommands(program: Command): void {
  program
    .command('storage')
    .description('Run storage replicas: one, or one of each of several partitions in one process (ids 1–3 hold partition 0; 4–6 partition 1).')
    .argument('<ids...>', 'replica id; several ids host those replicas in one process (at most one per partition), each with its own log, state and ports', (text, previous: number[] | undefined) => {
      if (!/^\d+$/.test(text) || Number(text) < 1) throw new Error(`"${text}" is not a replica id (1, 2, ...)`);
      return [...(previous ?? []), Number(text)];
    })
    .addOption(configOption())
    .addOption(clusterSecretOption())
    .option('--data <dir>', 'where replicas keep their log and state (each in its own replica-ID folder)', './data')
    .addOption(new Option('--snapshot-every <entries>', 'take a snapshot and compact the log every this many entries').default(10_000).argParser(Number))
    .option('--broker <url>', 'MQTT broker where the leader announces changed records (for portal caches); none by default')
    .addOption(new Option('--max-pending <n>', 'proposals a leader accepts and has not yet applied before it answers "busy" (clients back off and retry)').default(4_096).argParser(wholeNumber('--max-pending')))
    .addOption(metricsPortOption())
    .addOption(metricsHostOption())
    .option('--join', 'a replica added by `ecom member add`, in no --storage-config: it starts empty and is sent a snapshot and the log')
    .addOption(new Option('--partition <p>', 'with --join: the partition it was added to').argParser(wholeNumber('--partition')))
    .option('--host <host>', 'with --join: the host it listens on, as given to ecom member add')
    .addOption(new Option('--client-port <n>', 'with --join: its port for portals').argParser(wholeNumber('--client-port', 1, 65_535)))
    .addOption(new Option('--raft-port <n>', 'with --join: its port for the other replicas').argParser(wholeNumber('--raft-port', 1, 65_535)))
    .addHelpText('after', '\nExamples:\n  $ ecom storage 1 --data ./data\n  $ ecom storage 4 --storage-config cluster.json --metrics-port 9101\n  $ ecom storage 1 4 --data ./data   (replica 1 of partition 0 and replica 4 of partition 1 in one process)\n  $ ecom storage 7 --join --partition 0 --host 127.0.0.1 --client-port 20007 --raft-port 30007   (after ecom member add 7 ...)')
    .action(async (ids: number[], opts: StorageCliOptions) => {
      await runStorageProcess(ids, opts);
    });

  program
    .command('status')
    .description("Show each storage partition's leader, term, commit and applied indexes.")
    .addOption(configOption())
    .addOption(clusterSecretOption())
    .option('--json', 'print JSON instead of a table')
    .option('--timeout <ms>', 'how long to wait for each replica', (t) => Number(t), 1_000)
    .addHelpText('after', '\nExamples:\n  $ ecom status\n  $ ecom status --json')
    .action(async (opts: { storageConfig?: string; json?: boolean; timeout: number }) => {
      const topology = topologyFrom(opts);
      const client = new ReplicaClusterClient(topology);
      const statuses = await client.statuses(opts.timeout);
      await client.close();
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(statuses, null, 2)}\n`);
        return;
      }
      process.stdout.write(formatStatus(topology, statuses));
      if (statuses.every((s) => 'unreachable' in s)) process.exitCode = 3;
    });

  registerLeaderCommand(program);
  registerSecretCommand(program);
}

/** `ecom secret FILE`: the cluster secret for replicas, portals and broker started by hand. */
function registerSecretCommand(program: Command): void {
  program
    .command('secret')
    .description("Create the cluster's secret file (owner-only), to give every replica, portal and broker of a cluster started by hand.")
    .argument('[file]', 'where to write it', `./data/${SECRET_FILE_NAME}`)
    .addHelpText('after', `\nExample:\n  $ ecom secret ./data/${SECRET_FILE_NAME} && ecom storage 1 --cluster-secret ./data/${SECRET_FILE_NAME}\n\n"ecom up" creates one in its data folder by itself. An existing file is kept, never overwritten.`)
    .action((file: string) => {
      if (!createClusterSecret(file)) {
        readClusterSecret(file);
        process.stdout.write(`${file} already holds a cluster secret; kept it\n`);
        return;
      }
      process.stdout.write(`created ${file} (mode 600); start every process of the cluster with --cluster-secret ${file}\n`);
    });
}


/** `ecom leader move`: hand a partition's leadership to a chosen replica, online. */
function registerLeaderCommand(program: Command): void {
  const leader = program.command('leader').description("Operate on a partition's leadership.");
  leader
    .command('move')
    .description('Hand leadership of a partition to another of its replicas (it first catches up; no write is lost or refused for long).')
    .addOption(configOption())
    .addOption(clusterSecretOption())
    .requiredOption('--partition <p>', 'the partition', wholeNumber('--partition'))
    .requiredOption('--to <id>', 'the replica that should lead it', wholeNumber('--to'))
    .option('--timeout <ms>', 'how long to wait for the handover', wholeNumber('--timeout'), 10_000)
    .addHelpText('after', '\nExamples:\n  $ ecom leader move --partition 0 --to 3\n  $ ecom leader move --partition 1 --to 4 --storage-config cluster.json')
    .action(async (opts: { storageConfig?: string; partition: number; to: number; timeout: number }) => {
      const topology = topologyFrom(opts);
      if (opts.partition >= topology.partitions) throw new Error(`there are ${topology.partitions} partitions (0 to ${topology.partitions - 1}); no partition ${opts.partition}`);
      const { leader: now, term } = await withClusterClient(topology, async (client) => {
        // The partition's voters as its replicas report them: members added online count too.
        await client.statuses(Math.min(opts.timeout, 2_000));
        const members = client.replicasOf(opts.partition).map((r) => r.id);
        if (!members.includes(opts.to)) throw new Error(`replica ${opts.to} is not in partition ${opts.partition} (its replicas: ${members.join(', ')})`);
        return client.transferLeader(opts.partition, opts.to, Date.now() + opts.timeout);
      });
      process.stdout.write(`partition ${opts.partition}: replica ${now} leads, term ${term}\n`);
    });
}

/** What the leader knows of a follower that lost entries it had acknowledged (docs/raft.md), or nothing. */
function lostLog(leader: ReplicaStatus | undefined, id: number): string {
  const f = leader?.followers?.find((v) => v.id === id && v.logEnd !== undefined);
  return f === undefined ? '' : `  LOST ITS LOG: holds up to ${f.logEnd} of the ${f.match} it acknowledged; remove it and add it back empty (docs/operations.md)`;
}

export function formatStatus(topology: Topology, statuses: ReadonlyArray<ReplicaStatus | { id: number; partition: number; unreachable: string }>): string {
  const lines: string[] = [];
  for (let p = 0; p < topology.partitions; p++) {
    const members = statuses.filter((s) => s.partition === p);
    const leader = members.find((s): s is ReplicaStatus => !('unreachable' in s) && s.role === 'leader');
    lines.push(`partition ${p}: ${leader ? `leader ${leader.id}, term ${leader.term}` : 'no leader'}`);
    const known = statuses.flatMap((s) => ('members' in s ? (s.members ?? []) : [])).flatMap((m) => (m.address === undefined ? [] : [m.address]));
    for (const s of members) {
      const address = topology.replicas.find((r) => r.id === s.id) ?? known.find((a) => a.id === s.id);
      const where = address ? `${address.host}:${address.clientPort}` : '?';
      if ('unreachable' in s) lines.push(`  replica ${s.id}  ${where}  down (${s.unreachable})`);
      else lines.push(`  replica ${s.id}  ${where}  ${s.role.padEnd(9)} term ${s.term}  commit ${s.commitIndex}  applied ${s.appliedIndex}  snapshot ${s.snapshotIndex}${s.maxStall_ms === undefined ? '' : `  stall ≤${s.maxStall_ms} ms`}${s.role !== 'follower' || s.maxLeaderSilence_ms === undefined ? '' : `  leader silent ≤${s.maxLeaderSilence_ms} ms`}${s.maxFsync_ms === undefined ? '' : `  fsync ≤${s.maxFsync_ms} ms`}${s.diskFault === undefined ? '' : `  DISK FAULT, paused: ${s.diskFault}`}${lostLog(leader, s.id)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
