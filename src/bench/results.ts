import type { LatencySummary } from './histogram.js';
import type { MachineInfo } from './machine.js';
import type { RunResult } from './runner.js';
import type { MqttPortalTrace } from './mqtt-trace.js';
import type { StartupResult } from './startup.js';

/** Everything one `ecom bench` invocation measured: what --json writes and the charts read. */
export interface BenchResults {
  readonly tool: 'ecom bench';
  /** The command line, so a reader can run the same thing again. */
  readonly command: string;
  readonly startedAt: string;
  readonly machine: MachineInfo;
  readonly runs: LabelledRun[];
  failover?: FailoverResult;
  comparison?: EtcdComparison;
  modes?: ModeComparison;
  scale?: ScaleResult;
  startup?: StartupResult;
  /** Things the reader must know: skipped workloads, errors. */
  readonly notes: string[];
}

export interface LabelledRun extends RunResult {
  /** With --trace: each partition leader's stage percentiles over the run (warm-up included). */
  readonly trace?: Array<{ partition: number; replica: number; stages: Record<string, unknown> }>;
  /** With --trace, raft mode: the portal coordinator's stages (src/bench/portal-trace.ts), warm-up included. */
  readonly portalTrace?: Record<string, { count: number; p50_ms: number; p99_ms: number }>;
  /** With --trace on mqtt mode: each portal's stage percentiles over the measured window. */
  readonly mqttTrace?: MqttPortalTrace[];
  /** Which question the run answers, e.g. "storage durable writes, both partitions". */
  readonly label: string;
  /** The system it ran against, e.g. "raft tier 2×3" or "portal (raft mode)". */
  readonly system: string;
}

/** `ecom bench scale`: one partition grown segment by segment, then a restart and a catch-up from empty. */
export interface ScaleResult {
  readonly records: number;
  readonly concurrency: number;
  /** Each segment's durable-write rate and latency, with the records the partition held before it. */
  readonly segments: Array<{ readonly from: number; readonly to: number; readonly ops_per_s: number; readonly latency: LatencySummary }>;
  /** kill -9 of the partition's leader, started again at once: until it has applied all it had committed. */
  readonly restart_ms: number;
  /** `ecom backup`'s part of the grown partition: its leader's copy, read in pieces to the end (absent from older builds). */
  readonly backup?: { readonly ms: number; readonly bytes: number; readonly keys: number; readonly MB_per_s: number };
  /** A new, empty replica in place of a follower: until it has applied what the leader had committed, and the size of the copy it installed. */
  readonly catchUp: {
    readonly ms: number;
    readonly bytes: number;
    readonly MB_per_s: number;
    /** Leaders the partition elected while the replica caught up: each is an election inside the figure, not a fault of the run's making. */
    readonly leaderChanges: number;
    /** Where the time went, from the replicas' logs (scale.ts, catchUpStages). */
    readonly stages?: {
      readonly process_start_ms: number;
      readonly leader_finds_it_behind_ms: number;
      readonly leader_copy_ms: number;
      readonly transfer_ms: number;
      readonly write_and_check_ms: number;
      readonly install_ms: number;
      readonly log_tail_ms: number;
    };
  };
}

export interface FailoverResult {
  readonly kills: number;
  /** Time from the kill -9 to the first successful write on that partition, per kill. */
  readonly samples_ms: number[];
  readonly latency: LatencySummary;
  readonly backgroundLoad: string;
}

export interface EtcdComparison {
  readonly concurrency: number;
  readonly etcd: LabelledRun;
  /** ecom put on one partition (3 replicas, like the 3-member etcd) and on both partitions. */
  readonly ecomOnePartition: LabelledRun;
  readonly ecomBothPartitions: LabelledRun;
  readonly ratioOnePartition: number;
  readonly ratioBothPartitions: number;
}

export interface ModeComparison {
  readonly workload: string;
  readonly concurrency: number;
  readonly runs: LabelledRun[];
}
