import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterView, ReplicaView } from '../../src/dashboard/cluster-view.js';
import { serveDashboard } from '../../src/dashboard/serve.js';
import type { Dashboard } from '../../src/dashboard/server.js';
import type { TimelineEvent } from '../../src/dashboard/timeline.js';
import { StorageTier } from '../../src/modes/raft/storage-tier.js';
import { tierControls } from '../../src/modes/raft/tier-controls.js';
import { PartitionedBackend } from '../../src/storage/client/partitioned-backend.js';
import { ReplicaClusterClient } from '../../src/storage/client/cluster-client.js';
import { freeLocalTopology, type Topology } from '../../src/storage/common/topology.js';
import { silentLogger } from '../../src/util/log.js';

/**
 * Cut and heal from the dashboard, on the storage tier as `ecom up` runs it with its link proxies
 * (one process per replica, every Raft link through a proxy of this process): cutting a leader
 * off makes its partition elect another replica, and healing lets the old leader back in as a
 * follower that catches up with what was written meanwhile.
 */

interface State {
  view?: ClusterView;
  events: TimelineEvent[];
  controls: { enabled: boolean; why: string; links?: { enabled: boolean; why: string } };
}

let dir: string;
let tier: StorageTier;
let dashboard: Dashboard;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ecom-links-'));
  tier = new StorageTier({ topology: await freeLocalTopology(), dataDir: dir, linkProxies: true });
  try {
    await tier.start();
  } catch (err) {
    await tier.stop();
    throw err;
  }
  dashboard = await serveDashboard({ topology: tier.topology, host: '127.0.0.1', port: 0, controls: tierControls(tier), log: silentLogger });
}, 60_000);

afterAll(async () => {
  await dashboard?.close();
  await tier?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function post(path: string): Promise<{ status: number; body: { text?: string; error?: string } }> {
  const response = await fetch(new URL(path, dashboard.url), { method: 'POST', headers: { origin: `http://127.0.0.1:${dashboard.port}` } });
  return { status: response.status, body: (await response.json()) as { text?: string; error?: string } };
}

/** Resolves with the first state pushed on the dashboard's stream that satisfies `ok`: the page's own view of events. */
async function pushedState(ok: (s: State) => boolean, timeout_ms: number, what: string): Promise<State> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeout_ms);
  let state: State = { events: [], controls: { enabled: false, why: '' } };
  const events: TimelineEvent[] = [];
  try {
    const response = await fetch(new URL('api/stream', dashboard.url), { signal: abort.signal });
    let buffer = '';
    for await (const chunk of response.body!.pipeThrough(new TextDecoderStream())) {
      buffer += chunk;
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const data = /^data: (.*)$/m.exec(buffer.slice(0, end))?.[1];
        buffer = buffer.slice(end + 2);
        if (data === undefined) continue;
        const message = JSON.parse(data) as Partial<State> & { view?: ClusterView; events: TimelineEvent[] };
        events.push(...message.events);
        state = { ...state, ...message, events: [...events] };
        if (ok(state)) return state;
      }
    }
  } catch (err) {
    if (!abort.signal.aborted) throw err;
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
  throw new Error(`not seen within ${timeout_ms} ms: ${what}; last view:\n${JSON.stringify(state.view, null, 1).slice(0, 3000)}`);
}

const partition0 = (s: State) => s.view?.partitions[0];
const replica = (s: State, id: number): ReplicaView | undefined => partition0(s)?.replicas.find((r) => r.id === id);

function writer(topology: Topology): PartitionedBackend {
  return new PartitionedBackend(new ReplicaClusterClient(topology), { requestTimeout_ms: 10_000 });
}

describe('cutting and healing a replica from the dashboard', () => {
  it("routes each replica's Raft links through this process's proxies, and says cut and heal work", async () => {
    const own = JSON.parse(readFileSync(join(dir, 'topology-replica-1.json'), 'utf8')) as Topology;
    const real = tier.topology.replicas;
    expect(own.replicas.find((r) => r.id === 1)?.raftPort, "its own Raft port is the real one").toBe(real.find((r) => r.id === 1)?.raftPort);
    expect(own.replicas.find((r) => r.id === 2)?.raftPort, "a peer's is its proxy's").not.toBe(real.find((r) => r.id === 2)?.raftPort);
    expect(own.replicas.find((r) => r.id === 4)?.raftPort, 'another partition is left as it is').toBe(real.find((r) => r.id === 4)?.raftPort);
    const state = await pushedState((s) => s.view !== undefined, 5_000, 'a first view');
    expect(state.controls.links).toEqual({ enabled: true, why: expect.stringContaining('cut drops every Raft message') as string });
  });

  it('cut the leader: another is elected; heal: it rejoins as a follower and catches up', { timeout: 60_000 }, async () => {
    const before = await pushedState((s) => (partition0(s)?.leader ?? 0) !== 0, 20_000, 'a leader of partition 0');
    const old = partition0(before)!.leader;
    const peers = partition0(before)!.replicas.map((r) => r.id).filter((id) => id !== old);
    const cut = await post(`/api/replicas/${old}/cut`);
    expect(cut).toEqual({ status: 200, body: expect.objectContaining({ text: `replica ${old} cut off from its peers: its Raft links to and from ${peers.join(', ')} drop everything until healed` }) as unknown });
    const elected = await pushedState((s) => peers.includes(partition0(s)?.leader ?? 0) && replica(s, old)?.role !== 'leader', 15_000, `a leader of partition 0 other than ${old}, and ${old} no longer leading`);
    const cutOff = replica(elected, old)!;
    expect(cutOff.process?.cut, 'the cut replica is marked').toBe(true);
    expect(cutOff.down, 'a cut replica still answers the dashboard: only its Raft links are cut').toBeUndefined();
    expect(partition0(elected)!.term).toBeGreaterThan(partition0(before)!.term);
    expect((await post(`/api/replicas/${old}/cut`)).body.error).toBe(`replica ${old} is cut off already; heal it`);

    // Written while it is cut off: it holds none of it until healed.
    const backend = writer(tier.topology);
    try {
      for (let i = 0; i < 30; i++) expect(await backend.execute({ op: 'CreateClient', cid: `cut-${i}`, data: '{"name": "written while cut"}' })).toEqual({ code: 0 });
    } finally {
      await backend.close();
    }
    const written = await pushedState((s) => (replica(s, partition0(s)!.leader)?.commitIndex ?? 0) > (replica(s, old)?.lastIndex ?? 0), 10_000, 'the new leader committed past the cut replica');
    const target = replica(written, partition0(written)!.leader)!.commitIndex!;

    expect((await post(`/api/replicas/${old}/heal`)).body.text).toBe(`replica ${old} healed: its Raft links to and from ${peers.join(', ')} pass again`);
    const healed = await pushedState(
      (s) => {
        const r = replica(s, old);
        return r?.role === 'follower' && r.term === partition0(s)!.term && (r.appliedIndex ?? 0) >= target && r.process?.cut === false;
      },
      20_000,
      `replica ${old} a follower of the current term, applied to ${target}`,
    );
    expect(peers).toContain(partition0(healed)!.leader);
    const texts = healed.events.map((e) => e.text);
    expect(texts).toContain(`you: replica ${old} healed: its Raft links to and from ${peers.join(', ')} pass again`);
    expect((await post(`/api/replicas/${old}/heal`)).body.error).toBe(`replica ${old}'s links are not cut; cut it first`);
  });

  it('a cut replica restarted from the page comes back still cut, and heals', { timeout: 60_000 }, async () => {
    const partition1 = (s: State) => s.view?.partitions[1];
    const six = (s: State) => partition1(s)?.replicas.find((r) => r.id === 6);
    const before = await pushedState((s) => six(s)?.process?.running === true && (partition1(s)?.leader ?? 0) !== 0, 20_000, 'partition 1 led, replica 6 running');
    expect((await post('/api/replicas/6/cut')).status).toBe(200);
    expect((await post('/api/replicas/6/restart')).body.text).toMatch(/^restarted replica 6 \(pid \d+\)$/);
    const oldPid = six(before)?.process?.pid;
    await pushedState((s) => six(s)?.down === undefined && six(s)?.process?.pid !== oldPid, 20_000, 'replica 6 answering from its new process');
    // Its peers' links to it are cut in their proxies whatever it runs with; its own go through its proxies only if it starts with its own topology.
    expect(tier.replicas.get(6)?.process.spawnargs, 'the restarted replica dials its peers through its proxies').toContain(join(dir, 'topology-replica-6.json'));
    const backend = writer(tier.topology);
    try {
      // Odd numeric IDs: partition 1's (partitioning.ts).
      for (let i = 0; i < 20; i++) expect(await backend.execute({ op: 'CreateClient', cid: String(70_001 + 2 * i), data: '{"name": "x"}' })).toEqual({ code: 0 });
    } finally {
      await backend.close();
    }
    const leaderCommit = (s: State) => partition1(s)!.replicas.find((r) => r.id === partition1(s)!.leader)?.commitIndex ?? 0;
    const cutOff = await pushedState((s) => ![0, 6].includes(partition1(s)!.leader) && leaderCommit(s) >= (six(before)?.lastIndex ?? 0) + 20, 10_000, "partition 1's leader committed the 20 writes");
    // Had the restart given it its links back, the leader's heartbeats would have named the leader to it by now.
    expect(six(cutOff)?.leader, 'the restarted replica heard from no leader').toBe(0);
    expect(six(cutOff)?.process?.cut).toBe(true);
    const commit = leaderCommit(cutOff);
    expect(six(cutOff)!.lastIndex!, 'it holds none of what was written').toBeLessThan(commit);
    expect((await post('/api/replicas/6/heal')).status).toBe(200);
    await pushedState((s) => six(s)?.role === 'follower' && (six(s)?.appliedIndex ?? 0) >= commit && six(s)?.process?.cut === false, 20_000, `replica 6 a follower again, applied to ${commit}`);
  });

  it('keeps the link between two cut replicas cut when one of them is healed', async () => {
    const [a, b] = [4, 5];
    expect((await post(`/api/replicas/${a}/cut`)).status).toBe(200);
    expect((await post(`/api/replicas/${b}/cut`)).status).toBe(200);
    expect((await post(`/api/replicas/${a}/heal`)).body.text).toBe(`replica ${a} healed: its Raft links to and from 5, 6 pass again (not with 5, cut off itself)`);
    expect(tier.links?.isCut(b)).toBe(true);
    expect((await post(`/api/replicas/${b}/heal`)).status).toBe(200);
    const whole = await pushedState((s) => s.view?.partitions[1]?.replicas.every((r) => r.process?.cut === false && r.down === undefined) === true, 5_000, 'partition 1 healed');
    expect(whole.view?.partitions[1]?.replicas).toHaveLength(3);
  });
});
