import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ReplicaClusterClient } from '../storage/client/cluster-client.js';
import { PartitionedBackend } from '../storage/client/partitioned-backend.js';
import { defined } from '../util/assert.js';
import { replicaDir } from '../storage/replica/layout.js';
import { caughtUp, leaderOf } from './failover.js';
import { FreshIds } from './fresh-ids.js';
import { Histogram } from './histogram.js';
import type { ScaleResult } from './results.js';
import type { RaftTier } from './systems.js';
import { jsonObject, PrintedLines } from '../util/printed-lines.js';

/**
 * `ecom bench scale` (issue #18 item 5): does the tier stay as fast when a partition grows? It
 * writes `records` fresh records to partition 0 in `segments` equal steps, each timed on its
 * own, so the last step's rate can be set against the first's; then it kills the partition's
 * leader with SIGKILL and starts it again at once (restart to serving), and times a follower
 * replaced by an empty one, which must catch up by snapshot (catchUpBySnapshot). The load is generated in this process:
 * one client, `concurrency` writes in flight.
 */
export interface ScaleOptions {
  readonly records: number;
  readonly segments: number;
  readonly concurrency: number;
  readonly runTag: string;
  /** The tier's --data folder: where the follower replaced by an empty one lives, and whose log tells the size of the copy it installed. */
  readonly dataDir: string;
  readonly say: (line: string) => void;
  readonly aborted: () => boolean;
}

const DATA = '{"name": "a record of the scale benchmark, about as big as a shop\'s client"}';
const PARTITION = 0;
const WAIT_MS = 600_000;
/** How long after the catch-up the follower's line saying what it installed may still be on its way. */
const LINE_WAIT_MS = 10_000;
/** Writes made while the replaced follower is down. */
const WRITES_WHILE_DOWN = 1_000;

export async function runScale(raft: RaftTier, options: ScaleOptions): Promise<ScaleResult> {
  const backend = new PartitionedBackend(new ReplicaClusterClient(raft.topology), { requestTimeout_ms: 30_000 });
  const status = new ReplicaClusterClient(raft.topology);
  try {
    const segments = await grow(backend, options);
    const restart_ms = await restartLeader(raft, status);
    options.say(`  restart: the leader, killed with SIGKILL and started again at once, applied all it had committed after ${Math.round(restart_ms)} ms`);
    const replaced = await emptyFollower(raft, status, options);
    // The backup's snapshot also compacts the leader's log past what the emptied follower had,
    // so even a small partition's follower must catch up by snapshot below.
    const backup = await backUp(status);
    options.say(`  backup: partition 0's copy of ${backup.keys.toLocaleString('en-US')} records, ${(backup.bytes / 1e6).toFixed(1)} MB, made and read in pieces in ${Math.round(backup.ms)} ms (${backup.MB_per_s.toFixed(1)} MB/s)`);
    const catchUp = await catchUpBySnapshot(raft, status, replaced, options);
    options.say(`  catch-up: a new, empty replica in place of a follower applied the leader's commit ${Math.round(catchUp.ms)} ms after it started (a ${(catchUp.bytes / 1e6).toFixed(1)} MB snapshot, ${catchUp.MB_per_s.toFixed(1)} MB/s); leader changes during it: ${catchUp.leaderChanges}`);
    if (catchUp.leaderChanges > 0) options.say(`  catch-up: WARNING the partition elected a leader ${catchUp.leaderChanges} time(s) while the replica caught up, with no fault injected: the figure includes those elections (see the replicas' logs)`);
    if (catchUp.stages !== undefined) options.say(`  catch-up stages (ms, from the replicas' logs): ${Object.entries(catchUp.stages).map(([stage, ms]) => `${stage.replace(/_ms$/, '').replaceAll('_', ' ')} ${Math.round(ms)}`).join(', ')}`);
    return { records: options.records, concurrency: options.concurrency, segments, restart_ms, backup, catchUp };
  } finally {
    await Promise.all([backend.close(), status.close()]);
  }
}

async function grow(backend: PartitionedBackend, options: ScaleOptions): Promise<ScaleResult['segments']> {
  const ids = new FreshIds(options.runTag, 0);
  const out: Array<ScaleResult['segments'][number]> = [];
  const step = Math.ceil(options.records / options.segments);
  for (let from = 0; from < options.records && !options.aborted(); from += step) {
    const to = Math.min(options.records, from + step);
    const histogram = new Histogram();
    let next = from;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: options.concurrency }, async () => {
        while (next < to && !options.aborted()) {
          next++;
          const sent = performance.now();
          const reply = await backend.execute({ op: 'CreateClient', cid: ids.next(PARTITION), data: DATA });
          if (reply.code !== 0) throw new Error(`a write of the scale benchmark failed: ${JSON.stringify(reply)}`);
          histogram.record_ms(performance.now() - sent);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const segment = { from, to, ops_per_s: (to - from) / seconds, latency: histogram.summary() };
    out.push(segment);
    options.say(`  records ${from.toLocaleString('en-US')}–${to.toLocaleString('en-US')}: ${Math.round(segment.ops_per_s).toLocaleString('en-US')} writes/s, p50 ${segment.latency.p50_ms.toFixed(2)} ms, p99 ${segment.latency.p99_ms.toFixed(2)} ms`);
  }
  return out;
}

async function restartLeader(raft: RaftTier, status: ReplicaClusterClient): Promise<number> {
  const leader = await leaderOf(status, PARTITION);
  await defined(raft.tier.replicas.get(leader), `process of replica ${leader}`).kill();
  const started = performance.now();
  raft.tier.startReplica(leader);
  await caughtUp(status, leader, WAIT_MS);
  return performance.now() - started;
}

/** What `ecom backup` does for the partition, with its bytes read and dropped: timed from asking for the copy to its last piece. */
async function backUp(status: ReplicaClusterClient): Promise<NonNullable<ScaleResult['backup']>> {
  const started = performance.now();
  const opened = await status.backupOpen(PARTITION, Date.now() + WAIT_MS);
  let bytes = 0;
  for await (const piece of status.backupPieces(opened, WAIT_MS)) bytes += piece.length;
  const ms = performance.now() - started;
  return { ms, bytes, keys: opened.keys, MB_per_s: bytes / 1e6 / (ms / 1000) };
}

/**
 * Stops a follower, removes its folder and makes writes while it is down: started again, it is
 * a new, empty replica, which can only catch up by a copy of the leader's state once the
 * leader's log is compacted past what it had. (Safe here: the other two replicas hold every entry.)
 */
async function emptyFollower(raft: RaftTier, status: ReplicaClusterClient, { runTag, dataDir }: ScaleOptions): Promise<{ leader: number; follower: number }> {
  const leader = await leaderOf(status, PARTITION);
  const follower = defined(
    raft.topology.replicas.find((r) => r.partition === PARTITION && r.id !== leader),
    'a follower of partition 0',
  ).id;
  await defined(raft.tier.replicas.get(follower), `process of replica ${follower}`).kill();
  rmSync(replicaDir(dataDir, follower), { recursive: true, force: true });
  // Writes while it is down: the leader finds the replica behind at its next append (an idle
  // leader sends only heartbeats, which do not compare logs).
  const writer = new PartitionedBackend(new ReplicaClusterClient(raft.topology), { requestTimeout_ms: 30_000 });
  const ids = new FreshIds(runTag, 1);
  try {
    for (let i = 0; i < WRITES_WHILE_DOWN; i++) await writer.execute({ op: 'CreateClient', cid: ids.next(PARTITION), data: DATA });
  } finally {
    await writer.close();
  }
  return { leader, follower };
}

/**
 * The emptied follower started again: it catches up by a copy of the leader's state, sent in
 * chunks, and then the log. Timed until it has applied the leader's commit.
 */
async function catchUpBySnapshot(raft: RaftTier, status: ReplicaClusterClient, { leader, follower }: { leader: number; follower: number }, { dataDir }: ScaleOptions): Promise<ScaleResult['catchUp']> {
  const startedAt = Date.now();
  const started = performance.now();
  const followerLines = new PrintedLines(raft.tier.startReplica(follower));
  await caughtUp(status, follower, WAIT_MS);
  const ms = performance.now() - started;
  // The line comes through a pipe the status answer does not wait for; normally it is already here.
  const restoredLine = await followerLines.first((line) => String(line.json?.msg).startsWith('state restored from a snapshot'), LINE_WAIT_MS);
  const restored = restoredLine?.json === undefined ? undefined : logLineOf(restoredLine.json);
  followerLines.stop();
  const logOf = (id: number) => logLines(join(dataDir, 'logs', `storage-${id}.log`), startedAt);
  const followerLog = followerLines.lines.flatMap((line) => {
    const parsed = line.json === undefined ? undefined : logLineOf(line.json);
    return parsed === undefined ? [] : [parsed];
  });
  const bytes = restored?.bytes ?? 0;
  const members = raft.topology.replicas.filter((r) => r.partition === PARTITION).map((r) => r.id);
  const leaderChanges = members.map((id) => logOf(id).filter((line) => line.msg === 'became leader').length).reduce((a, b) => a + b, 0);
  return { ms, bytes, MB_per_s: bytes / 1e6 / (ms / 1000), leaderChanges, stages: catchUpStages(startedAt, ms, followerLog, logOf(leader), follower) };
}

interface LogLine {
  readonly time: number;
  readonly msg: string;
  readonly ms?: number;
  readonly bytes?: number;
  readonly to?: number;
}

/** The fields of a replica's JSON log line this benchmark reads, or undefined when they are not there as it expects. */
function logLineOf(json: Readonly<Record<string, unknown>>): LogLine | undefined {
  const { time, msg, ms, bytes, to } = json;
  if (typeof time !== 'number' || typeof msg !== 'string') return undefined;
  const number = (value: unknown) => (typeof value === 'number' ? value : undefined);
  return { time, msg, ms: number(ms), bytes: number(bytes), to: number(to) };
}

/** The lines a replica logged from `since` (epoch ms) on; a line that is not a log record (a crash's stack) is passed over. */
function logLines(file: string, since: number): LogLine[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .flatMap((text) => {
      const json = jsonObject(text);
      const line = json === undefined ? undefined : logLineOf(json);
      return line === undefined || line.time < since ? [] : [line];
    });
}

/**
 * Where a catch-up's time went, from the replicas' own lines: the new replica's process start;
 * until the leader finds it behind and starts a copy; the leader's copy of its store; the transfer (from the leader's send to the follower having
 * the whole file, less its writing); writing and checking the file; installing it; and the log
 * entries after it. Undefined when a line is missing (a build that copies records instead).
 */
function catchUpStages(startedAt: number, total_ms: number, follower: readonly LogLine[], leader: readonly LogLine[], to: number): NonNullable<ScaleResult['catchUp']['stages']> | undefined {
  const up = follower.find((line) => line.msg === 'recovered from disk');
  const sent = leader.findLast((line) => line.msg === 'sending a follower a copy of the state' && line.to === to);
  const staged = follower.findLast((line) => line.msg === 'store file from the leader written and checked');
  const installed = follower.findLast((line) => line.msg.startsWith('state restored from a snapshot'));
  if (up === undefined || sent === undefined || staged === undefined || installed === undefined) return undefined;
  const stage_ms = staged.ms ?? 0;
  return {
    process_start_ms: up.time - startedAt,
    leader_finds_it_behind_ms: sent.time - (sent.ms ?? 0) - up.time,
    leader_copy_ms: sent.ms ?? 0,
    transfer_ms: staged.time - stage_ms - sent.time,
    write_and_check_ms: stage_ms,
    install_ms: installed.ms ?? 0,
    log_tail_ms: total_ms - (installed.time - startedAt),
  };
}
