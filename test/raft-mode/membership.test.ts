import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ReplicaClusterClient, withClusterClient } from '../../src/storage/client/cluster-client.js';
import type { ReplicaStatus } from '../../src/storage/common/protocol.js';
import { Recorder } from '../../src/chaos/history.js';
import { checkRegister, runRegister } from '../../src/chaos/register.js';
import { runEcom } from '../helpers/ecom.js';
import { testSeed } from '../helpers/seed.js';
import { freePort } from '../helpers/ports.js';
import { startRaftCluster, type RaftCluster } from './cluster.js';
import { expectAllPresent, writeStream } from './write-stream.js';

/**
 * Membership changes online, on real processes, under a write load (issue #16 item 1): the
 * commands an operator types (`ecom member ...`, the `ecom storage --join` line it prints), a
 * replaced replica, a grown and shrunk partition, and the changes that must be refused.
 */
let cluster: RaftCluster | undefined;
afterEach(async (context) => {
  if (context.task.result?.state === 'fail' && cluster !== undefined) {
    // The replicas' own words, before the folder goes: what they did says why the test failed.
    for (const name of cluster.tier.processes.names()) console.log(`--- ${name}\n${tail(join(cluster.dataDir, 'logs', `${name}.log`))}`);
  }
  await cluster?.stop();
  cluster = undefined;
  joined.clear();
});

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch (err) {
    return (err as Error).message;
  }
}

function live(): RaftCluster {
  if (cluster === undefined) throw new Error('no cluster');
  return cluster;
}

async function ecom(...args: string[]) {
  return runEcom([...args, '--storage-config', live().tier.configFile], { timeout_ms: 40_000 });
}

/** The partition's membership as its leader has it. */
async function membersOf(partition: number): Promise<{ voters: number[]; learners: number[]; leader: ReplicaStatus }> {
  const statuses = await withClusterClient(live().topology, (client) => client.statuses(1_000));
  const leader = statuses.find((s): s is ReplicaStatus => !('unreachable' in s) && s.partition === partition && s.role === 'leader');
  if (leader === undefined) throw new Error(`partition ${partition} has no leader now`);
  const of = (role: string) => (leader.members ?? []).filter((m) => m.role === role).map((m) => m.id);
  return { voters: of('voter'), learners: of('learner'), leader };
}

async function waitForMembers(partition: number, voters: number[], timeout_ms = 30_000): Promise<void> {
  const deadline = Date.now() + timeout_ms;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const m = await membersOf(partition);
      last = `voters ${m.voters.join(',')} learners ${m.learners.join(',')}`;
      if (m.learners.length === 0 && m.voters.join(',') === voters.join(',')) return;
    } catch (err) {
      last = (err as Error).message;
    }
    // Promotion happens inside the leader; from outside there is only its status to poll.
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`partition ${partition} did not reach voters ${voters.join(',')} in time (last: ${last})`);
}

/** Waits until the leader of `partition` hears from every one of `ids` (restarted replicas are back). */
async function waitForActive(partition: number, ids: number[], timeout_ms = 30_000): Promise<void> {
  const deadline = Date.now() + timeout_ms;
  let seen = '';
  while (Date.now() < deadline) {
    const leader = await membersOf(partition).then((m) => m.leader, () => undefined);
    seen = JSON.stringify(leader?.followers);
    const active = new Set([leader?.id, ...(leader?.followers ?? []).filter((f) => f.active && f.state === 'replicate').map((f) => f.id)]);
    if (leader !== undefined && ids.every((id) => active.has(id))) return;
    // Replicas rejoining have no event visible from outside: poll the leader's view.
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the leader of partition ${partition} did not hear from all of ${ids.join(', ')} in time (its followers: ${seen})`);
}

/** The command line each replica added by a test was started with, to restart it the same way. */
const joined = new Map<number, string[]>();

/** Starts a killed replica again with the command it ran: from --storage-config, or the --join line. */
function restart(id: number): void {
  const args = joined.get(id);
  if (args === undefined) live().tier.startReplica(id);
  else live().tier.processes.start(`storage-${id}`, args);
}

/** `ecom member add` a new replica on free ports, then starts it with the command it printed. */
async function addReplica(id: number, partition: number): Promise<string> {
  const [clientPort, raftPort] = [await freePort(), await freePort()];
  const run = await ecom('member', 'add', String(id), '--partition', String(partition), '--host', '127.0.0.1', '--client-port', String(clientPort), '--raft-port', String(raftPort));
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  const line = run.stdout.split('\n').find((l) => l.trim().startsWith('ecom storage'));
  expect(line, run.stdout).toBeDefined();
  const args = line!.trim().split(' ').slice(1);
  expect(args).toEqual(expect.arrayContaining(['--join', '--client-port', String(clientPort), '--raft-port', String(raftPort), '--storage-config', live().tier.configFile]));
  args[args.indexOf('--data') + 1] = live().dataDir;
  joined.set(id, args);
  live().tier.processes.start(`storage-${id}`, args);
  return run.stdout;
}

// docs/spec.md: R-CLI-14 (ecom member list/add/promote/remove and ecom storage --join, used as an operator would below)
describe('membership changes online', () => {
  it('replaces replica 1 by a new replica 7 under load, then survives kill -9 of the leader', async () => {
    cluster = await startRaftCluster({ snapshotEvery_entries: 300 });
    const backend = cluster.backend({ requestTimeout_ms: 10_000 });
    const stream = writeStream(backend, 'r');
    // Beside the writers, registers read and written by other clients, checked for linearizability.
    const recorder = new Recorder();
    let registers = true;
    const registerRun = runRegister({ backends: [cluster.backend({ requestTimeout_ms: 10_000 })], clients: 4, seed: testSeed('membership registers'), recorder, running: () => registers });
    await stream.progress(600);
    const changesFrom = stream.answered();
    const added = await addReplica(7, 0);
    expect(added).toMatch(/replica 7 joins partition 0 as a learner; partition 0: voters 1, 2, 3; learners 7/);
    await waitForMembers(0, [1, 2, 3, 7]);
    await stream.progress(200);
    const removed = await ecom('member', 'remove', '1');
    expect(removed.stderr).toBe('');
    expect(removed.stdout).toMatch(/replica 1 is no longer a member; partition 0: voters 2, 3, 7; learners none/);
    await cluster.tier.replicas.get(1)!.stop();
    await stream.progress(200);
    const list = await ecom('member', 'list');
    expect(list.stdout).toMatch(/partition 0: leader \d, term \d+/);
    expect(list.stdout).toMatch(/replica 7 +voter +127\.0\.0\.1:\d+ raft \d+/);
    expect(list.stdout).not.toMatch(/replica 1 /);

    console.log(`replace 1 by 7 (add, catch up, promote, remove), 8 writers: ${stream.figures(changesFrom)}`);
    const { leader } = await membersOf(0);
    const killFrom = stream.answered();
    await cluster.tier.processes.child(`storage-${leader.id}`)!.kill();
    await stream.progress(300);
    console.log(`kill -9 of leader ${leader.id} after the replacement, 8 writers: ${stream.figures(killFrom)}`);
    restart(leader.id);
    await waitForActive(0, [2, 3, 7]);
    await stream.stop();
    registers = false;
    await registerRun;
    const { checked, violations } = checkRegister(recorder.ops);
    console.log(`linearizability: ${checked} register operations checked`);
    expect(checked).toBeGreaterThan(100);
    expect(violations).toEqual([]);
    expect(stream.failures).toEqual([]);
    await expectAllPresent(backend, stream.acked);
    // A portal started from the original --storage-config (no replica 7) finds the new members.
    const fresh = new ReplicaClusterClient(cluster.topology);
    try {
      const statuses = await fresh.statuses(1_000);
      expect(statuses.some((s) => s.id === 7 && !('unreachable' in s))).toBe(true);
      expect(fresh.replicasOf(0).map((r) => r.id).sort()).toEqual([2, 3, 7]);
    } finally {
      await fresh.close();
    }
  }, 120_000);

  it('grows partition 0 to five voters, keeps writing with two of them killed, and shrinks back to three', async () => {
    cluster = await startRaftCluster();
    const backend = cluster.backend({ requestTimeout_ms: 10_000 });
    const stream = writeStream(backend, 'g');
    // A portal's client whose leader does not change: it must learn of 7 and 8 all the same.
    const portal = new ReplicaClusterClient(cluster.topology);
    await portal.read(0, 'client', 'nobody', Date.now() + 5_000);
    await stream.progress(300);
    await addReplica(7, 0);
    await waitForMembers(0, [1, 2, 3, 7]);
    await addReplica(8, 0);
    await waitForMembers(0, [1, 2, 3, 7, 8]);
    await stream.progress(200);
    try {
      const deadline = Date.now() + 15_000;
      // It asks the leader every few seconds, on the back of a call; reads are the calls here.
      while (portal.replicasOf(0).length < 5 && Date.now() < deadline) {
        await portal.read(0, 'client', 'nobody', Date.now() + 5_000);
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(portal.replicasOf(0).map((r) => r.id).sort()).toEqual([1, 2, 3, 7, 8]);
    } finally {
      await portal.close();
    }
    // Five voters take two down: kill -9 two of them, the leader among them.
    const { leader } = await membersOf(0);
    const victims = [leader.id, [1, 2, 3, 7, 8].find((id) => id !== leader.id)!];
    for (const id of victims) await cluster.tier.processes.child(`storage-${id}`)!.kill();
    await stream.progress(300);
    for (const id of victims) restart(id);
    await waitForActive(0, [1, 2, 3, 7, 8]);
    for (const id of [7, 8]) {
      const run = await ecom('member', 'remove', String(id));
      expect(run.stderr, `remove ${id}`).toBe('');
    }
    await waitForMembers(0, [1, 2, 3]);
    for (const id of [7, 8]) await cluster.tier.processes.child(`storage-${id}`)!.stop();
    await stream.progress(300);
    await stream.stop();
    expect(stream.failures).toEqual([]);
    await expectAllPresent(backend, stream.acked);
  }, 150_000);

  it('refuses what would lose the quorum, a second change at once, and ids in use', async () => {
    cluster = await startRaftCluster({ partitions: 2, replicasPerPartition: 3 });
    const { leader } = await membersOf(1);
    const down = [4, 5, 6].find((id) => id !== leader.id)!;
    const healthy = [4, 5, 6].find((id) => id !== leader.id && id !== down)!;
    await cluster.tier.replicas.get(down)!.stop();
    // The leader counts a voter as down once it has not answered for an election timeout.
    for (let i = 0; i < 50 && (await membersOf(1)).leader.followers?.find((f) => f.id === down)?.active !== false; i++) await new Promise((r) => setTimeout(r, 50));
    const refused = await ecom('member', 'remove', String(healthy));
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(new RegExp(`removing replica ${healthy} would leave partition 1 with voters .*of which ${down} do not answer the leader now.*quorum`));
    expect((await membersOf(1)).voters).toEqual([4, 5, 6]);

    const taken = await ecom('member', 'add', '2', '--partition', '1', '--host', '127.0.0.1', '--client-port', '1', '--raft-port', '2');
    expect(taken.stderr).toMatch(/replica id 2 is already used in partition 0/);
    const notLearner = await ecom('member', 'promote', '9', '--partition', '1');
    expect(notLearner.stderr).toMatch(/replica 9 is not a learner of partition 1/);

    // Two changes at once: the second is refused while the first is under way.
    const client = new ReplicaClusterClient(cluster.topology);
    try {
      await client.changeMember(1, 'promote', healthy, {}, Date.now() + 5_000); // a voter already: answers at once, and finds the leader
      const at = (id: number) => ({ host: '127.0.0.1', clientPort: 40_000 + id, raftPort: 41_000 + id });
      const both = await Promise.allSettled([client.changeMember(1, 'add', 8, at(8), Date.now() + 10_000), client.changeMember(1, 'add', 9, at(9), Date.now() + 10_000)]);
      expect(both[0].status).toBe('fulfilled');
      expect(both[1].status).toBe('rejected');
      expect(String((both[1] as PromiseRejectedResult).reason)).toMatch(/already changing its membership \(add replica 8\)/);
      const early = await ecom('member', 'promote', '8');
      expect(early.stderr).toMatch(/replica 8 has not caught up yet/);
    } finally {
      await client.close();
    }
    // Removing the voter that is down leaves two that answer: allowed.
    const ok = await ecom('member', 'remove', String(down));
    expect(ok.stderr).toBe('');
    expect((await membersOf(1)).voters).toEqual([4, 5, 6].filter((id) => id !== down));
  }, 90_000);
});
