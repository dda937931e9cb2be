import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, onTestFinished } from 'vitest';
import { PrintedLines } from '../../src/util/printed-lines.js';
import { parseExposition } from '../../src/metrics/exposition.js';
import type { ReplicaStatus } from '../../src/storage/common/protocol.js';
import { defaultTopology } from '../../src/storage/common/topology.js';
import { colocatedGroups, hostedReplicasProblem } from '../../src/storage/common/colocation.js';
import { waitForPort } from '../../src/util/processes.js';
import { runEcom } from '../helpers/ecom.js';
import { withClusterClient } from '../../src/storage/client/cluster-client.js';
import { clusterStatuses, sharedRaftCluster } from './cluster.js';
import { expectAllPresent, writeStream } from './write-stream.js';

/**
 * Colocated storage (issue #12 lever 4, `ecom up --colocate`): three `ecom storage I J`
 * processes, each hosting one replica of both partitions. They serve both partitions, a kill -9
 * of one (one replica of each partition) costs no acknowledged write, and a process is refused
 * two replicas of one partition.
 */
const cluster = sharedRaftCluster({ colocate: true });

describe('colocated storage tier', () => {
  it('runs 2 partitions × 3 replicas in three processes, one replica of each partition apiece', () => {
    expect(cluster.tier.hosted).toEqual([
      [1, 4],
      [2, 5],
      [3, 6],
    ]);
    const pids = cluster.tier.pids();
    expect(new Set(pids).size).toBe(3);
    expect(cluster.tier.replicas.get(1)?.pid).toBe(cluster.tier.replicas.get(4)?.pid);
    expect(cluster.tier.replicas.get(1)?.pid).not.toBe(cluster.tier.replicas.get(2)?.pid);
  });

  it('serves writes on both partitions and each hosted replica its own metrics series', { timeout: 60_000 }, async () => {
    const backend = cluster.backend({ requestTimeout_ms: 10_000 });
    const writes = writeStream(backend, 'colo', 4);
    await writes.progress(40);
    await writes.stop();
    expect(writes.failures).toEqual([]);
    await expectAllPresent(backend, writes.acked);
    const statuses = (await clusterStatuses(cluster.topology)) as ReplicaStatus[];
    expect(new Set(statuses.filter((s) => s.role === 'leader').map((s) => s.partition))).toEqual(new Set([0, 1]));
    const first = cluster.tier.metricsTargets().find((t) => t.process === 'storage-1_4');
    expect(first, 'the process hosting replicas 1 and 4 serves metrics').toBeDefined();
    const families = parseExposition(await (await fetch(first!.url)).text());
    const applied = families.find((f) => f.name === 'ecom_raft_applied_index');
    expect(applied?.samples.map((s) => s.labels.replica).sort()).toEqual(['1', '4']);
    expect(families.filter((f) => f.name === 'process_cpu_user_seconds_total').length, 'process metrics once').toBe(1);
  });

  it('a process that finds itself leading both partitions hands one to another process', { timeout: 60_000 }, async () => {
    const leader0 = (await cluster.leaders()).find((s) => s.partition === 0)!;
    const partner = cluster.tier.hostedWith(leader0.id).find((id) => id !== leader0.id)!;
    // Its lines come through a pipe that no status answer waits for: watched before the cause.
    const printed = new PrintedLines(cluster.tier.replicas.get(partner)!);
    onTestFinished(() => printed.stop());
    // Both leaders into one process by hand, as an election could put them.
    await withClusterClient(cluster.topology, (client) => client.transferLeader(1, partner, Date.now() + 10_000));
    const deadline = Date.now() + 20_000;
    let together = true;
    while (together && Date.now() < deadline) {
      // The spreading happens inside the process; from outside there is only the status to poll.
      await new Promise((r) => setTimeout(r, 100));
      const leaders = await cluster.leaders();
      const processes = new Set(leaders.map((s) => cluster.tier.replicas.get(s.id)?.pid));
      together = leaders.length < 2 || processes.size < 2;
    }
    expect(together, 'the two partitions are led from two processes').toBe(false);
    const handedOver = /this process leads several partitions: handing one leadership/;
    expect(await printed.first((line) => handedOver.test(line.text), 10_000)).toBeDefined();
  });

  it('kill -9 of one process (a replica of each partition): both partitions keep a leader, no acknowledged write is lost after its restart', { timeout: 120_000 }, async () => {
    const backend = cluster.backend({ requestTimeout_ms: 10_000 });
    const writes = writeStream(backend, 'colokill', 6);
    await writes.progress(40);
    const leader0 = (await cluster.leaders()).find((s) => s.partition === 0)!;
    const victims = cluster.tier.hostedWith(leader0.id);
    expect(victims).toHaveLength(2);
    await cluster.tier.replicas.get(leader0.id)!.kill();
    const leaders = await cluster.leaders();
    expect(new Set(leaders.map((s) => s.partition))).toEqual(new Set([0, 1]));
    expect(leaders.some((s) => victims.includes(s.id)), `no leader among the killed replicas ${victims.join(', ')}`).toBe(false);
    await writes.progress(40); // both partitions take writes with one replica each down
    const restarted = cluster.tier.startReplica(leader0.id);
    for (const id of victims) {
      const address = cluster.topology.replicas.find((r) => r.id === id)!;
      await waitForPort(address.host, address.clientPort, 30_000, restarted);
    }
    await writes.progress(20);
    await writes.stop();
    // Writes in flight at the kill may time out (their outcome unknown to the writer); none acknowledged may be missing.
    await expectAllPresent(backend, writes.acked);
    const statuses = await clusterStatuses(cluster.topology);
    expect(statuses.filter((s) => 'unreachable' in s)).toEqual([]);
  });
});

describe('which replicas one process may host', () => {
  const topology = defaultTopology();

  it('groups replica i of every partition', () => {
    expect(colocatedGroups(topology)).toEqual([
      [1, 4],
      [2, 5],
      [3, 6],
    ]);
  });

  it('takes one replica of each partition, refuses twins, repeats and strangers', () => {
    expect(hostedReplicasProblem(topology, [1])).toBeUndefined();
    expect(hostedReplicasProblem(topology, [7]), 'one id: a replica joining by ecom member add may be in no topology').toBeUndefined();
    expect(hostedReplicasProblem(topology, [1, 4])).toBeUndefined();
    expect(hostedReplicasProblem(topology, [1, 2])).toMatch(/replicas 1 and 2 both belong to partition 0/);
    expect(hostedReplicasProblem(topology, [4, 4])).toMatch(/replica 4 is named twice/);
    expect(hostedReplicasProblem(topology, [1, 9])).toMatch(/replica 9 is not in the storage topology/);
  });
});

describe('ecom storage with several ids', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ecom-colocate-args-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  for (const [args, message] of [
    [['1', '2'], /replicas 1 and 2 both belong to partition 0/],
    [['3', '3'], /replica 3 is named twice/],
    [['1', '40'], /replica 40 is not in the storage topology/],
    [['1', '4', '--join'], /--join starts one replica/],
    [['1', 'x'], /"x" is not a replica id/],
  ] as const) {
    it(`refuses ecom storage ${args.join(' ')} before it starts anything`, { timeout: 30_000 }, async () => {
      const run = await runEcom(['storage', ...args, '--data', dataDir]);
      expect(run.code, run.stderr).not.toBe(0);
      expect(run.stderr).toMatch(message);
    });
  }
});
