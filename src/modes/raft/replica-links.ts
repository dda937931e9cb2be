import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LinkProxy, type LinkState } from '../../net/link-proxy.js';
import { validateTopology, type ReplicaAddress, type Topology } from '../../storage/common/topology.js';
import { defined } from '../../util/assert.js';
import { isLoopback } from '../../util/loopback.js';
import { freePort } from '../../util/ports.js';

/**
 * The Raft links between the replicas `ecom up` started, each direction through a LinkProxy this
 * process owns, so the dashboard can cut a replica off from its peers and heal it (issue #14).
 *
 * Each replica gets its own topology file in which every peer's Raft port is the proxy of the
 * link "me → peer"; the portals, `ecom status` and the dashboard keep the plain topology, so only
 * replica-to-replica traffic passes here. The chaos suite's raft cluster (src/chaos/raft-cluster.ts)
 * runs its replicas the same way, and its nemesis sets each direction of a link on its own.
 */

/** More proxies than this (R·(R−1) per partition) is no teaching cluster: ecom up runs without them. */
export const MAX_LINK_PROXIES = 1_000;

/** Why this topology's links cannot be proxied by `ecom up`, or undefined when they can. */
export function linkProxiesRefusal(topology: Topology): string | undefined {
  const remote = topology.replicas.filter((r) => !isLoopback(r.host));
  if (remote.length > 0) return `replica ${remote.map((r) => `${r.id} (${r.host})`).join(', ')} is not on loopback, and links are cut only on this machine`;
  const count = proxyCount(topology);
  if (count > MAX_LINK_PROXIES) return `the topology has ${count} Raft links, more than the ${MAX_LINK_PROXIES} proxies ecom up puts on them`;
  return undefined;
}

function proxyCount(topology: Topology): number {
  let count = 0;
  for (let p = 0; p < topology.partitions; p++) {
    const size = topology.replicas.filter((r) => r.partition === p).length;
    count += size * (size - 1);
  }
  return count;
}

export class ReplicaLinks {
  /** `${from}->${to}` → the proxy that carries from's Raft messages to `to`. */
  private readonly proxies = new Map<string, LinkProxy>();
  private readonly files = new Map<number, string>();
  private readonly isolated = new Set<number>();

  private constructor(private readonly topology: Topology) {}

  /**
   * Listens on a proxy per link and writes each process's topology file into `dir`; refuses a
   * topology linkProxiesRefusal refuses. `hosted`: the replicas each process hosts (one each by
   * default; one of every partition when colocated).
   */
  static async open(topology: Topology, dir: string, hosted: ReadonlyArray<readonly number[]> = topology.replicas.map((r) => [r.id])): Promise<ReplicaLinks> {
    const refusal = linkProxiesRefusal(topology);
    if (refusal !== undefined) throw new Error(`no link proxies: ${refusal}`);
    const links = new ReplicaLinks(topology);
    try {
      for (const group of hosted) await links.prepare(group, dir);
    } catch (err) {
      await links.close();
      throw err;
    }
    return links;
  }

  /**
   * The topology file of the process hosting `group`: every peer's Raft port is the proxy of the
   * link from the hosted replica of that peer's partition. A colocated process's replicas talk to
   * their own partitions' peers only, so one file serves them all.
   */
  private async prepare(group: readonly number[], dir: string): Promise<void> {
    const hosted = group.map((id) => defined(this.topology.replicas.find((r) => r.id === id), `replica ${id} of the topology`));
    const view: ReplicaAddress[] = [];
    for (const other of this.topology.replicas) {
      const self = hosted.find((r) => r.partition === other.partition);
      if (self === undefined || self.id === other.id) {
        view.push(other);
        continue;
      }
      const proxy = await listening(linkName(self.id, other.id), other);
      this.proxies.set(proxy.name, proxy);
      view.push({ ...other, raftPort: proxy.port });
    }
    const file = join(dir, `topology-replica-${group.join('_')}.json`);
    writeFileSync(file, `${JSON.stringify(validateTopology({ ...this.topology, replicas: view }), null, 2)}\n`);
    for (const id of group) this.files.set(id, file);
  }

  /** The topology file the process of replica `id` starts with: its peers' Raft ports are its proxies. */
  topologyFileOf(id: number): string {
    return defined(this.files.get(id), `the topology file of replica ${id}`);
  }

  isCut(id: number): boolean {
    return this.isolated.has(id);
  }

  /** The other replicas of `id`'s partition. */
  peersOf(id: number): number[] {
    const partition = defined(this.topology.replicas.find((r) => r.id === id), `replica ${id} of the topology`).partition;
    return this.topology.replicas.filter((r) => r.partition === partition && r.id !== id).map((r) => r.id);
  }

  /** Drops every Raft message to and from `id`: open connections are closed and new ones refused. */
  cut(id: number): void {
    this.isolated.add(id);
    for (const peer of this.peersOf(id)) this.setBoth(id, peer, 'drop');
  }

  /** Lets `id`'s links pass again, except those to a peer that is cut off itself; returns those peers. */
  heal(id: number): number[] {
    this.isolated.delete(id);
    const stillCut: number[] = [];
    for (const peer of this.peersOf(id)) {
      if (this.isolated.has(peer)) stillCut.push(peer);
      else this.setBoth(id, peer, 'pass');
    }
    return stillCut;
  }

  /** Sets one direction of the link between two replicas of a partition: `from`'s messages to `to`. */
  set(from: number, to: number, state: LinkState): void {
    defined(this.proxies.get(linkName(from, to)), `the link ${linkName(from, to)}`).set(state);
  }

  /** Lets every link pass again and forgets every cut. */
  passAll(): void {
    this.isolated.clear();
    for (const proxy of this.proxies.values()) proxy.set('pass');
  }

  private setBoth(a: number, b: number, state: LinkState): void {
    this.set(a, b, state);
    this.set(b, a, state);
  }

  async close(): Promise<void> {
    await Promise.all([...this.proxies.values()].map((proxy) => proxy.close()));
    this.proxies.clear();
  }
}

/** Tries to listen this many times, a new free port each time, before ecom up gives up. */
const LISTEN_ATTEMPTS = 3;

/**
 * A proxy to `target`'s Raft port, listening. A free port can be taken by another program between
 * freePort's probe and the listen: that costs a retry on another port, not `ecom up`.
 */
async function listening(name: string, target: ReplicaAddress): Promise<LinkProxy> {
  for (let attempt = 1; ; attempt++) {
    const proxy = new LinkProxy(name, await freePort(target.host), target.raftPort, target.host);
    try {
      await proxy.listen();
      return proxy;
    } catch (err) {
      await proxy.close();
      if (attempt >= LISTEN_ATTEMPTS) throw err;
    }
  }
}

function linkName(from: number, to: number): string {
  return `${from}->${to}`;
}
