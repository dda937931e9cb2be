import type { RecordKind, RecordOfKind } from '../../domain/records.js';
import { CallNotSentError, CallOutcomeUnknownError, CallTimeoutError, RpcConnection } from '../../net/rpc.js';
import { StoreTimeoutError, StoreUnreachableError, type PartitionCluster } from './cluster.js';
import type { Decision, HeldIndexPage, HeldRecord, PartitionOp, PartitionResult } from '../common/entries.js';
import type { BackupOpened, BackupPiece } from '../common/backup-format.js';
import type { ReplicaRequest, ReplicaResponse, ReplicaStatus } from '../common/protocol.js';
import type { MemberChangeKind, MemberChangeResult, MemberView } from '../common/members.js';
import { clusterSecretOf, type ReplicaAddress, type Topology } from '../common/topology.js';
import { SendWindow, type NotSent, type Ticket } from './send-window.js';

/**
 * The portals' client of the storage replicas: finds each partition's leader, follows
 * redirects, and retries until the caller's deadline. Retrying is safe because every operation
 * is idempotent (transaction steps by id) or deduplicated in the state machine (sessions).
 */
const ELECTION_WAIT_MS = 25;
/** Backoff after a "busy" answer: from 2 ms, doubling, at most 100 ms (each ±50 %). */
const BUSY_WAIT_FIRST_MS = 2;
const BUSY_WAIT_MAX_MS = 100;
/** How often a client asks a partition's leader who its members are (a status call). */
const MEMBERS_REFRESH_MS = 5_000;
/** Proposals a client keeps at one partition's leader at most (a leader takes 4,096 by default), and how many may wait for room (send-window.ts). */
const SEND_WINDOW_MAX = 4_096;
const SEND_WINDOW_MAX_WAITING = 100_000;

export class ReplicaClusterClient implements PartitionCluster {
  readonly partitions: number;
  private readonly connections = new Map<number, RpcConnection>();
  private readonly leaders = new Map<number, number>();

  private readonly secret: Buffer;
  /**
   * Each partition's voters as last learned: --storage-config at first, then the membership the
   * replicas report (a `status` answer), so replicas added online are found without a restart.
   */
  private readonly voters = new Map<number, ReplicaAddress[]>();
  /** Every replica ever heard of, removed ones included, for `ecom status`. */
  private readonly known = new Map<number, ReplicaAddress>();
  /** When each partition's membership was last asked for. */
  private readonly refreshed = new Map<number, number>();
  /** Each partition's proposals in flight at its leader, widened and narrowed by its answers. */
  private readonly windows = new Map<number, SendWindow>();

  constructor(private readonly topology: Topology) {
    this.partitions = topology.partitions;
    this.secret = clusterSecretOf(topology);
    for (const replica of topology.replicas) {
      this.known.set(replica.id, replica);
      this.voters.set(replica.partition, [...(this.voters.get(replica.partition) ?? []), replica]);
    }
  }

  /** The replicas that may lead `partition`, as last learned. */
  replicasOf(partition: number): readonly ReplicaAddress[] {
    return this.voters.get(partition) ?? [];
  }

  /**
   * Takes the membership a replica reports, when it names an address for every voter. A member
   * this client's own --storage-config lists keeps the address given there: replicas may reach
   * each other by names or addresses a portal elsewhere cannot use.
   */
  private adopt(partition: number, reported: readonly MemberView[] | undefined): void {
    const members = reported?.map((m) => ({ ...m, address: this.topology.replicas.find((r) => r.id === m.id) ?? m.address }));
    if (members === undefined) return;
    for (const m of members) if (m.address !== undefined) this.known.set(m.id, m.address);
    const voters = members.filter((m) => m.role === 'voter').map((m) => m.address);
    if (voters.length > 0 && voters.every((a) => a !== undefined)) this.voters.set(partition, voters as ReplicaAddress[]);
  }

  /**
   * Asks the leader for the membership every few seconds, in the background: a portal whose
   * leader never changes would otherwise not hear of members added meanwhile, and once every
   * replica it knew had been replaced it would find none.
   */
  private refreshMembersNowAndThen(partition: number, leader: ReplicaAddress): void {
    const now = Date.now();
    if (now - (this.refreshed.get(partition) ?? 0) < MEMBERS_REFRESH_MS) return;
    this.refreshed.set(partition, now);
    void this.learnFrom(leader, now + MEMBERS_REFRESH_MS);
  }

  /** Asks `replica` for its view of the membership (it named a leader this client does not know). */
  private async learnFrom(replica: ReplicaAddress, deadline_ms: number): Promise<void> {
    try {
      const response = (await this.connection(replica).call({ op: 'status' }, deadline_ms)) as ReplicaResponse;
      if (response.ok) {
        const status = response.result as ReplicaStatus;
        this.adopt(status.partition, status.members);
      }
    } catch {
      // It went away meanwhile: the caller tries the next replica it knows.
    }
  }

  private connection(replica: ReplicaAddress): RpcConnection {
    let conn = this.connections.get(replica.id);
    if (conn === undefined) {
      conn = new RpcConnection(replica.host, replica.clientPort, this.secret);
      this.connections.set(replica.id, conn);
    }
    return conn;
  }

  /** Sends `request` to the partition's leader, wherever it is now, until it answers or the deadline passes. */
  private async call(partition: number, request: ReplicaRequest, deadline_ms: number): Promise<unknown> {
    let replicas = this.replicasOf(partition);
    if (replicas.length === 0) throw new Error(`no replica serves partition ${partition}`);
    let mayHaveArrived = false;
    let target = replicas.find((r) => r.id === this.leaders.get(partition)) ?? replicas[0]!;
    let lastProblem = 'no replica answered';
    let busyRounds = 0;
    // Only proposals meet "busy": reads and administration go straight out.
    const window = request.op === 'propose' ? this.windowOf(partition) : undefined;
    for (let attempt = 0; Date.now() < deadline_ms; attempt++) {
      const ticket = await window?.acquire(deadline_ms, busyRounds > 0);
      if (ticket !== undefined && isNotSent(ticket)) {
        lastProblem = ticket.notSent === 'deadline' ? `its leader stayed busy: the request waited for room and was not sent` : `busy: ${ticket.waiting} requests already wait for room at its leader; this one was not sent`;
        break;
      }
      let response: ReplicaResponse;
      try {
        response = (await this.connection(target).call(request, deadline_ms)) as ReplicaResponse;
      } catch (err) {
        if (ticket !== undefined) window?.release(ticket, 'answered');
        if (err instanceof CallTimeoutError) {
          mayHaveArrived = true;
          break;
        }
        if (err instanceof CallOutcomeUnknownError) mayHaveArrived = true;
        else if (!(err instanceof CallNotSentError)) throw err;
        lastProblem = (err as Error).message;
        target = next(replicas, target);
        if (attempt % replicas.length === replicas.length - 1) await pause(ELECTION_WAIT_MS, deadline_ms);
        continue;
      }
      if (ticket !== undefined) window?.release(ticket, !response.ok && response.error === 'busy' ? 'busy' : 'answered');
      if (response.ok) {
        this.leaders.set(partition, target.id);
        this.refreshMembersNowAndThen(partition, target);
        return response.result;
      }
      // Nothing was changed and nothing will be on a retry: our own request is at fault.
      if (response.error === 'invalid') throw new StoreUnreachableError(`partition ${partition} refused the request: ${response.message}`);
      lastProblem = response.error === 'not-leader' ? `replica ${target.id} is not the leader` : response.message;
      if (response.error === 'busy') {
        // Overload: back off exponentially, with jitter so the waiting clients do not return together.
        await pause(Math.min(BUSY_WAIT_MAX_MS, BUSY_WAIT_FIRST_MS * 2 ** Math.min(busyRounds++, 6)) * (0.5 + Math.random()), deadline_ms);
        continue;
      }
      if (response.error === 'outcome-unknown') mayHaveArrived = true;
      if (response.error === 'not-leader' && response.leader !== 0 && response.leader !== target.id) {
        const leader = response.leader;
        if (!replicas.some((r) => r.id === leader)) {
          await this.learnFrom(target, deadline_ms);
          replicas = this.replicasOf(partition);
        }
        target = replicas.find((r) => r.id === leader) ?? next(replicas, target);
        continue;
      }
      // No leader known (an election is under way) or a refusal: give the partition a moment.
      if (response.error === 'not-leader') target = next(replicas, target);
      await pause(ELECTION_WAIT_MS, deadline_ms);
    }
    const what = `partition ${partition} did not answer in time (${lastProblem})`;
    throw mayHaveArrived ? new StoreTimeoutError(what) : new StoreUnreachableError(what);
  }

  /** Each partition's send window as it stands (none before the first proposal to it), for the portal's metrics. */
  sendWindows(): Array<SendWindow['state'] & { readonly partition: number }> {
    return [...this.windows].map(([partition, w]) => ({ partition, ...w.state }));
  }

  private windowOf(partition: number): SendWindow {
    let window = this.windows.get(partition);
    if (window === undefined) {
      window = new SendWindow({ max: SEND_WINDOW_MAX, maxWaiting: SEND_WINDOW_MAX_WAITING });
      this.windows.set(partition, window);
    }
    return window;
  }

  /** Moves the partition's leadership to replica `to`; resolves with the term it leads in. */
  async transferLeader(partition: number, to: number, deadline_ms: number): Promise<{ leader: number; term: number }> {
    return (await this.call(partition, { op: 'transferLeader', partition, to }, deadline_ms)) as { leader: number; term: number };
  }

  async propose(partition: number, op: PartitionOp, deadline_ms: number): Promise<PartitionResult> {
    return (await this.call(partition, { op: 'propose', partition, entry: op }, deadline_ms)) as PartitionResult;
  }

  read<K extends RecordKind>(partition: number, kind: K, id: string, deadline_ms: number): Promise<HeldRecord<RecordOfKind<K>>> {
    return this.query(partition, { op: 'read', partition, kind, id, held: true }, deadline_ms) as Promise<HeldRecord<RecordOfKind<K>>>;
  }

  clientOrders(partition: number, cid: string, afterSeq: number, limit: number, deadline_ms: number): Promise<HeldIndexPage> {
    return this.query(partition, { op: 'clientOrders', partition, cid, afterSeq, limit }, deadline_ms) as Promise<HeldIndexPage>;
  }

  async decision(partition: number, txid: string, deadline_ms: number): Promise<Decision | undefined> {
    return ((await this.query(partition, { op: 'decision', partition, txid }, deadline_ms)) ?? undefined) as Decision | undefined;
  }

  private async query(partition: number, request: ReplicaRequest, deadline_ms: number): Promise<unknown> {
    try {
      return await this.call(partition, request, deadline_ms);
    } catch (err) {
      // A read changes nothing: whether it arrived does not matter.
      if (err instanceof StoreTimeoutError) throw new StoreUnreachableError(err.message);
      throw err;
    }
  }

  /** Has the partition's leader make a copy of its state for `ecom backup` (src/storage/common/backup-format.ts), to read with backupRead. */
  async backupOpen(partition: number, deadline_ms: number): Promise<BackupOpened> {
    return (await this.query(partition, { op: 'backupOpen', partition }, deadline_ms)) as BackupOpened;
  }

  /** The bytes of a backup copy from `offset`, asked of the replica that made it (leading or not). */
  async backupRead(opened: BackupOpened, offset: number, deadline_ms: number): Promise<Uint8Array> {
    const replica = this.known.get(opened.replica);
    if (replica === undefined) throw new Error(`replica ${opened.replica}, which made the backup copy of partition ${opened.partition}, has no known address`);
    const request: ReplicaRequest = { op: 'backupRead', partition: opened.partition, copy: opened.copy, offset };
    let response: ReplicaResponse;
    try {
      response = (await this.connection(replica).call(request, deadline_ms)) as ReplicaResponse;
    } catch (err) {
      throw new StoreUnreachableError(`replica ${replica.id}, which holds the backup copy of partition ${opened.partition}, did not answer (${(err as Error).message}); run ecom backup again`);
    }
    if (!response.ok) throw new Error(response.error === 'not-leader' ? `replica ${replica.id} answered "not the leader" to a backup read` : response.message);
    return Buffer.from((response.result as BackupPiece).data, 'base64');
  }

  /** A backup copy's bytes, piece by piece, to its end; each piece's deadline is `piece_ms` from when it is asked. */
  async *backupPieces(opened: BackupOpened, piece_ms: number): AsyncGenerator<Uint8Array> {
    for (let offset = 0; offset < opened.bytes; ) {
      const piece = await this.backupRead(opened, offset, Date.now() + piece_ms);
      if (piece.length === 0 || offset + piece.length > opened.bytes) throw new Error(`replica ${opened.replica} answered ${piece.length} bytes at ${offset} of a backup copy of ${opened.bytes}; run ecom backup again`);
      offset += piece.length;
      yield piece;
    }
  }

  async expiredLocks(partition: number, deadline_ms: number): Promise<Array<{ txid: string; home: number }>> {
    return (await this.call(partition, { op: 'expiredLocks', partition }, deadline_ms)) as Array<{ txid: string; home: number }>;
  }

  async staleDecisions(partition: number, age_ms: number, deadline_ms: number): Promise<Array<{ txid: string; decision: Decision }>> {
    return (await this.call(partition, { op: 'staleDecisions', partition, age_ms }, deadline_ms)) as Array<{ txid: string; decision: Decision }>;
  }

  /**
   * Every replica's own view (role, term, indexes); unreachable replicas are reported as such.
   * Members the answers name that --storage-config does not are asked too.
   */
  async statuses(timeout_ms: number): Promise<Array<ReplicaStatus | { id: number; partition: number; unreachable: string }>> {
    const asked = new Set<number>();
    const out: Array<ReplicaStatus | { id: number; partition: number; unreachable: string }> = [];
    for (let round = 0; round < 2; round++) {
      const replicas = [...this.known.values()].filter((r) => !asked.has(r.id));
      for (const r of replicas) asked.add(r.id);
      for (const { replica, response, failure } of await this.askEach({ op: 'status' }, timeout_ms, replicas)) {
        if (response?.ok !== true) {
          out.push({ id: replica.id, partition: replica.partition, unreachable: failure ?? response?.error ?? 'no answer' });
          continue;
        }
        const status = response.result as ReplicaStatus;
        out.push(status);
      }
      // The leaders' view wins: a removed replica still running may report an old one.
      const answered = out.filter((s): s is ReplicaStatus => !('unreachable' in s)).sort((a, b) => Number(a.role === 'leader') - Number(b.role === 'leader') || a.commitIndex - b.commitIndex);
      for (const status of answered) this.adopt(status.partition, status.members);
    }
    return out.sort((a, b) => a.partition - b.partition || a.id - b.id);
  }

  /** Adds, promotes or removes a member of `partition` through its leader (`ecom member`). */
  async changeMember(partition: number, change: MemberChangeKind, id: number, address: { host?: string; clientPort?: number; raftPort?: number }, deadline_ms: number): Promise<MemberChangeResult> {
    const result = (await this.call(partition, { op: 'changeMember', partition, change, id, ...address }, deadline_ms)) as MemberChangeResult;
    this.adopt(partition, result.members);
    return result;
  }


  /** Each reachable replica's stage percentiles since the last call (only leaders have any). */
  async traces(timeout_ms: number): Promise<Array<{ id: number; partition: number; stages: unknown }>> {
    return (await this.askEach({ op: 'trace' }, timeout_ms)).flatMap(({ replica, response }) =>
      response?.ok === true ? [{ id: replica.id, partition: replica.partition, stages: response.result }] : [],
    );
  }

  /** Sends `request` to every replica at once; each one's answer, or why there is none. */
  private askEach(request: ReplicaRequest, timeout_ms: number, replicas: readonly ReplicaAddress[] = [...this.known.values()]): Promise<Array<{ replica: ReplicaAddress; response?: ReplicaResponse; failure?: string }>> {
    return Promise.all(
      replicas.map(async (replica) => {
        try {
          return { replica, response: (await this.connection(replica).call(request, Date.now() + timeout_ms)) as ReplicaResponse };
        } catch (err) {
          return { replica, failure: (err as Error).message };
        }
      }),
    );
  }


  /**
   * Resolves with the reachable replicas' statuses once every partition has a leader; rejects
   * after `timeout_ms`, or at once when `givingUp()` names a reason (say, a replica crashed).
   */
  async waitForLeaders(timeout_ms: number, givingUp: () => string | undefined = () => undefined): Promise<ReplicaStatus[]> {
    const deadline = Date.now() + timeout_ms;
    for (;;) {
      const up = (await this.statuses(500)).filter((s): s is ReplicaStatus => !('unreachable' in s));
      const missing = Array.from({ length: this.topology.partitions }, (_, p) => p).filter((p) => !up.some((s) => s.partition === p && s.role === 'leader'));
      if (missing.length === 0) return up;
      const reason = givingUp();
      if (reason !== undefined) throw new Error(`no leader for partition(s) ${missing.join(', ')}: ${reason}`);
      if (Date.now() > deadline) throw new Error(`no leader elected for partition(s) ${missing.join(', ')} within ${timeout_ms} ms`);
      // Elections have no event visible from outside the replicas: poll.
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  close(): Promise<void> {
    for (const conn of this.connections.values()) conn.close();
    this.connections.clear();
    return Promise.resolve();
  }
}

/** Runs `use` with a cluster client of its own, closed afterwards whatever happens. */
export async function withClusterClient<T>(topology: Topology, use: (client: ReplicaClusterClient) => Promise<T>): Promise<T> {
  const client = new ReplicaClusterClient(topology);
  try {
    return await use(client);
  } finally {
    await client.close();
  }
}

function next(replicas: readonly ReplicaAddress[], current: ReplicaAddress): ReplicaAddress {
  return replicas[(replicas.indexOf(current) + 1) % replicas.length]!;
}

function isNotSent(granted: Ticket | NotSent): granted is NotSent {
  return 'notSent' in granted;
}

function pause(ms: number, deadline_ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, Math.min(ms, deadline_ms - Date.now()))));
}
