import { Counter, Gauge, Histogram } from 'prom-client';
import { gaugeReadAtScrape, LATENCY_BUCKETS_S, type MetricsRegistry } from './registry.js';

/** What a storage replica shows when scraped; read then, so serving costs nothing between scrapes. */
export interface ReplicaGauges {
  readonly id: number;
  readonly partition: number;
  readonly role: string;
  readonly term: number;
  readonly leader: number;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly lastIndex: number;
  readonly snapshotIndex: number;
  /** Set while the disk refuses writes and the replica is paused. */
  readonly diskFault?: string;
  /** A leader's view of its followers' logs. */
  readonly followers?: ReadonlyArray<{ readonly id: number; readonly match: number }>;
}

export interface ReplicaGaugeSource {
  status(): ReplicaGauges;
  /** Bytes of the LMDB state store on disk. */
  stateBytes(): number;
  /** Records locked by two-phase-commit transactions in this partition. */
  locksHeld(): number;
}

const ROLES = ['follower', 'preCandidate', 'candidate', 'leader'] as const;
const SNAPSHOT_BUCKETS_BYTES = [1 << 10, 1 << 14, 1 << 17, 1 << 20, 1 << 23, 1 << 26, 1 << 28, 1 << 30];

/**
 * The Prometheus metrics of one storage replica (Raft and its partition's state). The replica
 * calls the event methods; the gauges it is asked for when scraped. Names follow Prometheus
 * conventions (base units, `_total` counters); docs/operations.md lists them.
 */
export class ReplicaMetrics {
  private readonly electionsStarted: Counter;
  private readonly electionsWon: Counter;
  private readonly proposals: Counter<'result'>;
  private readonly accepted: Counter.Internal;
  private readonly entriesApplied: Counter;
  private readonly append: Histogram;
  private readonly fsync: Histogram;
  private readonly snapshotSize: Histogram;
  private readonly snapshotsInstalled: Counter;
  private readonly snapshotsSent: Counter;
  private readonly snapshotBytesSent: Counter;

  constructor(private readonly registry: MetricsRegistry) {
    const registers = [registry];
    this.electionsStarted = new Counter({ name: 'ecom_raft_elections_started_total', help: 'Elections this replica started (it became a candidate in a new term)', registers });
    this.electionsWon = new Counter({ name: 'ecom_raft_elections_won_total', help: 'Elections this replica won (it became leader)', registers });
    this.proposals = new Counter({ name: 'ecom_raft_proposals_total', help: 'Proposals this replica took as leader (result="accepted") or refused because too many waited (result="busy")', labelNames: ['result'], registers });
    this.accepted = this.proposals.labels('accepted');
    this.proposals.labels('busy');
    this.entriesApplied = new Counter({ name: 'ecom_storage_entries_applied_total', help: 'Committed log entries applied to the partition state', registers });
    this.append = new Histogram({ name: 'ecom_raft_log_append_seconds', help: 'Time to write a batch of entries to the Raft log (before fsync)', buckets: LATENCY_BUCKETS_S, registers });
    this.fsync = new Histogram({ name: 'ecom_raft_log_fsync_seconds', help: 'Time of one fsync of the Raft log', buckets: LATENCY_BUCKETS_S, registers });
    this.snapshotSize = new Histogram({ name: 'ecom_raft_snapshot_size_bytes', help: 'Size of each snapshot this replica took (its count is the number taken)', buckets: SNAPSHOT_BUCKETS_BYTES, registers });
    this.snapshotsSent = new Counter({ name: 'ecom_raft_snapshots_sent_total', help: 'Snapshots this replica sent as leader to followers that fell behind its log', registers });
    this.snapshotBytesSent = new Counter({ name: 'ecom_raft_snapshot_sent_bytes_total', help: 'Bytes of the snapshots this replica sent as leader', registers });
    this.snapshotsInstalled = new Counter({ name: 'ecom_raft_snapshots_installed_total', help: 'Snapshots received from a leader and installed', registers });
  }

  /** Registers the gauges read from the replica when scraped. */
  watch(source: ReplicaGaugeSource): void {
    const { registry } = this;
    const gauge = (name: string, help: string, read: (s: ReplicaGauges) => number) => gaugeReadAtScrape(registry, name, help, () => read(source.status()));
    new Gauge({
      name: 'ecom_replica_info',
      help: 'Always 1; its labels say which replica this is and which partition it holds (join on process)',
      labelNames: ['replica', 'partition'],
      registers: [registry],
      collect() {
        const s = source.status();
        this.reset();
        this.labels(String(s.id), String(s.partition)).set(1);
      },
    });
    gauge('ecom_raft_term', 'Current Raft term of this replica', (s) => s.term);
    gauge('ecom_raft_leader_id', 'Replica this one believes leads its partition (0: none known)', (s) => s.leader);
    gauge('ecom_raft_commit_index', 'Highest log index known committed', (s) => s.commitIndex);
    gauge('ecom_raft_applied_index', 'Highest log index applied to the state', (s) => s.appliedIndex);
    gauge('ecom_raft_last_index', 'Last index in this replica\'s log', (s) => s.lastIndex);
    gauge('ecom_raft_snapshot_index', 'Log index of the latest snapshot', (s) => s.snapshotIndex);
    new Gauge({
      name: 'ecom_raft_role',
      help: 'Raft role of this replica: 1 for the current role, 0 for the others',
      labelNames: ['role'],
      registers: [registry],
      collect() {
        const role = source.status().role;
        for (const r of ROLES) this.labels(r).set(r === role ? 1 : 0);
      },
    });
    new Gauge({
      name: 'ecom_raft_follower_match_index',
      help: 'On a leader: the highest log index known replicated on each follower (commit index minus this is how far behind it is)',
      labelNames: ['follower'],
      registers: [registry],
      collect() {
        this.reset();
        for (const f of source.status().followers ?? []) this.labels(String(f.id)).set(f.match);
      },
    });
    gauge('ecom_storage_disk_stalled', '1 while the disk refuses writes and the replica is paused (it acknowledges nothing until it can write), else 0', (s) => (s.diskFault === undefined ? 0 : 1));
    gaugeReadAtScrape(registry, 'ecom_storage_lmdb_size_bytes', 'Size on disk of the partition state (LMDB data file)', () => source.stateBytes());
    gaugeReadAtScrape(registry, 'ecom_storage_locks_held', 'Records locked by two-phase-commit transactions in this partition', () => source.locksHeld());
  }

  electionStarted(): void {
    this.electionsStarted.inc();
  }

  electionWon(): void {
    this.electionsWon.inc();
  }

  proposalAccepted(): void {
    this.accepted.inc();
  }

  proposalBusy(): void {
    this.proposals.labels('busy').inc();
  }

  applied(entries: number): void {
    this.entriesApplied.inc(entries);
  }

  appended(seconds: number): void {
    this.append.observe(seconds);
  }

  synced(seconds: number): void {
    this.fsync.observe(seconds);
  }

  snapshotTaken(bytes: number): void {
    this.snapshotSize.observe(bytes);
  }

  snapshotSent(bytes: number): void {
    this.snapshotsSent.inc();
    this.snapshotBytesSent.inc(bytes);
  }

  snapshotInstalled(): void {
    this.snapshotsInstalled.inc();
  }
}
