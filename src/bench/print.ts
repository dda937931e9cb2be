import { fmtMs } from './machine.js';
import type { ProcessCpu, RunResult } from './runner.js';
import type { MachinePause } from './machine-pauses.js';
import { STALL_BOUND_MS, type StallSplit } from './stability.js';

/** One line per run: what a person reads while the bench goes on. */
export function describeRun(label: string, r: RunResult): string {
  const load = r.loop === 'closed' ? `${r.concurrency} in flight` : `open loop at ${r.rate_per_s}/s`;
  const l = r.latency;
  const errors = r.errors + r.dropped;
  const why = errors > 0 && r.errorSamples.length > 0 ? ` (e.g. ${r.errorSamples[0]})` : '';
  const dropped = r.dropped > 0 ? `, ${r.dropped} not sent (over the in-flight cap)` : '';
  return (
    `${label} [${r.workload}, ${load}, ${r.workers} worker process${r.workers === 1 ? '' : 'es'}${r.grpcClient === undefined ? '' : `, ${r.grpcClient} gRPC client`}]: ` +
    `${Math.round(r.ops_per_s).toLocaleString('en-US')} ops/s, ${r.errors} errors${dropped}${why}; ` +
    `latency ms p50 ${fmtMs(l.p50_ms)}, p90 ${fmtMs(l.p90_ms)}, p99 ${fmtMs(l.p99_ms)}, p99.9 ${fmtMs(l.p999_ms)}, max ${fmtMs(l.max_ms)}` +
    (r.cpuPerOp_us === undefined ? '' : `; system CPU ${r.cpuPerOp_us.toLocaleString('en-US')} µs/op`) +
    (r.switchesPerOp === undefined ? '' : `, ${r.switchesPerOp} context switches/op`) +
    (r.syscallsPerOp === undefined ? '' : `, ${r.syscallsPerOp} syscalls/op`) +
    (r.cpuPerOpByProcess === undefined ? '' : `; CPU µs/op by process: ${byProcessText(r.cpuPerOpByProcess)}`) +
    (r.leaderChanges === undefined ? '' : `; leader changes ${r.leaderChanges}, longest replica stall ${r.maxStall_ms} ms${stallSplitText(r.maxStallSplit)}${outsidePauses(r, r.maxStallOutsidePauses_ms)}${stalledSecondsText(r)}, longest leader silence ${r.maxLeaderSilence_ms ?? '?'} ms${outsidePauses(r, r.maxLeaderSilenceOutsidePauses_ms, 'them')}${r.maxFsync_ms === undefined ? '' : `, longest log fsync ${r.maxFsync_ms} ms`}`) +
    (r.leaderChanges === undefined && (r.machinePauses?.length ?? 0) > 0 ? `; ${pausesText(r.machinePauses ?? [])}` : '') +
    (r.stepDowns === undefined || r.stepDowns.length === 0 ? '' : ` (${r.stepDowns.join('; ')})`)
  );
}

/** " (replica 6: its event loop ran 28 ms and waited 44 ms for a core)": what the longest stall was made of. */
function stallSplitText(split: StallSplit | undefined): string {
  return split === undefined ? '' : ` (replica ${split.replica}: its event loop ran ${split.running_ms} ms and waited ${split.waitingForCpu_ms} ms for a core)`;
}

/** ", 50 ms or more in 3 of 60 s": how often the run's stalls reached issue #18's bound. */
function stalledSecondsText(r: RunResult): string {
  return r.stalledSeconds === undefined ? '' : `, ${STALL_BOUND_MS} ms or more in ${r.stalledSeconds} of ${Math.round(r.duration_ms / 1000)} s`;
}

/** "admin-server ×3 580 each, broker 368, load generator 460": where a run's CPU went. */
function byProcessText(processes: readonly ProcessCpu[]): string {
  return processes
    .map((p) => {
      const name = p.process === 'bench-worker' ? 'load generator' : p.process;
      return p.processes === 1 ? `${name} ${p.perOpEach_us.toLocaleString('en-US')}` : `${name} ×${p.processes} ${p.perOpEach_us.toLocaleString('en-US')} each`;
    })
    .join(', ');
}

function pausesText(pauses: readonly MachinePause[]): string {
  const longest = Math.max(...pauses.map((p) => p.lost_ms));
  return `${pauses.length} machine pause${pauses.length === 1 ? '' : 's'} (each core lost up to ${longest} ms)`;
}

/** A stall or silence figure without the seconds the machine itself paused in, when it did. */
function outsidePauses(r: RunResult, outside_ms: number | undefined, named?: 'them'): string {
  const pauses = r.machinePauses ?? [];
  if (pauses.length === 0 || outside_ms === undefined) return '';
  return ` (${outside_ms} ms outside ${named ?? pausesText(pauses)})`;
}

/** A progress line rewritten in place on a terminal, plain lines elsewhere (CI logs). */
export function progressPrinter(label: string, duration_ms: number): (ops: number, errors: number) => void {
  const began = Date.now();
  return (ops, errors) => {
    const seconds = Math.round((Date.now() - began) / 1000);
    const text = `  … ${label}: ${seconds}s of ~${Math.round(duration_ms / 1000)}s measured+warm-up, ${ops.toLocaleString('en-US')} ops, ${errors} errors`;
    if (process.stderr.isTTY) process.stderr.write(`\r${text}\x1b[K`);
    else process.stderr.write(`${text}\n`);
  };
}

export function endProgress(): void {
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
}
