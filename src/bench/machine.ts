import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { cpus, freemem, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { Histogram } from './histogram.js';

/**
 * What the figures were measured on. The fsync latency is measured on the spot, in the
 * folder where the replicas keep their data: durable writes cannot be faster than the disk
 * acknowledges a flush, so a reader needs that figure next to the write latencies.
 */
export interface MachineInfo {
  readonly cores: number;
  readonly cpuModel: string;
  readonly node: string;
  readonly platform: string;
  readonly memory_GiB: number;
  readonly freeMemory_GiB: number;
  /** 1, 5 and 15-minute load averages when the run started: above the core count, other work competes. */
  readonly loadAverage: readonly number[];
  readonly fsync: { readonly folder: string; readonly samples: number; readonly p50_ms: number; readonly p99_ms: number; readonly max_ms: number };
  /**
   * What ran: the compiled JavaScript in dist/, or the TypeScript sources through tsx, which
   * bin/ecom.js falls back to when any source is newer than the build. Every process then
   * starts ~250 ms slower, which a restart or catch-up figure shows (two such runs on
   * 2026-12-05 read 1,265 ms for a restart that takes ~850).
   */
  readonly code: 'compiled' | 'sources';
}

/** Whether this process runs the sources (this module is a .ts file) or the build. */
export function runningCode(moduleUrl: string = import.meta.url): MachineInfo['code'] {
  return moduleUrl.endsWith('.ts') ? 'sources' : 'compiled';
}

/** Writes 4 KiB and fdatasyncs it, `samples` times, in a fresh file under `folder`. */
export function measureFsync(folder: string, samples = 200): MachineInfo['fsync'] {
  const dir = mkdtempSync(join(folder, 'fsync-probe-'));
  const fd = openSync(join(dir, 'probe'), 'w');
  const block = Buffer.alloc(4096, 7);
  const histogram = new Histogram();
  try {
    for (let i = 0; i < samples; i++) {
      writeSync(fd, block, 0, block.length, (i % 64) * block.length);
      const started = process.hrtime.bigint();
      fdatasyncSync(fd);
      histogram.record_us(Number(process.hrtime.bigint() - started) / 1000);
    }
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
  const s = histogram.summary();
  return { folder, samples, p50_ms: s.p50_ms, p99_ms: s.p99_ms, max_ms: s.max_ms };
}

export function probeMachine(fsyncFolder: string, fsyncSamples?: number): MachineInfo {
  return {
    cores: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    memory_GiB: round(totalmem() / 2 ** 30),
    freeMemory_GiB: round(freemem() / 2 ** 30),
    loadAverage: loadavg().map(round),
    fsync: measureFsync(fsyncFolder, fsyncSamples),
    code: runningCode(),
  };
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

export function describeMachine(m: MachineInfo): string {
  const busy = m.loadAverage[0]! > m.cores * 0.7 ? ' (busy machine: other work competes, figures are depressed and noisy)' : '';
  return (
    `machine: ${m.cores} cores (${m.cpuModel}), ${m.platform}, Node ${m.node}, ${m.memory_GiB} GiB RAM\n` +
    `load average: ${m.loadAverage.join(' ')}${busy}\n` +
    `disk fsync (4 KiB write + fdatasync, ${m.fsync.samples}×, in ${m.fsync.folder}): p50 ${fmtMs(m.fsync.p50_ms)} ms, p99 ${fmtMs(m.fsync.p99_ms)} ms, max ${fmtMs(m.fsync.max_ms)} ms` +
    (m.code === 'sources'
      ? '\ncode: WARNING the TypeScript sources through tsx, not the build (a source is newer than dist/, or ECOM_FROM_SOURCE=1): every process starts ~250 ms slower; run `npm run build` before taking figures to report'
      : '')
  );
}

export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  return ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : ms.toFixed(0);
}
