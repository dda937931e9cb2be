import { randomInt } from 'node:crypto';
import { statSync } from 'node:fs';
import { assert, defined } from '../../util/assert.js';
import { basename, join } from 'node:path';
import { RaftError, RaftNode, DEFAULT_OPTIONS, NO_NODE } from '../../raft/core/index.js';
import type { Entry, Message, Snapshot } from '../../raft/types.js';
import { DEFAULT_FILE_LOG_OPTIONS, FileLog } from '../../raft/log/file-log.js';
import type { DiskSync } from '../../raft/log/file-log.js';
import { FileSnapshotStore } from '../../raft/log/file-snapshot.js';
import { RaftDriver } from '../../raft/driver/driver.js';
import type { DriverOptions } from '../../raft/driver/driver.js';
import type { CapturedState, DriverEvents, LeadershipChange, ReadOutcome, Scheduler } from '../../raft/driver/interfaces.js';
import { startRpcServer, type RpcServerHandle } from '../../net/rpc.js';
import { decodeEntry, encodeEntry, type LogEntry, type LogOp, type PartitionResult } from '../common/entries.js';
import { ChangePublisher } from '../common/change-feed.js';
import { brokerCredentials } from '../../net/cluster-secret.js';
import { LmdbStateStore } from './lmdb-store.js';
import { RecordingStateStore, StagedStateStore } from './state-store.js';
import { EntryRefused, PartitionMachine } from './partition-machine.js';
import { readCopy, readLegacyJson, shapeOf, SnapshotDataError, stagedName, storeMarker } from './snapshot-format.js';
import { StoreStaging } from './store-staging.js';
import type { ReceivedFile } from './spool-file.js';
import { makeCurrent, removeStoresBut } from './store-location.js';
import { SnapshotThread } from './snapshot-thread.js';
import { BackupReads } from './backup-reads.js';
import { openCopyFile, SnapshotCopies } from './snapshot-copies.js';
import { markClean, openState } from './state-recovery.js';
import { replicaDir, unfinishedRestore } from './layout.js';
import { TurnQueue } from './turn-queue.js';
import { TurnWork, type TurnReport } from './turn-work.js';
import { MaxPerSecond } from '../../util/max-per-second.js';
import { ReportLimiter } from '../../util/report-limiter.js';
import { StageTrace } from './stage-trace.js';
import type { Logger } from '../../util/log.js';
import type { ReplicaMetrics } from '../../metrics/replica-metrics.js';
import { PeerTransport } from './peer-transport.js';
import { ReplicaMembership } from './membership-ops.js';
import { partitionOpProblem, requestProblem } from '../common/validate.js';
import type { BackupOpened, BackupPiece } from '../common/backup-format.js';
import type { EventLoopSplit, ReplicaRequest, ReplicaResponse, ReplicaStatus } from '../common/protocol.js';
import { clusterSecretOf, replicaById, replicasOf, type Topology } from '../common/topology.js';
import type { AddressOp } from '../common/members.js';

/**
 * One storage replica: the Raft driver (src/raft/driver) run over the partition's log on disk,
 * its state machine on LMDB and TCP to its peers, plus what only a replica does: answer
 * requests, publish changes, trace stages, feed metrics. Acknowledgements leave only after the
 * entry is committed (durable on a majority) and applied here.
 */
/** How often a replica whose disk refused a write tries again. */
const DISK_RETRY_MS = 1_000;

/**
 * The turns of every replica this process hosts, one per turn of the event loop. The bound is far
 * above the replicas a process hosts: each asks for one turn at a time, so more waiting is a bug.
 */
const REPLICA_TURNS = new TurnQueue(1_024);

/** The event loop: the next Ready runs after the current input's callbacks, and after other replicas' turns. */
const EVENT_LOOP: Scheduler = {
  soon: (run) => REPLICA_TURNS.soon(run),
  after: (ms, run) => {
    const timer = setTimeout(run, ms);
    return () => clearTimeout(timer);
  },
  now_ms: () => Date.now(),
};

export interface ReplicaOptions {
  readonly topology: Topology;
  readonly id: number;
  readonly dataDir: string;
  readonly log: Logger;
  readonly tick_ms?: number;
  readonly electionTimeout_ticks?: number;
  readonly heartbeat_ticks?: number;
  /** Take a snapshot (and drop the log before it) every this many applied entries. */
  readonly snapshotEvery_entries?: number;
  /** At most this many proposals wait for their entry to apply; more are refused. */
  readonly maxPendingProposals?: number;
  /** MQTT broker URL: the leader announces changed records there, for portal caches. */
  readonly broker?: string;
  /**
   * Called once when the replica halts on an internal failure (a broken invariant, a state store
   * that fails): `ecom storage` logs it in one line and exits with code 70. Without it, it throws.
   */
  readonly onFatal?: (err: Error) => void;
  /** Where the chaos suite plants faults (src/faults/planted.ts); production leaves it unset. */
  readonly seams?: ReplicaSeams;
  /** Prometheus metrics of this replica (`ecom storage --metrics-port`); none by default. */
  readonly metrics?: ReplicaMetrics;
  /**
   * A replica added with `ecom member add`: it starts outside the membership and learns it (and
   * its peers' addresses) from the snapshot and log its leader sends.
   */
  readonly join?: boolean;
}

/** The replica's fault-injection points: its log's disk, the log before recovery, the commit quorum. */
export interface ReplicaSeams {
  logDisk(dir: string): DiskSync;
  beforeLogOpen(dir: string): void;
  commitQuorum(): ((voters: number) => number) | undefined;
  /** True when every restart stands for a machine crash (its unsynced writes lost): the state store is not trusted as after a process crash. */
  restartsAreMachineCrashes(): boolean;
}

interface PendingProposal {
  readonly term: number;
  resolve(response: ReplicaResponse): void;
}

/** How long `ecom leader move` waits for the target to take over (it may first have to catch up). */
const TRANSFER_WAIT_MS = 3_000;
/** How long a stopping leader waits for a successor before it just stops (then the others elect one). */
const HANDOVER_WAIT_MS = 500;
const DEFAULT_TICK_MS = 10;
/** What a status's "lately" covers: this many wall-clock seconds, the current one included. */
const STATUS_WINDOW_S = 10;
/**
 * Committed entries one Ready hands to apply (about two hundred puts' worth, ~10–15 ms of work
 * here), and how long the driver carries Readies before it yields to ticks and messages. A
 * replica that fell behind applied its whole backlog in one turn: 1.3 s measured on a loaded
 * machine, while its followers or its leader heard nothing (issue #18). At 128 KiB and 20 ms,
 * one apply took 40–155 ms at 512 writes in flight, and two replicas share a process's event
 * loop; at 32 KiB and 10 ms the longest stall of the measured window went from 62–77 ms to
 * 43–54 ms with the same throughput and CPU per write (A/B, `ecom bench run put -c 512`,
 * 2026-12-04 23:15–23:22Z); 16 KiB and 5 ms cost more system calls and switches and did not
 * do better.
 */
const MAX_APPLY_BYTES_PER_READY = 32 << 10;
const TURN_BUDGET_MS = 10;
/**
 * The committed entries a Ready hands out are applied in pieces of at most 128, one a turn of the
 * event loop, each its own LMDB commit, so that an apply no longer rides in the turn that persists
 * and sends a Ready, and a Ready's whole 32 KiB is never applied at once. Measured at 512 writes in
 * flight (`ecom bench run put -c 512 --duration 60`, alternated with whole applies, 2026-12-07
 * 10:02–10:09Z): the longest stall 45–57 ms against 57–68 ms, for 4–17 % fewer writes; pieces of
 * 64 cost more writes for no clear gain, of 256 gained nothing (docs/bench.md, "Who holds the
 * cores"). A backlog past 4,096 entries (about a megabyte of puts) is applied as the Ready is
 * carried.
 */
const APPLY_PIECE = { maxEntries: 128, maxBacklog: 4_096 } as const;
/**
 * 30 ticks: a follower that hears nothing for 300–600 ms (randomised) campaigns. It was 15
 * (150–300 ms), under the 200 ms stalls of replicas waiting for one of two cores beside a test
 * suite, and a healthy leader lost its partition in CI (steady.test.ts). A crashed leader is
 * noticed by its closed connections in 1–3 ticks whatever this is; only a leader that stops
 * answering without closing them (a pause, a cut network) is found by this timeout.
 */
const DEFAULT_ELECTION_TIMEOUT_TICKS = 30;
/** Seconds of stalls a status carries: readers poll every few seconds (src/bench/stability.ts). */
const STALL_SECONDS_KEPT = 30;
/** A stall reported in the log at most this often (the others are counted into the next line). */
const STALL_REPORT_EVERY_MS = 1_000;
/**
 * How many election timeouts an fsync may be out while this replica goes on with heartbeats (3 s
 * at the defaults). Under load on this project's machines an fsync took 0.3-1 s now and then
 * (issue #18), and all replicas share the disk then, so an election would not help; a disk that
 * holds one far longer has hung, and a leader on it must let another take over.
 */
const SYNC_HUNG_ELECTION_TIMEOUTS = 10;

interface TransferWaiter {
  readonly to: number;
  readonly resolve: (response: ReplicaResponse) => void;
  readonly timer: NodeJS.Timeout;
}

export class Replica {
  private readonly address;
  /** The cluster's secret: peers and portals prove it before any frame is read (net/handshake.ts). */
  private readonly secret: Buffer;
  private readonly dir: string;
  /** The Raft loop: persists, sends, applies, answers reads; this class plugs in the replica's parts. */
  private readonly driver: RaftDriver;
  private readonly node: RaftNode;
  private readonly wal: FileLog;
  private readonly snapshots: FileSnapshotStore;
  private readonly state: LmdbStateStore;
  private readonly machine: PartitionMachine;
  private readonly recording: RecordingStateStore;
  /** Between the machine and the store: an entry's writes are kept only if it applies whole. */
  private readonly staged: StagedStateStore;
  /** Under `staged`: the writes of the batch being applied, written to LMDB once at its end. */
  private readonly batch: StagedStateStore;
  private readonly changes: ChangePublisher | undefined;
  private readonly transport: PeerTransport;
  private readonly membership: ReplicaMembership;
  private rpc: RpcServerHandle | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private readonly proposals = new Map<number, PendingProposal>();
  private readonly transfers = new Set<TransferWaiter>();
  private busyRefusals = 0;
  /** The core's lostLogNotices already logged. */
  private lostLogNoticesTold = 0;
  private readonly trace = new StageTrace();
  private readonly snapshotEvery: number;
  private readonly snapshotThread: SnapshotThread;
  private readonly copies: SnapshotCopies;
  /** Copies made for `ecom backup`, being read in pieces. */
  private readonly backups: BackupReads;
  private readonly staging: StoreStaging;
  /** The index of the store file being staged, if one is: one at a time (the leader sends again). */
  private stagingIndex: number | undefined;
  /**
   * The longest lateness of a tick in each wall-clock second: the stalls of the event loop, by the
   * same measure as the stall lines of the log (a second measure, perf_hooks'
   * monitorEventLoopDelay, could disagree with them). A status gives the longest of the last
   * seconds, and each second's, so `ecom bench` can take the longest of its measured window alone.
   */
  private readonly stallSeconds = new MaxPerSecond<EventLoopSplit>(STALL_SECONDS_KEPT);
  /** When the last tick ran (performance.now()): a late tick is a stall of this replica's event loop. */
  private lastTick_ms = 0;
  /** The longest apply and restore since the last tick: what a stall report names. */
  private readonly turnWork = new TurnWork();
  private readonly stallReports = new ReportLimiter(STALL_REPORT_EVERY_MS);
  private readonly slowSyncReports = new ReportLimiter(STALL_REPORT_EVERY_MS);
  /** The last append, heartbeat or snapshot from a leader: what a follower that campaigns last heard. */
  private lastLeaderWord: { from: number; term: number; at_ms: number } | undefined;
  /** The longest this follower went without a word from its leader, by wall-clock second (as for stalls): what elections follow from. */
  private readonly leaderSilenceSeconds = new MaxPerSecond(STALL_SECONDS_KEPT);
  /** The longest fsync of the Raft log by wall-clock second: a slow disk delays writes, and a bench names it. */
  private readonly fsyncSeconds = new MaxPerSecond(STALL_SECONDS_KEPT);
  private readonly maxPendingProposals: number;

  constructor(private readonly options: ReplicaOptions) {
    const unfinished = unfinishedRestore(options.dataDir);
    if (unfinished !== undefined) throw new Error(`replica ${options.id} cannot start from ${options.dataDir}: ${unfinished}`);
    this.address = replicaById(options.topology, options.id);
    this.secret = clusterSecretOf(options.topology);
    const peers = replicasOf(options.topology, this.address.partition);
    const dir = replicaDir(options.dataDir, options.id);
    const logDir = join(dir, 'raft');
    options.seams?.beforeLogOpen(logDir);
    this.wal = FileLog.open(logDir, { ...DEFAULT_FILE_LOG_OPTIONS, disk: options.seams?.logDisk(logDir) });
    this.snapshots = new FileSnapshotStore(join(dir, 'snapshots'));
    this.dir = dir;
    this.state = openState(dir, this.snapshots.latest(), options.log, { trustSameBoot: options.seams?.restartsAreMachineCrashes() !== true });
    this.batch = new StagedStateStore(this.state);
    this.recording = new RecordingStateStore(this.batch);
    this.staged = new StagedStateStore(this.recording);
    this.machine = new PartitionMachine(this.staged, { partition: this.address.partition, partitions: options.topology.partitions });
    this.changes = options.broker === undefined ? undefined : new ChangePublisher(options.broker, `storage-${options.id}`, options.log, brokerCredentials(this.secret));
    this.snapshotEvery = options.snapshotEvery_entries ?? 10_000;
    this.snapshotThread = new SnapshotThread(this.state.path);
    this.backups = new BackupReads(options.id);
    this.copies = new SnapshotCopies(
      this.snapshotThread,
      (m, tail) => this.transport.sendSnapshot(m, tail),
      ({ to, index, applied, bytes, ms, left }) => {
        if (left) options.metrics?.snapshotSent(bytes);
        if (!left) options.log.info({ replica: options.id, to, index }, 'a copy of the state for a follower could not leave yet (no ready connection); sent at Raft\'s next resend');
        else if (ms > 0) options.log.info({ replica: options.id, to, index, applied, bytes, ms: Math.round(ms) }, 'sending a follower a copy of the state');
      },
      (err) => options.log.warn({ err: err.message }, 'could not copy the state for a follower; Raft asks again'),
    );
    this.staging = new StoreStaging(dir);
    this.maxPendingProposals = options.maxPendingProposals ?? 4_096;
    this.transport = new PeerTransport(
      this.address,
      this.secret,
      (id) => this.membership.addressOf(id),
      (m, file) => this.turnWork.timed('peers', () => this.onPeerMessage(m, file)),
      (err) => options.log.warn({ replica: options.id }, err.message),
      (id) => this.onPeerLeft(id),
      this.staging.spool,
    );
    this.driver = new RaftDriver(this.driverOptions(peers.map((p) => p.id)));
    this.node = this.driver.node;
    this.membership = new ReplicaMembership({
      id: options.id,
      partition: this.address.partition,
      topology: options.topology,
      node: this.node,
      state: this.state,
      log: options.log,
      propose: (op) => this.propose(this.address.partition, op),
      schedule: () => this.schedule(),
    });
    const recovered = this.driver.recovered;
    options.log.info(
      { replica: options.id, partition: this.address.partition, term: recovered.term, commit: recovered.commit, applied: this.state.lastApplied, snapshot: recovered.snapshot, entries: recovered.entries },
      'recovered from disk',
    );
    options.metrics?.watch({
      status: () => this.status(),
      stateBytes: () => statSync(join(this.state.path, 'data.mdb'), { throwIfNoEntry: false })?.size ?? 0,
      locksHeld: () => this.machine.locksHeld(),
    });
  }

  /** The driver over this replica's parts: its file log, LMDB state machine, peer transport and the event loop. */
  private driverOptions(voters: number[]): DriverOptions {
    return {
      raft: {
        ...DEFAULT_OPTIONS,
        id: this.options.id,
        random_int: (n) => randomInt(n),
        election_timeout_ticks: this.options.electionTimeout_ticks ?? DEFAULT_ELECTION_TIMEOUT_TICKS,
        heartbeat_interval_ticks: this.options.heartbeat_ticks ?? 3,
        max_apply_bytes: MAX_APPLY_BYTES_PER_READY,
        commit_quorum: this.options.seams?.commitQuorum(),
      },
      bootstrap: { voters: this.options.join === true ? [] : voters, learners: [] },
      log: this.wal,
      snapshots: this.snapshots,
      machine: {
        appliedIndex: () => this.state.lastApplied,
        apply: (entries) => this.apply(entries),
        restore: (snapshot) => this.installSnapshot(snapshot),
        capture: (done) => this.captureState(done),
      },
      transport: { send: (messages, now) => this.send(messages, now) },
      // Each turn of the driver is timed, for the stall lines.
      scheduler: { ...EVENT_LOOP, soon: (run) => EVENT_LOOP.soon(() => this.turnWork.timed('ready', run)) },
      events: this.driverEvents(),
      snapshotGap: () => this.jitteredGap(),
      diskRetry_ms: DISK_RETRY_MS,
      turnBudget_ms: TURN_BUDGET_MS,
      applyPiece: APPLY_PIECE,
      heartbeatsDuringSync_ms: this.electionTimeout_ms * SYNC_HUNG_ELECTION_TIMEOUTS,
    };
  }

  /** What the driver reports, turned into this replica's logs, metrics, stage trace and answers. */
  private driverEvents(): DriverEvents {
    const { log, metrics } = this.options;
    return {
      halted: (err) => this.halt(err),
      leadership: (change) => this.onLeadership(change),
      refused: (err) => log.warn({ code: err.code }, 'raft input refused'),
      idle: () => {
        this.settleTransfers();
        this.membership.maybePromote();
      },
      writing: (lastIndex) => this.trace.writing(lastIndex),
      persisted: (lastIndex) => this.trace.persisted(lastIndex),
      synced: (s) => this.noteSync(s),
      syncHung: (out_ms) =>
        log.error(
          { replica: this.id, role: this.node.role, out_ms: Math.round(out_ms) },
          `an fsync of the Raft log has been out for ${Math.round(out_ms)} ms: this replica stops its heartbeats until it finishes, so that if it leads another replica can take over; check the disk under ${this.options.dataDir}`,
        ),
      ...(metrics === undefined ? {} : { appended: (s: number) => metrics.appended(s) }),
      snapshotTaken: (index, bytes, ms) => {
        // The snapshot is the store: its size is the state's on disk.
        metrics?.snapshotTaken(statSync(join(this.state.path, 'data.mdb'), { throwIfNoEntry: false })?.size ?? bytes);
        log.info({ replica: this.id, index, ms: Math.round(ms) }, 'snapshot taken (state store durable); log compacted');
      },
      snapshotFailed: (err) => log.warn({ err: err.message }, 'snapshot failed; the log is kept and it will be tried again'),
      diskStalled: (stage, fault, retry_ms) =>
        log.error(
          { replica: this.id, stage: stage === 'persist' ? 'writing the Raft log' : 'applying to the state store', fault },
          `replica ${this.id} cannot write to its disk; it acknowledges nothing and takes no traffic until it can (retrying every ${retry_ms} ms; free space or fix the disk under ${this.options.dataDir})`,
        ),
      diskResumed: (after_ms) => log.info({ replica: this.id, after_ms }, 'the disk takes writes again; resuming'),
    };
  }

  get id(): number {
    return this.options.id;
  }

  async start(): Promise<void> {
    await this.transport.listen();
    this.rpc = await startRpcServer(this.address.host, this.address.clientPort, this.secret, (body) => this.turnWork.timed('requests', () => this.handle(body)), (err) =>
      this.options.log.warn({ err: err.message }, 'client request failed'),
    );
    this.lastTick_ms = performance.now();
    this.ticker = setInterval(() => this.onTick(), this.options.tick_ms ?? DEFAULT_TICK_MS);
    this.options.log.info(
      { replica: this.id, partition: this.address.partition, requests: `${this.address.host}:${this.address.clientPort}`, raft: `${this.address.host}:${this.address.raftPort}` },
      'storage replica is serving',
    );
  }

  status(): ReplicaStatus {
    const s = this.node.status();
    return {
      id: this.id,
      partition: this.address.partition,
      role: s.role,
      term: s.term,
      leader: s.leaderId,
      vote: s.vote,
      commitIndex: s.commitIndex,
      appliedIndex: this.state.lastApplied,
      lastIndex: s.lastIndex,
      snapshotIndex: this.driver.snapshotIndex,
      maxStall_ms: Math.round(this.stallSeconds.maxOver(STATUS_WINDOW_S)),
      // With each second's longest stall, where Linux tells it: how long the loop ran and waited for a core in it.
      stallsBySecond: this.stallSeconds.recentWithDetail().map(([second, ms, loop]) => (loop === undefined ? [second, ms] : [second, ms, loop.running_ms, loop.waitingForCpu_ms])),
      maxLeaderSilence_ms: Math.round(this.leaderSilenceSeconds.maxOver(STATUS_WINDOW_S)),
      leaderSilenceBySecond: this.leaderSilenceSeconds.recent(),
      maxFsync_ms: Math.round(this.fsyncSeconds.maxOver(STATUS_WINDOW_S)),
      fsyncBySecond: this.fsyncSeconds.recent().map(([second, ms]) => [second, Math.round(ms)]),
      busyRefusals: this.busyRefusals,
      ...(s.lastStepDown !== undefined ? { lastStepDown: `term ${s.lastStepDown.term}: ${s.lastStepDown.reason}`, lastStepDownTerm: s.lastStepDown.term } : {}),
      ...(s.followers !== undefined ? { followers: s.followers.map(({ id, match, state, active, logEnd }) => ({ id, match, state, active, ...(logEnd !== undefined ? { logEnd } : {}) })) } : {}),
      members: this.membership.views(),
      ...(this.membership.changeUnderWay !== undefined ? { memberChange: this.membership.changeUnderWay } : {}),
      ...this.diskFaultStatus(),
    };
  }

  private diskFaultStatus(): { diskFault?: string } {
    const stall = this.driver.diskFault;
    return stall === undefined ? {} : { diskFault: `${stall.fault} (for ${Math.round((Date.now() - stall.since_ms) / 1000)} s)` };
  }

  /** A connection from `id` closed: if it is this follower's leader, it has most likely died; campaign soon. */
  private onPeerLeft(id: number): void {
    if (this.node.role !== 'follower' || this.node.leaderId !== id) return;
    this.options.log.info({ replica: this.id, partition: this.address.partition, leader: id, term: this.node.term }, 'the connection from the leader closed; campaigning unless it is heard again within a few ticks');
    this.driver.input(() => this.node.leaderLinkLost(id));
  }

  private heardFromLeader(message: Message): void {
    const now = performance.now();
    const last = this.lastLeaderWord;
    if (last !== undefined && last.from === message.from && last.term === message.term) {
      this.leaderSilenceSeconds.note(now - last.at_ms);
    }
    this.lastLeaderWord = { from: message.from, term: message.term, at_ms: now };
  }

  /** `file` is a store file that came with a Snap, written to disk as it arrived: staged, or discarded. */
  private onPeerMessage(message: Message, file?: ReceivedFile): void {
    if (message.to !== this.id || message.snapshot === undefined) file?.discard();
    if (message.to !== this.id) return;
    if (message.type === 'App' || message.type === 'Heartbeat' || message.type === 'Snap') this.heardFromLeader(message);
    if (message.snapshot !== undefined) this.onPeerSnapshot(message, message.snapshot, file);
    else this.driver.step(message);
  }

  /**
   * A snapshot a peer sent reaches the core only once its data is known to install: a store
   * file is staged first (store-staging.ts), older builds' copies are decoded once, and data
   * that names a store of the sender's own is refused. Anything else would be saved as the
   * snapshot, fail to install, and stop this replica at every start (docs/robustness.md).
   */
  private onPeerSnapshot(message: Message, snapshot: Snapshot, file: ReceivedFile | undefined): void {
    const refuse = (why: string): void => {
      file?.discard();
      this.options.log.warn({ replica: this.id, from: message.from, index: snapshot.meta.index, bytes: snapshot.data.length + (file?.bytes ?? 0) }, `snapshot from a peer refused: ${why}; Raft sends it again`);
    };
    try {
      const shape = shapeOf(snapshot.data);
      if (shape === 'env') return this.stage(message, snapshot, file);
      if (file !== undefined) return refuse(`a file came with snapshot data of shape ${shape}`);
      if (shape === 'marker' || shape === 'staged') return refuse('it names a store of the sender\'s own, not a copy');
      if (shape === 'copy') readCopy(snapshot.data, () => {});
      else readLegacyJson(snapshot.data);
    } catch (err) {
      if (err instanceof SnapshotDataError) return refuse(err.message);
      throw err;
    }
    this.driver.step(message);
  }

  private stage(message: Message, snapshot: Snapshot, file: ReceivedFile | undefined): void {
    // The core will not take a snapshot it has the entries of; nor is a second staging started while one runs.
    if (snapshot.meta.index <= this.node.commitIndex || this.stagingIndex !== undefined) return file?.discard();
    this.stagingIndex = snapshot.meta.index;
    const started = performance.now();
    // Stores left by a snapshot the core did not take in the end; the current one and one the core holds stay.
    const held = this.node.snapshot;
    removeStoresBut(this.dir, new Set([basename(this.state.path), ...(held !== undefined && shapeOf(held.data) === 'staged' ? [stagedName(held.data)] : [])]));
    this.staging.stage(snapshot.data, file).then(
      (staged) => {
        this.stagingIndex = undefined;
        if (this.driver.stopped) return;
        const written = file === undefined ? 'once all in' : 'as it arrived';
        this.options.log.info({ replica: this.id, from: message.from, index: snapshot.meta.index, applied: staged.applied, keys: staged.keys, bytes: staged.bytes, written, ...file?.timing, ms: Math.round(performance.now() - started) }, 'store file from the leader written and checked');
        this.driver.step({ ...message, snapshot: { meta: snapshot.meta, data: staged.data } });
      },
      (err: unknown) => {
        this.stagingIndex = undefined;
        this.options.log.warn({ replica: this.id, from: message.from, index: snapshot.meta.index, err: (err as Error).message }, 'store file from the leader refused; nothing was installed, Raft sends it again');
      },
    );
  }

  /** Asks the driver for a turn of its Ready loop (after a proposal or another direct input to the core). */
  private schedule(): void {
    this.driver.schedule();
  }

  private async handle(body: unknown): Promise<ReplicaResponse> {
    // Nothing reaches the log, or an assertion, before it is checked (docs/robustness.md).
    const problem = requestProblem(body, this.address.partition, this.options.topology.partitions);
    if (problem !== undefined) {
      this.options.log.warn({ problem }, 'invalid request refused; nothing was appended');
      return { ok: false, error: 'invalid', message: `invalid request: ${problem}` };
    }
    const request = body as ReplicaRequest;
    if (this.driver.diskFault !== undefined && request.op !== 'status' && request.op !== 'trace') {
      // Not a leader for now: clients go to the other replicas, and nothing was appended here.
      return { ok: false, error: 'not-leader', leader: 0 };
    }
    switch (request.op) {
      case 'status':
        return { ok: true, result: this.status() };
      case 'propose':
        return this.propose(request.partition, request.entry);
      case 'read': {
        const { kind, id } = request;
        return this.query(request.partition, request.held === true ? () => this.machine.readHeld(kind, id) : () => this.machine.read(kind, id) ?? null);
      }
      case 'clientOrders': {
        const { cid, afterSeq, limit } = request;
        return this.query(request.partition, () => this.machine.clientOrders(cid, afterSeq, limit));
      }
      case 'decision': {
        const { txid } = request;
        return this.query(request.partition, () => this.machine.decision(txid) ?? null);
      }
      case 'expiredLocks':
        return this.leaderOnly(request.partition, () => this.machine.expiredLocks());
      case 'staleDecisions':
        return this.leaderOnly(request.partition, () => this.machine.staleDecisions(request.age_ms));
      case 'transferLeader':
        return this.transferLeader(request.partition, request.to, TRANSFER_WAIT_MS);
      case 'trace':
        return { ok: true, result: this.trace.read() };
      case 'backupOpen':
        return this.backupOpen(request.partition);
      case 'backupRead':
        return this.wrongPartition(request.partition) ?? this.backupRead(request.copy, request.offset);
      case 'changeMember':
        return this.wrongPartition(request.partition) ?? this.membership.change(request);
    }
  }

  private notLeader(): ReplicaResponse {
    return { ok: false, error: 'not-leader', leader: this.node.leaderId };
  }

  private wrongPartition(partition: number): ReplicaResponse | undefined {
    if (partition === this.address.partition) return undefined;
    return { ok: false, error: 'refused', message: `replica ${this.id} holds partition ${this.address.partition}, not ${partition}` };
  }

  private leaderOnly(partition: number, run: () => unknown): Promise<ReplicaResponse> {
    const wrong = this.wrongPartition(partition);
    if (wrong) return Promise.resolve(wrong);
    if (this.node.role !== 'leader') return Promise.resolve(this.notLeader());
    return Promise.resolve({ ok: true, result: run() });
  }

  private propose(partition: number, op: LogOp): Promise<ReplicaResponse> {
    const wrong = this.wrongPartition(partition);
    if (wrong) return Promise.resolve(wrong);
    if (this.node.role !== 'leader') return Promise.resolve(this.notLeader());
    if (this.proposals.size >= this.maxPendingProposals) {
      this.busyRefusals++;
      this.options.metrics?.proposalBusy();
      return Promise.resolve({ ok: false, error: 'busy', message: `busy: ${this.proposals.size} proposals already wait (limit ${this.maxPendingProposals}); nothing was appended, retry shortly` });
    }
    let index: number;
    try {
      index = this.node.propose(encodeEntry({ time_ms: Date.now(), op }));
    } catch (err) {
      if (!(err instanceof RaftError)) throw err;
      if (err.code === 'NotLeader') return Promise.resolve({ ok: false, error: 'not-leader', leader: err.leaderHint });
      return Promise.resolve({ ok: false, error: 'refused', message: err.message });
    }
    this.trace.arrived(index);
    this.options.metrics?.proposalAccepted();
    this.schedule();
    return new Promise((resolve) => this.proposals.set(index, { term: this.node.term, resolve }));
  }

  /** Hands this replica's leadership to `to`, as `ecom leader move` does (LeaderSpread calls it). */
  moveLeadership(to: number): Promise<ReplicaResponse> {
    return this.transferLeader(this.address.partition, to, TRANSFER_WAIT_MS);
  }

  /** Hands leadership to `to`; answers once `to` leads, or refuses after `wait_ms` (this replica then still leads). */
  private transferLeader(partition: number, to: number, wait_ms: number): Promise<ReplicaResponse> {
    const wrong = this.wrongPartition(partition);
    if (wrong) return Promise.resolve(wrong);
    if (!this.node.membership.voters.includes(to)) {
      return Promise.resolve({ ok: false, error: 'invalid', message: `replica ${to} is not a voter of partition ${partition} (voters: ${this.node.membership.voters.join(', ')})` });
    }
    if (this.node.role !== 'leader') {
      // Asked again after it worked (a retry): say so rather than "not the leader".
      if (this.node.leaderId === to) return Promise.resolve({ ok: true, result: { leader: to, term: this.node.term } });
      return Promise.resolve(this.notLeader());
    }
    if (to === this.id) return Promise.resolve({ ok: true, result: { leader: to, term: this.node.term } });
    try {
      this.node.transferLeadership(to);
    } catch (err) {
      if (!(err instanceof RaftError)) throw err;
      return Promise.resolve({ ok: false, error: 'refused', message: err.message });
    }
    this.options.log.info({ replica: this.id, to, term: this.node.term }, 'handing leadership over');
    this.schedule();
    return new Promise((resolve) => {
      const waiter: TransferWaiter = {
        to,
        resolve,
        timer: setTimeout(() => {
          this.transfers.delete(waiter);
          resolve({ ok: false, error: 'refused', message: `replica ${to} did not take over within ${wait_ms} ms (down, or far behind?); replica ${this.id} leads on` });
        }, wait_ms),
      };
      this.transfers.add(waiter);
    });
  }

  /** Answers the transfers whose target now leads, as far as this replica has heard. */
  private settleTransfers(): void {
    if (this.transfers.size === 0 || this.node.role === 'leader') return;
    for (const waiter of this.transfers) {
      if (this.node.leaderId !== waiter.to) continue;
      clearTimeout(waiter.timer);
      this.transfers.delete(waiter);
      waiter.resolve({ ok: true, result: { leader: waiter.to, term: this.node.term } });
    }
  }

  private query(partition: number, answer: () => unknown): Promise<ReplicaResponse> {
    const wrong = this.wrongPartition(partition);
    if (wrong) return Promise.resolve(wrong);
    if (this.node.role !== 'leader') return Promise.resolve(this.notLeader());
    return new Promise((resolve) => this.driver.read((outcome) => resolve(this.readAnswer(outcome, answer))));
  }

  /** A confirmed read is answered from the state machine; a refused one says where to go instead. */
  private readAnswer(outcome: ReadOutcome, answer: () => unknown): ReplicaResponse {
    if (outcome.ok) return { ok: true, result: answer() };
    const refusal = outcome.refusal;
    if (refusal === undefined) return this.notLeader();
    if (refusal.code === 'NotLeader') return { ok: false, error: 'not-leader', leader: refusal.leaderHint };
    return { ok: false, error: 'refused', message: refusal.message };
  }

  /** An internal failure: stop serving at once (no half-applied state is answered from) and report it. */
  private halt(err: Error): void {
    if (this.ticker) clearInterval(this.ticker);
    if (this.options.onFatal === undefined) throw err;
    this.options.onFatal(err);
  }

  private apply(entries: readonly Entry[]): void {
    const fresh = entries.filter((e) => e.index > this.state.lastApplied);
    if (fresh.length === 0) return;
    this.turnWork.timed('apply', () => this.applyFresh(fresh));
  }

  private applyFresh(fresh: readonly Entry[]): void {
    this.options.metrics?.applied(fresh.length);
    const results: Array<[number, number, ReplicaResponse]> = [];
    this.state.applyBatch(fresh[fresh.length - 1]!.index, () => {
      try {
        for (const entry of fresh) {
          if (entry.kind !== 'normal' || entry.data.length === 0) continue;
          this.trace.committed(entry.index);
          results.push([entry.index, entry.term, this.applyOne(entry)]);
        }
        this.batch.commit();
      } finally {
        // A batch that failed part way (the disk) is retried whole: nothing of it may linger.
        this.batch.discard();
      }
    });
    if (this.recording.changedRecords.size > 0) {
      if (this.node.role === 'leader') this.changes?.publish(this.address.partition, this.recording.changedRecords);
      this.recording.changedRecords.clear();
    }
    for (const [index, term, response] of results) {
      this.trace.applied(index);
      const waiting = this.proposals.get(index);
      if (waiting === undefined) continue;
      this.proposals.delete(index);
      // Another leader's entry took this index: ours was lost, so the caller must retry.
      waiting.resolve(waiting.term === term ? response : { ok: false, error: 'outcome-unknown', message: 'leadership changed; retry' });
    }
    this.membership.applied(fresh);
  }

  /**
   * Applying is total: whatever a committed entry holds, every replica reaches the same result,
   * and a refusal is a result (nothing of the entry kept). Entries are checked again here, not
   * only when proposed, so a log written by an older build replays too. Anything else thrown is
   * an internal failure: it goes up to halt the replica.
   */
  private applyOne(entry: Entry): ReplicaResponse {
    let logged: LogEntry;
    try {
      logged = decodeEntry(entry.data);
    } catch (err) {
      return this.refused(entry, `undecodable entry: ${(err as Error).message}`);
    }
    const { time_ms, op } = logged;
    if (op.t === 'address') return this.applyAddress(entry, op);
    const problem = partitionOpProblem(op, this.address.partition, this.options.topology.partitions);
    if (problem !== undefined) return this.refused(entry, `invalid entry: ${problem}`);
    try {
      const result: PartitionResult = this.machine.apply({ time_ms, op });
      this.staged.commit();
      return { ok: true, result };
    } catch (err) {
      this.staged.discard();
      if (!(err instanceof EntryRefused)) throw err;
      return this.refused(entry, err.message);
    }
  }

  private applyAddress(entry: Entry, op: AddressOp): ReplicaResponse {
    const answer = this.membership.applyAddress(op, this.staged);
    if (!answer.ok) return this.refused(entry, answer.error === 'invalid' ? answer.message : answer.error);
    this.staged.commit();
    return answer;
  }

  private refused(entry: Entry, reason: string): ReplicaResponse {
    this.options.log.warn({ index: entry.index, reason }, 'committed entry refused when applied; every replica refuses it alike and keeps nothing of it');
    return { ok: false, error: 'invalid', message: `${reason}; nothing was changed` };
  }

  /**
   * Ticks the core, and tells in the log when the event loop was held up for a sixth of an
   * election timeout or more (50 ms by default, the longest stall issue #18 allows): much longer
   * without ticks or messages, a follower comes close to campaigning against a healthy leader,
   * so the log must say it happened and what held the loop.
   */
  private onTick(): void {
    const tick_ms = this.options.tick_ms ?? DEFAULT_TICK_MS;
    const now = performance.now();
    const late_ms = now - this.lastTick_ms - tick_ms;
    this.lastTick_ms = now;
    const work = this.turnWork.take();
    this.stallSeconds.note(Math.max(0, late_ms), work.loop);
    if (late_ms >= this.electionTimeout_ms / 6) this.reportStall(late_ms, late_ms + tick_ms, now, work);
    this.driver.tick();
    if (this.node.lostLogNotices !== this.lostLogNoticesTold) this.reportLostLogs();
  }

  /** A follower lost entries it had acknowledged (RaftNode.lostLogNotices): only an operator can mend that, so say how. */
  private reportLostLogs(): void {
    this.lostLogNoticesTold = this.node.lostLogNotices;
    for (const f of this.node.status().followers ?? []) {
      if (f.logEnd === undefined) continue;
      this.options.log.error(
        { replica: this.id, partition: this.address.partition, follower: f.id, logEnd: f.logEnd, acknowledged: f.match },
        `replica ${f.id} now holds its log only to index ${f.logEnd}, though it had acknowledged ${f.match}: it lost data it had made durable (its folder was emptied or replaced). It gets no entries until mended, so the partition stands on its other replicas: remove it (ecom member remove ${f.id}), empty its folder, and add it back (ecom member add, then ecom storage --join)`,
      );
    }
  }

  private get electionTimeout_ms(): number {
    return (this.options.tick_ms ?? DEFAULT_TICK_MS) * (this.options.electionTimeout_ticks ?? DEFAULT_ELECTION_TIMEOUT_TICKS);
  }

  /**
   * `work`: the longest apply, restore and GC pause of the stall, and the CPU time the process got
   * in it (none of them near the stall: the machine kept this process from a core).
   */
  private reportStall(late_ms: number, interval_ms: number, now: number, work: TurnReport): void {
    // At most a line a second for the short ones; one of a third of an election timeout or more
    // (a follower's campaign comes closer) is always told.
    const told = this.stallReports.tell(now, late_ms >= this.electionTimeout_ms / 3);
    if (told === undefined) return;
    this.options.log.warn(
      {
        replica: this.id,
        role: this.node.role,
        stall_ms: Math.round(late_ms),
        electionTimeout_ms: this.electionTimeout_ms,
        longest_ms: work.longest_ms,
        total_ms: work.total_ms,
        cpu_ms: work.cpu_ms,
        // Between two ticks the loop ran, waited for a core, or was blocked in the kernel.
        ...(work.loop === undefined ? {} : { loop: { ...work.loop, blocked_ms: Math.max(0, Math.round(interval_ms) - work.loop.running_ms - work.loop.waitingForCpu_ms) } }),
        ...(told.notReported > 0 ? { notReported: told.notReported } : {}),
      },
      'the event loop was held up; ticks and messages waited',
    );
  }

  /**
   * Tells of an fsync of the Raft log that took a third of an election timeout or more (at most
   * a line a second): writes waited for the disk meanwhile, though heartbeats went on (the
   * driver's heartbeatsDuringSync_ms), so a slow disk shows here and not as an election.
   */
  private noteSync(seconds: number): void {
    this.options.metrics?.synced(seconds);
    const took_ms = seconds * 1_000;
    this.fsyncSeconds.note(took_ms);
    if (took_ms < this.electionTimeout_ms / 3) return;
    const told = this.slowSyncReports.tell(performance.now());
    if (told === undefined) return;
    this.options.log.warn(
      { replica: this.id, role: this.node.role, fsync_ms: Math.round(took_ms), ...(told.notReported > 0 ? { notReported: told.notReported } : {}) },
      `an fsync of the Raft log took ${Math.round(took_ms)} ms: writes waited for the disk meanwhile (heartbeats went on)`,
    );
  }

  /** A replica that stops leading answers every proposal still waiting: the callers retry elsewhere. */
  private onLeadership({ role, term, wasLeader }: LeadershipChange): void {
    if (role === 'candidate') this.options.metrics?.electionStarted();
    if (role === 'preCandidate' || (role === 'candidate' && !wasLeader)) this.logCampaign(role, term);
    if (role === 'leader') this.options.metrics?.electionWon();
    if (role === 'leader') this.options.log.info({ replica: this.id, partition: this.address.partition, term }, 'became leader');
    if (!wasLeader || role === 'leader') return;
    this.options.log.warn({ replica: this.id, partition: this.address.partition, why: this.node.status().lastStepDown?.reason }, 'stopped leading');
    this.trace.dropAll();
    this.membership.leadershipLost();
    for (const [index, waiting] of this.proposals) {
      this.proposals.delete(index);
      waiting.resolve({ ok: false, error: 'outcome-unknown', message: 'leadership lost before the entry was applied; retry' });
    }
  }

  /** Why a follower campaigns: how long since it last heard a leader, so a healthy leader deposed shows in the log. */
  private logCampaign(role: 'preCandidate' | 'candidate', term: number): void {
    const word = this.lastLeaderWord;
    const heard = word === undefined ? { lastHeardFromLeader: 'never' } : { lastHeardFrom: word.from, lastHeardTerm: word.term, silent_ms: Math.round(performance.now() - word.at_ms) };
    this.options.log.info({ replica: this.id, partition: this.address.partition, term, ...heard, maxStall_ms: Math.round(this.stallSeconds.maxOver(STATUS_WINDOW_S)) }, role === 'preCandidate' ? 'campaigning: asking for pre-votes' : 'campaigning: asking for votes');
  }

  /**
   * Between half and one and a half intervals, at random, so the replicas of a partition do not
   * all sync their stores at the same moment. A snapshot costs one fdatasync of the pages
   * written since the last, whatever the size of the state, so the interval need not grow with it.
   */
  private jitteredGap(): number {
    return Math.max(1, Math.round(this.snapshotEvery * (0.5 + randomInt(1_000) / 1_000)));
  }

  /**
   * The replica's snapshot is its state store, made durable at an applied index (fdatasync on
   * libuv's thread pool): nothing is copied. The index is capped at the core's applied one, which
   * the store can be ahead of after installing a copy (see snapshot-format.ts); the store then
   * holds at least that index durably, which is all a snapshot at it promises.
   */
  private captureState(done: (state: CapturedState | Error) => void): void {
    this.state.makeDurable().then(
      (applied) => done({ applied: Math.min(applied, this.node.appliedIndex), data: storeMarker() }),
      (err: unknown) => done(err instanceof Error ? err : new Error(String(err))),
    );
  }

  /** Messages to peers; a Snap whose snapshot is the store waits for a copy to be made (snapshot-copies.ts). */
  private send(messages: readonly Message[], now: boolean): void {
    if (!messages.some(SnapshotCopies.needsCopy)) return this.transport.send(messages, now);
    for (const m of messages) if (SnapshotCopies.needsCopy(m)) this.copies.offer(m);
    const rest = messages.filter((m) => !SnapshotCopies.needsCopy(m));
    if (rest.length > 0) this.transport.send(rest, now);
  }

  /**
   * For `ecom backup`: a copy of the partition's state at an index applied after the request
   * arrived, so every write acknowledged before it is in, kept on disk to be read in pieces
   * (backupRead). A snapshot already under way may predate the request; then one more is taken,
   * unless nothing was applied since.
   */
  private async backupOpen(partition: number): Promise<ReplicaResponse> {
    const wrong = this.wrongPartition(partition);
    if (wrong) return wrong;
    if (this.node.role !== 'leader') return this.notLeader();
    const busy = this.backups.busy(Date.now());
    if (busy !== undefined) return { ok: false, error: 'refused', message: `${busy}; nothing was changed, try again` };
    const appliedAtRequest = this.state.lastApplied;
    // A snapshot is taken too, so the index named is one the log was compacted to (the scale
    // benchmark counts on that to leave a follower behind a compaction).
    await this.driver.snapshotSettled();
    if (this.driver.snapshotIndex < appliedAtRequest) await this.driver.snapshotNow();
    const snapshot = this.node.snapshot;
    if (snapshot === undefined || snapshot.meta.index < appliedAtRequest) {
      return { ok: false, error: 'refused', message: `replica ${this.id} could not take a snapshot for the backup (see its log); nothing was changed, try again` };
    }
    // A copy for a follower is being made: one at a time, so this one waits (the client asks again).
    if (this.snapshotThread.busy) return { ok: false, error: 'refused', message: `replica ${this.id} is making a copy of its state for a follower; nothing was changed, try again` };
    let copy;
    try {
      // Read after the snapshot, so it holds every write acknowledged before the request.
      const reply = await this.snapshotThread.copy({ kind: 'records' });
      const file = defined(reply.file, 'the file of a record copy');
      copy = { keys: reply.keys, file: await openCopyFile(file.path, file.bytes) };
    } catch (err) {
      // 'invalid', not 'refused': a disk that cannot take the copy (full, failing) would fail
      // every retry of the client's in the same way, each after reading the whole store.
      this.options.log.warn({ replica: this.id, err: (err as Error).message }, 'could not copy the partition for a backup');
      return { ok: false, error: 'invalid', message: `replica ${this.id} could not copy its state for the backup (${(err as Error).message}); nothing was changed` };
    }
    // Another backup's copy may have been kept while this one was made.
    if (this.backups.busy(Date.now()) !== undefined || this.driver.stopped) {
      await copy.file.close();
      return { ok: false, error: 'refused', message: `replica ${this.id} is busy with another backup, or stopping; nothing was changed, try again` };
    }
    const number = this.backups.add(copy.file, Date.now());
    const { index, term, membership } = snapshot.meta;
    this.options.log.info({ replica: this.id, index, bytes: copy.file.bytes, keys: copy.keys }, 'made a copy of the partition for a backup');
    return { ok: true, result: { partition, index, term, voters: membership.voters, replica: this.id, copy: number, bytes: copy.file.bytes, keys: copy.keys } satisfies BackupOpened };
  }

  /** A piece of a backup's copy, whoever leads now: the copy is of one applied index, committed. */
  private async backupRead(copy: number, offset: number): Promise<ReplicaResponse> {
    const piece = await this.backups.read(copy, offset);
    if (!piece.ok) return { ok: false, error: 'invalid', message: piece.message };
    return { ok: true, result: { data: Buffer.from(piece.data.buffer, piece.data.byteOffset, piece.data.length).toString('base64') } satisfies BackupPiece };
  }

  /**
   * A leader that is asked to stop first hands leadership to its most caught-up follower, so a
   * rolling restart costs a round trip instead of an election timeout without a leader.
   */
  private async handOver(): Promise<void> {
    const to = this.node.bestSuccessor();
    if (to === NO_NODE) return;
    const answer = await this.transferLeader(this.address.partition, to, HANDOVER_WAIT_MS);
    if (answer.ok) this.options.log.info({ replica: this.id, to }, 'stopping: leadership handed over');
    else this.options.log.info({ replica: this.id, to }, 'stopping: no successor took over in time; the others will elect one');
  }

  /**
   * Installs a snapshot: a copy of a leader's state (format 2), or format 1 JSON from an older
   * build or a backup, replaces the store in one transaction. A marker needs nothing: the store
   * already holds its state, unless it lost it (then nothing here can rebuild it).
   */
  private installSnapshot(snapshot: Snapshot): void {
    this.turnWork.timed('restore', () => this.restoreState(snapshot));
  }

  private restoreState(snapshot: Snapshot): void {
    const { index } = snapshot.meta;
    const shape = shapeOf(snapshot.data);
    if (shape === 'staged' && basename(this.state.path) !== stagedName(snapshot.data)) return this.switchStore(snapshot);
    if (shape === 'marker' || shape === 'staged') {
      if (this.state.lastApplied >= index) return;
      throw new Error(`the state store is at index ${this.state.lastApplied}, behind its own snapshot at ${index}: it lost writes it had made durable. Remove this replica from its partition (ecom member remove) and add it back empty (ecom member add, then ecom storage --join)`);
    }
    assert(shape !== 'env', 'a store file is staged before the core sees it (onPeerSnapshot)');
    const started = performance.now();
    let keys = 0;
    this.state.replaceAll((put) => {
      if (shape === 'legacy-json') {
        for (const [key, value] of readLegacyJson(snapshot.data)) put(key, value);
        return index;
      }
      const read = readCopy(snapshot.data, put);
      keys = read.keys;
      if (read.applied < index) throw new Error(`a copy of the state at index ${read.applied} came with a snapshot at ${index}`);
      return read.applied;
    });
    // In the constructor the snapshot comes before the membership, which then reads the state itself.
    (this.membership as ReplicaMembership | undefined)?.reload();
    this.options.metrics?.snapshotInstalled();
    this.options.log.info({ replica: this.options.id, index, applied: this.state.lastApplied, keys, bytes: snapshot.data.length, ms: Math.round(performance.now() - started) }, 'state restored from a snapshot');
  }

  /**
   * Installs a staged store file: it becomes the store (a switch of folders, made durable by the
   * pointer file), and the old store's folder goes once closed.
   */
  private switchStore(snapshot: Snapshot): void {
    const started = performance.now();
    const name = stagedName(snapshot.data);
    const old = this.state.path;
    const closed = this.state.switchTo(join(this.dir, name));
    makeCurrent(this.dir, name);
    this.snapshotThread.retarget(this.state.path);
    void closed.then(() => removeStoresBut(this.dir, new Set([basename(this.state.path)])), (err: unknown) => this.options.log.warn({ err: (err as Error).message, old }, 'could not close the replaced state store; its folder is removed at the next start'));
    if (this.state.lastApplied < snapshot.meta.index) throw new Error(`the staged state store ${name} holds index ${this.state.lastApplied}, behind its snapshot at ${snapshot.meta.index}`);
    (this.membership as ReplicaMembership | undefined)?.reload();
    this.options.metrics?.snapshotInstalled();
    this.options.log.info({ replica: this.options.id, index: snapshot.meta.index, applied: this.state.lastApplied, store: name, bytes: statSync(join(this.state.path, 'data.mdb')).size, ms: Math.round(performance.now() - started) }, 'state restored from a snapshot (store file installed)');
  }

  async stop(): Promise<void> {
    if (this.driver.stopped) return;
    if (this.driver.diskFault === undefined) await this.handOver();
    this.driver.stop();
    for (const waiter of this.transfers) {
      clearTimeout(waiter.timer);
      waiter.resolve({ ok: false, error: 'refused', message: `replica ${this.id} is stopping` });
    }
    this.transfers.clear();
    this.membership.close();
    if (this.ticker) clearInterval(this.ticker);
    await this.rpc?.close();
    await this.transport.close();
    this.copies.close();
    this.backups.close();
    this.staging.close();
    await this.snapshotThread.close();
    this.turnWork.close();
    await this.changes?.close();
    this.wal.close();
    await this.state.close();
    markClean(this.dir, this.state.path);
  }
}
