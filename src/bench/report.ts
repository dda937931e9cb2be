import { writeFileSync } from 'node:fs';
import { dirname, relative } from 'node:path';
import { fmtMs } from './machine.js';
import type { BenchResults, LabelledRun } from './results.js';
import { checkTargets, verdictMark } from './targets-check.js';

/** The short Markdown report of a run: machine, targets, one table of every run, notes. */
export function renderReport(results: BenchResults, chartPath?: string, reportPath?: string): string {
  const m = results.machine;
  const lines: string[] = [];
  lines.push('# ecom bench report', '');
  lines.push(`Produced by \`${results.command}\` on ${results.startedAt}.`, '');
  lines.push(
    `Machine: ${m.cores} cores (${m.cpuModel}), ${m.platform}, Node ${m.node}, ${m.memory_GiB} GiB RAM; ` +
      `load average at the start ${m.loadAverage.join(' ')}; disk fsync (4 KiB + fdatasync) p50 ${fmtMs(m.fsync.p50_ms)} ms, p99 ${fmtMs(m.fsync.p99_ms)} ms. ` +
      'Every process (replicas, portals, etcd, load generators) ran on this machine.',
    '',
  );
  if (chartPath !== undefined) {
    const href = reportPath !== undefined ? relative(dirname(reportPath), chartPath) : chartPath;
    lines.push(`![ecom bench chart](${href})`, '');
  }
  lines.push('## Targets (issues #6, #12, #17)', '', '| target | this run | verdict |', '|---|---|---|');
  for (const v of checkTargets(results)) lines.push(`| ${v.target} | ${v.reached} | ${verdictMark(v)} |`);
  lines.push('');
  if (results.comparison) {
    const c = results.comparison;
    lines.push(
      '## ecom vs etcd (same run, same workers, same concurrency)',
      '',
      `Durable puts with ${c.concurrency} in flight: etcd ${Math.round(c.etcd.ops_per_s)}/s (p99 ${fmtMs(c.etcd.latency.p99_ms)} ms); ` +
        `ecom one partition ${Math.round(c.ecomOnePartition.ops_per_s)}/s (p99 ${fmtMs(c.ecomOnePartition.latency.p99_ms)} ms, **${c.ratioOnePartition.toFixed(1)}×**); ` +
        `ecom both partitions ${Math.round(c.ecomBothPartitions.ops_per_s)}/s (p99 ${fmtMs(c.ecomBothPartitions.latency.p99_ms)} ms, **${c.ratioBothPartitions.toFixed(1)}×**).`,
      '',
    );
  }
  if (results.failover) {
    const f = results.failover;
    lines.push('## Failover', '', `${f.kills} kills under load (${f.backgroundLoad}): p50 ${f.latency.p50_ms.toFixed(0)} ms, p99 ${f.latency.p99_ms.toFixed(0)} ms, max ${f.latency.max_ms.toFixed(0)} ms.`, '');
    lines.push(`Each kill, ms: ${f.samples_ms.map((s) => s.toFixed(0)).join(', ')}.`, '');
  }
  lines.push('## Every run', '', '| what | system | workload | load | ops/s | errors | p50 ms | p90 | p99 | p99.9 | max |', '|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of results.runs) lines.push(row(r));
  lines.push('');
  if (results.notes.length > 0) {
    lines.push('## Notes', '');
    for (const n of results.notes) lines.push(`- ${n}`);
    lines.push('');
  }
  return `${lines.join('\n')}\n`;
}

function row(r: LabelledRun): string {
  const load = r.loop === 'closed' ? `${r.concurrency} in flight` : `${r.rate_per_s}/s open loop`;
  const l = r.latency;
  return `| ${r.label} | ${r.system} | ${r.workload} | ${load} | ${Math.round(r.ops_per_s).toLocaleString('en-US')} | ${errorsCell(r)} | ${fmtMs(l.p50_ms)} | ${fmtMs(l.p90_ms)} | ${fmtMs(l.p99_ms)} | ${fmtMs(l.p999_ms)} | ${fmtMs(l.max_ms)} |`;
}

/**
 * Failed requests, and apart from them the open loop's requests never sent because the in-flight
 * cap was reached: those say the load outran the system, not that it answered wrongly.
 */
function errorsCell(r: LabelledRun): string {
  const errors = r.errors.toLocaleString('en-US');
  return r.dropped > 0 ? `${errors} (+${r.dropped.toLocaleString('en-US')} not sent)` : errors;
}

export function writeReport(file: string, results: BenchResults, chartPath?: string): void {
  writeFileSync(file, renderReport(results, chartPath, file));
}
