import { writeFileSync } from 'node:fs';
import { fmtMs } from './machine.js';
import type { BenchResults } from './results.js';
import { barChart, escapeXml, lineChart, svgDocument, type Bar } from './svg.js';

/**
 * The bench chart: storage put throughput and latency percentiles against concurrency, the
 * comparison with etcd and between modes, and the failover times: the curves a reader
 * would otherwise dig out of tables.
 */
const COLOURS = { blue: '#1f77b4', orange: '#ff7f0e', green: '#2ca02c', red: '#d62728', purple: '#9467bd', grey: '#7f7f7f' };

export function renderChart(results: BenchResults): string {
  const sweep = results.runs
    .filter((r) => r.workload === 'put' && r.target === 'storage' && r.loop === 'closed' && r.system.includes('2×3') && !r.label.includes('ecom durable'))
    .map((r) => ({ ...r, concurrency: r.concurrency ?? 1 }))
    .sort((a, b) => a.concurrency - b.concurrency);
  const throughput = lineChart({
    x: 0,
    y: 40,
    width: 450,
    height: 300,
    title: 'Storage durable writes (both partitions)',
    xLabel: 'requests in flight (closed loop)',
    yLabel: 'writes/s',
    logX: true,
    series: [{ name: 'ops/s', colour: COLOURS.blue, points: sweep.map((r) => [r.concurrency, r.ops_per_s] as const) }],
  });
  const pct = (name: string, colour: string, pick: (r: (typeof sweep)[number]) => number) => ({ name, colour, points: sweep.map((r) => [r.concurrency, pick(r)] as const) });
  const latency = lineChart({
    x: 450,
    y: 40,
    width: 450,
    height: 300,
    title: 'Write latency percentiles',
    xLabel: 'requests in flight (closed loop)',
    yLabel: 'ms (log scale)',
    logX: true,
    logY: true,
    series: [
      pct('p50', COLOURS.green, (r) => r.latency.p50_ms),
      pct('p90', COLOURS.blue, (r) => r.latency.p90_ms),
      pct('p99', COLOURS.orange, (r) => r.latency.p99_ms),
      pct('p99.9', COLOURS.red, (r) => r.latency.p999_ms),
    ],
  });
  const bars: Bar[] = [];
  const c = results.comparison;
  if (c) {
    bars.push({ label: 'etcd, 3 members', value: c.etcd.ops_per_s, colour: COLOURS.grey, text: `${Math.round(c.etcd.ops_per_s)}/s` });
    bars.push({ label: 'ecom, 1 partition', value: c.ecomOnePartition.ops_per_s, colour: COLOURS.blue, text: `${Math.round(c.ecomOnePartition.ops_per_s)}/s (${c.ratioOnePartition.toFixed(1)}×)` });
    bars.push({ label: 'ecom, 2 partitions', value: c.ecomBothPartitions.ops_per_s, colour: COLOURS.blue, text: `${Math.round(c.ecomBothPartitions.ops_per_s)}/s (${c.ratioBothPartitions.toFixed(1)}×)` });
  }
  const compare = barChart({ x: 900, y: 40, width: 450, height: 150, title: `Durable puts, ${c?.concurrency ?? '-'} in flight, same run`, bars });
  const modeBars: Bar[] = (results.modes?.runs ?? []).map((r) => ({
    label: r.system,
    value: r.ops_per_s,
    colour: COLOURS.purple,
    text: `${Math.round(r.ops_per_s)}/s, p99 ${fmtMs(r.latency.p99_ms)} ms`,
  }));
  const modes = barChart({ x: 900, y: 190, width: 450, height: 150, title: `Portal "${results.modes?.workload ?? 'shop'}" by mode, ${results.modes?.concurrency ?? '-'} in flight`, bars: modeBars });
  const f = results.failover;
  const failover = lineChart({
    x: 0,
    y: 340,
    width: 900,
    height: 220,
    title: f ? `Failover: kill -9 of a leader → first successful write (p50 ${f.latency.p50_ms.toFixed(0)} ms, p99 ${f.latency.p99_ms.toFixed(0)} ms)` : 'Failover',
    xLabel: 'kill number',
    yLabel: 'ms',
    series: f ? [{ name: 'time to first write', colour: COLOURS.red, points: f.samples_ms.map((ms, i) => [i + 1, ms] as const) }] : [],
  });
  const m = results.machine;
  const header = `<text x="10" y="24" font-family="Helvetica, Arial, sans-serif" font-size="13">${escapeXml(
    `${results.command} — ${results.startedAt.slice(0, 16)}Z — ${m.cores} cores, Node ${m.node}, load average ${m.loadAverage.join(' ')}, fsync p50 ${fmtMs(m.fsync.p50_ms)} ms / p99 ${fmtMs(m.fsync.p99_ms)} ms`,
  )}</text>`;
  return svgDocument(1350, 570, [header, throughput, latency, compare, modes, failover]);
}

export function writeChart(file: string, results: BenchResults): void {
  writeFileSync(file, renderChart(results));
}
