import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../util/ports.js';
import { spawnProgram, type EcomChild } from '../../util/processes.js';

/**
 * Starts a local etcd cluster (Debian's `etcd-server`) for `ecom up --mode etcd`, the tests and
 * the benchmark: each member a child process on loopback ports, killed if this process exits.
 */

export const ETCD_INSTALL_HINT =
  'etcd is not installed. On Debian or Ubuntu: sudo apt-get install etcd-server etcd-client ' +
  '(or pass --etcd http://HOST:2379 to use a cluster you already run; set ECOM_ETCD_BIN=/path/to/etcd if it is installed elsewhere).';

export function findEtcdBinary(explicit?: string): string | undefined {
  const chosen = explicit ?? process.env.ECOM_ETCD_BIN;
  // A path the user named is the only one tried: silently running another etcd would surprise.
  const candidates = chosen !== undefined && chosen !== '' ? [chosen] : ['/usr/bin/etcd', '/usr/local/bin/etcd'];
  return candidates.find((path) => existsSync(path));
}

export interface EtcdMember {
  readonly name: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  /** The running process, or undefined while the member is stopped. */
  process: EcomChild | undefined;
}

export interface LocalEtcdCluster {
  readonly members: readonly EtcdMember[];
  /** Client URLs of every member, for --etcd. */
  readonly endpoints: readonly string[];
  /** SIGKILL one member, like a crash. */
  kill(name: string): Promise<void>;
  /** Starts a killed member again on its old data. */
  restart(name: string): Promise<void>;
  /** The name of the current leader, asked of the members that are running. */
  leader(): Promise<string | undefined>;
  /** Waits until a majority of members is healthy (has a leader). */
  waitHealthy(timeout_ms: number): Promise<void>;
  /** Stops every member, one after the other, and, unless told to keep it, deletes the data directory. */
  stop(): Promise<void>;
}

export interface LocalEtcdOptions {
  readonly size?: number;
  readonly host?: string;
  /** Where member data goes; a new temporary directory when omitted (deleted on stop). */
  readonly dataDir?: string;
  /** First client port; peers use the ports after the client ports. 0 (default) picks free ports. */
  readonly basePort?: number;
  readonly binary?: string;
  /** Where member log lines go; dropped when omitted. */
  readonly onLine?: (member: string, line: string) => void;
  readonly start_timeout_ms?: number;
  /** etcd's limit of operations per transaction; ecom's orders of up to 1,000 products need 2,002. */
  readonly maxTxnOps?: number;
}

/** A port nothing listens on right now, kept clear of the kernel's ephemeral range (see util/ports.ts). */
export { freePort };

export async function startLocalEtcdCluster(options: LocalEtcdOptions = {}): Promise<LocalEtcdCluster> {
  const binary = findEtcdBinary(options.binary);
  if (binary === undefined) throw new Error(ETCD_INSTALL_HINT);
  const size = options.size ?? 3;
  if (size < 1 || size > 7) throw new Error(`a local etcd cluster has 1 to 7 members, not ${size}`);
  const host = options.host ?? '127.0.0.1';
  const ownsDataDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'ecom-etcd-')));
  const ports: number[] = [];
  for (let i = 0; i < 2 * size; i++) ports.push(options.basePort ? options.basePort + i : await freePort(host));
  const members: EtcdMember[] = [];
  for (let i = 0; i < size; i++) {
    const name = `etcd${i + 1}`;
    members.push({
      name,
      clientUrl: `http://${host}:${ports[i]}`,
      peerUrl: `http://${host}:${ports[size + i]}`,
      dataDir: join(dataDir, name),
      process: undefined,
    });
  }
  const cluster = new LocalEtcd(binary, members, options, ownsDataDir ? dataDir : undefined);
  try {
    for (const member of members) await cluster.launch(member, 'new');
    await cluster.waitHealthy(options.start_timeout_ms ?? 20_000);
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}

class LocalEtcd implements LocalEtcdCluster {
  readonly endpoints: readonly string[];
  private readonly initialCluster: string;
  private readonly token = `ecom-${process.pid}-${Date.now()}`;

  constructor(
    private readonly binary: string,
    readonly members: readonly EtcdMember[],
    private readonly options: LocalEtcdOptions,
    /** The data directory this cluster created and deletes on stop; undefined when the caller named one. */
    private readonly ownedDataDir: string | undefined,
  ) {
    this.endpoints = members.map((m) => m.clientUrl);
    this.initialCluster = members.map((m) => `${m.name}=${m.peerUrl}`).join(',');
  }

  async launch(member: EtcdMember, state: 'new' | 'existing'): Promise<void> {
    await mkdir(member.dataDir, { recursive: true, mode: 0o700 });
    const onLine = this.options.onLine;
    member.process = spawnProgram(this.binary, this.memberArgs(member, state), { name: member.name, onLine: onLine === undefined ? null : onLine });
  }

  private memberArgs(member: EtcdMember, state: 'new' | 'existing'): string[] {
    return [
      `--name=${member.name}`,
      `--data-dir=${member.dataDir}`,
      `--listen-client-urls=${member.clientUrl}`,
      `--advertise-client-urls=${member.clientUrl}`,
      `--listen-peer-urls=${member.peerUrl}`,
      `--initial-advertise-peer-urls=${member.peerUrl}`,
      `--initial-cluster=${this.initialCluster}`,
      `--initial-cluster-state=${state}`,
      `--initial-cluster-token=${this.token}`,
      // An order may touch up to 1,000 products: each is compared and written, as are the client and the order.
      `--max-txn-ops=${this.options.maxTxnOps ?? 2100}`,
      '--logger=zap',
      '--log-level=warn',
    ];
  }

  private async stopMember(member: EtcdMember, signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    const child = member.process;
    member.process = undefined;
    if (child === undefined) return;
    await (signal === 'SIGKILL' ? child.kill() : child.stop(5_000));
  }

  async kill(name: string): Promise<void> {
    await this.stopMember(memberNamed(this.members, name), 'SIGKILL');
  }

  async restart(name: string): Promise<void> {
    const member = memberNamed(this.members, name);
    if (member.process !== undefined) throw new Error(`etcd member ${name} is still running`);
    await this.launch(member, 'existing');
  }

  async leader(): Promise<string | undefined> {
    for (const member of this.members) {
      if (member.process === undefined) continue;
      const status = await memberStatus(member.clientUrl);
      if (status === undefined || status.leader === '0') continue;
      for (const candidate of this.members) {
        if (candidate.process === undefined) continue;
        const s = await memberStatus(candidate.clientUrl);
        if (s?.memberId === status.leader) return candidate.name;
      }
    }
    return undefined;
  }

  async waitHealthy(timeout_ms: number): Promise<void> {
    const deadline = Date.now() + timeout_ms;
    for (;;) {
      let healthy = 0;
      for (const member of this.members) if (member.process !== undefined && (await memberHealthy(member.clientUrl))) healthy++;
      if (healthy > this.members.length / 2) return;
      for (const member of this.members) {
        const child = member.process;
        if (child !== undefined && child.process.exitCode !== null) throw new Error(`etcd member ${member.name} exited with code ${child.process.exitCode}; its last lines:\n${child.recentOutput().join('\n')}`);
      }
      if (Date.now() > deadline) throw new Error(`the etcd cluster did not become healthy within ${timeout_ms} ms`);
      // etcd offers no event to await for "a leader was elected"; poll its health endpoint.
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async stop(): Promise<void> {
    // One at a time: SIGTERM to all three at once left one member waiting for peers that were
    // gone until the grace ran out and it was killed (Ctrl-C of `ecom up --mode etcd` took 5 s);
    // in turn each hands over or leaves in about 50-160 ms.
    for (const member of this.members) await this.stopMember(member, 'SIGTERM');
    if (this.ownedDataDir !== undefined) await rm(this.ownedDataDir, { recursive: true, force: true });
  }
}

function memberNamed(members: readonly EtcdMember[], name: string): EtcdMember {
  const member = members.find((m) => m.name === name);
  if (member === undefined) throw new Error(`no etcd member named ${name}; members: ${members.map((m) => m.name).join(', ')}`);
  return member;
}

async function memberHealthy(clientUrl: string): Promise<boolean> {
  try {
    const response = await fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(1_000) });
    const body = (await response.json()) as { health?: unknown };
    return body.health === 'true' || body.health === true;
  } catch {
    return false;
  }
}

/** etcd's JSON gateway; ids are decimal strings there. */
async function memberStatus(clientUrl: string): Promise<{ memberId: string; leader: string } | undefined> {
  try {
    const response = await fetch(`${clientUrl}/v3/maintenance/status`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(1_000) });
    const body = (await response.json()) as { header?: { member_id?: string }; leader?: string };
    if (body.header?.member_id === undefined || body.leader === undefined) return undefined;
    return { memberId: body.header.member_id, leader: body.leader };
  } catch {
    return undefined;
  }
}
