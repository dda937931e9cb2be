/** Percentiles of one stage of a request over a window, in ms: the raft tier's and mqtt mode's stage traces alike. */
export interface StageSummary {
  readonly count: number;
  readonly p50_ms: number;
  readonly p90_ms: number;
  readonly p99_ms: number;
  readonly max_ms: number;
}
