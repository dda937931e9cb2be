import { resolve } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { wholeNumber } from '../config/options.js';
import { clusterSecretOption } from '../modes/cluster-secret-option.js';
import { configOption, topologyFrom } from '../modes/raft/storage-config.js';
import { withClusterClient, type ReplicaClusterClient } from '../storage/client/cluster-client.js';
import type { MemberChangeResult, MemberView } from '../storage/common/members.js';
import { MAX_HOST_CHARS } from '../storage/common/members.js';
import type { ReplicaStatus } from '../storage/common/protocol.js';
import type { Topology } from '../storage/common/topology.js';
import { EXIT } from './oneshot.js';

/**
 * `ecom member list|add|promote|remove` (issue #16 item 1, docs/operations.md): a partition's
 * membership changed online, one change at a time, through its leader.
 */
type Statuses = Awaited<ReturnType<ReplicaClusterClient['statuses']>>;
interface ClusterOptions {
  storageConfig?: string;
  clusterSecret?: string;
  timeout: number;
}

const replicaId = (what: string) => (text: string) => {
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > 0xffff_ffff) throw new InvalidArgumentError(`${what} "${text}" is not a replica id (1, 2, ...)`);
  return Number(text);
};

export function registerMemberCommands(program: Command): void {
  const member = program.command('member').description("List and change a storage partition's replicas online (add a learner, promote it, remove a member).");
  const common = (cmd: Command) => cmd.addOption(configOption()).addOption(clusterSecretOption()).option('--timeout <ms>', 'how long to wait for the partition', wholeNumber('--timeout'), 15_000);
  common(member.command('list').description("Each partition's members as its leader's log has them: role, address, how far each holds the log.").option('--json', 'print JSON'))
    .addHelpText('after', '\nExamples:\n  $ ecom member list\n  $ ecom member list --storage-config cluster.json --json')
    .action(async (opts: ClusterOptions & { json?: boolean }) => {
      const topology = topologyFrom(opts);
      const statuses = await withClusterClient(topology, (client) => client.statuses(Math.min(opts.timeout, 2_000)));
      if (opts.json) process.stdout.write(`${JSON.stringify(membersByPartition(topology, statuses), null, 2)}\n`);
      else process.stdout.write(formatMembers(topology, statuses));
      if (answered(statuses).length === 0) process.exitCode = EXIT.unreachable;
    });
  registerAdd(common(member.command('add')));
  for (const change of ['promote', 'remove'] as const) {
    common(member.command(change))
      .description(change === 'promote' ? 'Make a learner that has caught up a voter (leaders do it by themselves once it has).' : 'Take a replica out of its partition (refused when the voters left that answer would be fewer than a quorum).')
      .argument('<id>', 'the replica', replicaId('replica'))
      .addOption(new Option('--partition <p>', 'its partition (found from the cluster when not given)').argParser(wholeNumber('--partition')))
      .addHelpText('after', `\nExamples:\n  $ ecom member ${change} 7\n  $ ecom member ${change} ${change === 'promote' ? '7' : '1'} --partition 0 --storage-config cluster.json`)
      .action(async (id: number, opts: ClusterOptions & { partition?: number }) => {
        const topology = topologyFrom(opts);
        const result = await withClusterClient(topology, async (client) => {
          const partition = opts.partition ?? partitionOfMember(topology, await client.statuses(2_000), id);
          checkPartition(topology, partition);
          return client.changeMember(partition, change, id, {}, Date.now() + opts.timeout);
        });
        process.stdout.write(`${change === 'promote' ? `replica ${id} is a voter` : `replica ${id} is no longer a member`}; partition ${result.partition}: ${describeMembers(result)}\n`);
        if (change === 'remove') process.stdout.write(`stop replica ${id} now (Ctrl-C or kill its process) and delete its data folder; it takes no further part\n`);
      });
  }
}

function registerAdd(cmd: Command): void {
  cmd
    .description('Add a replica to a partition as a learner (it receives the log but does not vote); prints the command that starts it. It becomes a voter by itself once it has caught up.')
    .argument('<id>', 'the new replica\'s id (not used by any replica)', replicaId('replica'))
    .requiredOption('--partition <p>', 'the partition it joins', wholeNumber('--partition'))
    .requiredOption('--host <host>', 'the host it listens on, as the other replicas and the portals reach it')
    .requiredOption('--client-port <n>', 'its port for portals', wholeNumber('--client-port', 1, 65_535))
    .requiredOption('--raft-port <n>', 'its port for the other replicas', wholeNumber('--raft-port', 1, 65_535))
    .addHelpText('after', '\nExample (replace replica 1 of partition 0 by a new replica 7):\n  $ ecom member add 7 --partition 0 --host 127.0.0.1 --client-port 20007 --raft-port 30007\n  $ ecom storage 7 --join --partition 0 --host 127.0.0.1 --client-port 20007 --raft-port 30007   (the command printed)\n  $ ecom member list                 (7 becomes a voter once caught up)\n  $ ecom member remove 1')
    .action(async (id: number, opts: ClusterOptions & { partition: number; host: string; clientPort: number; raftPort: number }) => {
      const topology = topologyFrom(opts);
      checkPartition(topology, opts.partition);
      if (opts.host.length > MAX_HOST_CHARS || /\s/.test(opts.host)) throw new Error(`--host "${opts.host.slice(0, 40)}" is not a host name or address`);
      const result = await withClusterClient(topology, async (client) => {
        const taken = usedIds(topology, await client.statuses(2_000)).get(id);
        if (taken !== undefined && taken !== opts.partition) throw new Error(`replica id ${id} is already used in partition ${taken}; pick an id no replica uses`);
        return client.changeMember(opts.partition, 'add', id, { host: opts.host, clientPort: opts.clientPort, raftPort: opts.raftPort }, Date.now() + opts.timeout);
      });
      process.stdout.write(`replica ${id} joins partition ${opts.partition} as a learner; partition ${opts.partition}: ${describeMembers(result)}\n`);
      process.stdout.write(`start it on ${opts.host} with:\n  ${joinCommand(id, opts)}\n`);
      process.stdout.write('it is sent a snapshot and the log, and becomes a voter by itself once it has caught up (see ecom member list)\n');
    });
}

/** The exact command line that starts a replica added by `member add`. */
export function joinCommand(id: number, opts: { partition: number; host: string; clientPort: number; raftPort: number; storageConfig?: string; clusterSecret?: string }): string {
  const words = ['ecom', 'storage', String(id), '--join', '--partition', String(opts.partition), '--host', opts.host, '--client-port', String(opts.clientPort), '--raft-port', String(opts.raftPort), '--data', './data'];
  if (opts.storageConfig !== undefined) words.push('--storage-config', resolve(opts.storageConfig));
  if (opts.clusterSecret !== undefined) words.push('--cluster-secret', resolve(opts.clusterSecret));
  return words.map((w) => (/^[\w./:=@-]+$/.test(w) ? w : `'${w.replaceAll("'", "'\\''")}'`)).join(' ');
}

function checkPartition(topology: Topology, partition: number): void {
  if (partition >= topology.partitions) throw new Error(`there are ${topology.partitions} partitions (0 to ${topology.partitions - 1}); no partition ${partition}`);
}

function describeMembers(result: MemberChangeResult): string {
  const of = (role: MemberView['role']) => result.members.filter((m) => m.role === role).map((m) => m.id).join(', ') || 'none';
  return `voters ${of('voter')}; learners ${of('learner')}`;
}

const answered = (statuses: Statuses): ReplicaStatus[] => statuses.filter((s): s is ReplicaStatus => !('unreachable' in s));

/** The status whose membership to trust for a partition: its leader's, else the most advanced. */
function bestView(statuses: Statuses, partition: number): ReplicaStatus | undefined {
  const mine = answered(statuses).filter((s) => s.partition === partition && s.members !== undefined);
  return mine.find((s) => s.role === 'leader') ?? mine.sort((a, b) => b.commitIndex - a.commitIndex)[0];
}

function usedIds(topology: Topology, statuses: Statuses): Map<number, number> {
  const used = new Map<number, number>();
  for (const r of topology.replicas) used.set(r.id, r.partition);
  for (const s of statuses) used.set(s.id, s.partition);
  for (const s of answered(statuses)) for (const m of s.members ?? []) used.set(m.id, s.partition);
  return used;
}

function partitionOfMember(topology: Topology, statuses: Statuses, id: number): number {
  for (let p = 0; p < topology.partitions; p++) if (bestView(statuses, p)?.members?.some((m) => m.id === id)) return p;
  throw new Error(`replica ${id} is a member of no partition that answered (ecom member list shows them); give --partition if its partition has no leader now`);
}

interface MemberRow {
  readonly id: number;
  readonly role: string;
  readonly address?: string;
  readonly match?: number;
  readonly state: string;
}

function membersByPartition(topology: Topology, statuses: Statuses): Array<{ partition: number; leader: number; term: number; commit: number; members: MemberRow[] }> {
  return Array.from({ length: topology.partitions }, (_, partition) => {
    const view = bestView(statuses, partition);
    const members: MemberRow[] = (view?.members ?? []).map((m) => {
      const follower = view?.followers?.find((f) => f.id === m.id);
      const status = statuses.find((s) => s.id === m.id);
      const state = status === undefined ? 'not asked' : 'unreachable' in status ? 'down' : m.id === view?.id && view.role === 'leader' ? 'leader' : follower?.active === false ? 'not answering the leader' : status.role;
      return { id: m.id, role: m.role, ...(m.address ? { address: `${m.address.host}:${m.address.clientPort} raft ${m.address.raftPort}` } : {}), ...(follower ? { match: follower.match } : m.id === view?.id ? { match: view.lastIndex } : {}), state };
    });
    return { partition, leader: view?.role === 'leader' ? view.id : 0, term: view?.term ?? 0, commit: view?.commitIndex ?? 0, members };
  });
}

export function formatMembers(topology: Topology, statuses: Statuses): string {
  const lines: string[] = [];
  for (const p of membersByPartition(topology, statuses)) {
    if (p.members.length === 0) {
      const tried = statuses.filter((s) => s.partition === p.partition).map((s) => `${s.id}${'unreachable' in s ? ` (${s.unreachable})` : ''}`);
      lines.push(`partition ${p.partition}: no replica answers; tried ${tried.join(', ') || 'none'}`);
      continue;
    }
    lines.push(`partition ${p.partition}: ${p.leader === 0 ? 'no leader answers (members as the most advanced replica has them)' : `leader ${p.leader}, term ${p.term}, commit ${p.commit}`}`);
    for (const m of p.members) lines.push(`  replica ${String(m.id).padEnd(4)} ${m.role.padEnd(8)} ${(m.address ?? 'address unknown').padEnd(32)} ${m.match === undefined ? '' : `holds ${m.match}  `}${m.state}`);
    const strays = answered(statuses).filter((s) => s.partition === p.partition && !p.members.some((m) => m.id === s.id));
    for (const s of strays) lines.push(`  replica ${String(s.id).padEnd(4)} not a member, still running (${s.role}): stop it`);
  }
  return `${lines.join('\n')}\n`;
}
