import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newRunTag } from './fresh-ids.js';
import { describeMachine, probeMachine } from './machine.js';
import { describeRun, endProgress, progressPrinter } from './print.js';
import type { BenchResults, LabelledRun } from './results.js';
import { runWorkload, stopAllWorkers, type RunOptions } from './runner.js';
import { describeTrace, StabilityWatch, stageTraces } from './stability.js';
import { MachinePauseWatch } from './machine-pauses.js';
import { describePortalTrace, scrapeStages, stagesBetween } from './portal-trace.js';
import { defined } from '../util/assert.js';
import type { Topology } from '../storage/common/topology.js';
import { DEFAULT_WORKERS, findWorkload, type GrpcClientKind } from './workloads.js';
import { describeMqttTrace, mqttStageTraces, type MqttTraceable } from './mqtt-trace.js';

/** What a run is measured against: its processes, and its raft tier or mqtt-mode broker if it has one. */
export interface MeasuredSystem {
  pids?(): number[];
  readonly topology?: Topology;
  /** A raft-mode portal's metrics, where --trace reads its coordinator's stages. */
  readonly metricsUrl?: string;
  /** mqtt mode: its broker and portals, where --trace asks each portal for its stages. */
  readonly mqtt?: MqttTraceable;
}

/**
 * One `ecom bench` invocation: its temporary folder (replica and etcd data, deleted at the
 * end), the machine probe, the results gathered so far, and a clean stop on Ctrl-C: workers
 * first, then the systems under test in reverse order of starting, then the folder.
 */
export interface SessionOptions {
  readonly command: string;
  /** Load-generating processes of every run (`--workers`); unset, each workload's own or DEFAULT_WORKERS. */
  readonly workers?: number;
  readonly warmup_ms: number;
  readonly duration_ms: number;
  readonly timeout_ms: number;
  readonly fsyncSamples?: number;
  /** The gRPC client of portal and etcd workloads' measured calls (--grpc-client); unset, DEFAULT_GRPC_CLIENT. */
  readonly grpcClient?: GrpcClientKind;
  /** Print where each write's time went in the partition leaders or the mqtt-mode portals (--trace). */
  readonly trace?: boolean;
  /** Leave the temporary folder (logs, data) in place at the end, and say where it is (--keep). */
  readonly keep?: boolean;
  /** Where to print; stdout by default. */
  readonly out?: (line: string) => void;
}

export class BenchSession {
  readonly folder: string;
  readonly results: BenchResults;
  readonly runTag: string;
  private readonly owned: Array<{ stop(): Promise<void> }> = [];
  private stopping = false;
  private runs = 0;
  private closing: Promise<void> | undefined;
  private readonly signalHandler = (signal: NodeJS.Signals) => void this.interrupt(signal);

  constructor(readonly options: SessionOptions) {
    this.folder = mkdtempSync(join(tmpdir(), 'ecom-bench-'));
    this.runTag = newRunTag();
    process.on('SIGINT', this.signalHandler);
    process.on('SIGTERM', this.signalHandler);
    const machine = probeMachine(this.folder, options.fsyncSamples);
    this.results = { tool: 'ecom bench', command: options.command, startedAt: new Date().toISOString(), machine, runs: [], notes: [] };
    this.print(`ecom bench: ${options.command}`);
    this.print(describeMachine(machine));
  }

  get aborted(): boolean {
    return this.stopping;
  }

  print(line: string): void {
    (this.options.out ?? ((l: string) => process.stdout.write(`${l}\n`)))(line);
  }

  note(text: string): void {
    this.results.notes.push(text);
    this.print(`note: ${text}`);
  }

  /** Registers something to stop at the end (or on Ctrl-C); returns it for chaining. */
  own<T extends { stop(): Promise<void> }>(thing: T): T {
    this.owned.push(thing);
    return thing;
  }

  /** Stops one owned thing now (e.g. a mode's system before the next mode starts). */
  async release(thing: { stop(): Promise<void> }): Promise<void> {
    const at = this.owned.indexOf(thing);
    if (at >= 0) this.owned.splice(at, 1);
    await thing.stop();
  }

  async run(
    label: string,
    system: string,
    options: Omit<RunOptions, 'runTag' | 'workers' | 'warmup_ms' | 'duration_ms' | 'timeout_ms'> & Partial<RunOptions> & { of?: MeasuredSystem | MeasuredSystem[] },
  ): Promise<LabelledRun> {
    const warmup_ms = options.warmup_ms ?? this.options.warmup_ms;
    const duration_ms = options.duration_ms ?? this.options.duration_ms;
    // What the run measures: its processes' CPU and, for a raft tier, its elections and stalls.
    const parts = [options.of ?? []].flat();
    const tiers = parts.flatMap((part) => (part.topology === undefined ? [] : [part.topology]));
    const watch = await StabilityWatch.start(tiers);
    const tracing = this.options.trace === true && tiers.length > 0;
    if (tracing) await stageTraces(tiers); // a fresh window: earlier runs are not counted (this warm-up is)
    const portalMetrics = tracing ? parts.flatMap((part) => (part.metricsUrl === undefined ? [] : [part.metricsUrl])) : [];
    const portalBefore = await Promise.all(portalMetrics.map(scrapeStages));
    const brokers = parts.flatMap((part) => (part.mqtt === undefined ? [] : [part.mqtt]));
    const tracingMqtt = this.options.trace === true && brokers.length > 0;
    // The portals record from the first request on; the window restarts when the measuring does.
    const traceMqtt = () =>
      mqttStageTraces(brokers).catch((err: unknown) => {
        this.note(`the mqtt stage trace could not be read: ${(err as Error).message}`);
        return undefined;
      });
    if (tracingMqtt) await traceMqtt();
    let measuring: Promise<unknown> | undefined;
    let pauseWatch: MachinePauseWatch | undefined;
    const result = await runWorkload({
      systemPids: () => parts.flatMap((part) => part.pids?.() ?? []),
      workers: this.options.workers ?? findWorkload(options.workload).workers ?? DEFAULT_WORKERS,
      ...(this.options.grpcClient === undefined ? {} : { grpcClient: this.options.grpcClient }),
      timeout_ms: this.options.timeout_ms,
      // Fresh IDs for every run: a run never meets the records of an earlier one.
      runTag: `${this.runTag}${String(this.runs++).padStart(3, '0')}`,
      warmup_ms,
      duration_ms,
      onProgress: progressPrinter(label, warmup_ms + duration_ms),
      onWorkerLine: (line) => process.stderr.write(`${line}\n`),
      ...options,
      onMeasuring: () => {
        watch.measuring();
        pauseWatch = MachinePauseWatch.start();
        if (tracingMqtt) measuring = traceMqtt();
        options.onMeasuring?.();
      },
    });
    endProgress();
    await measuring;
    const machinePauses = pauseWatch?.stop();
    const stability = await watch.finish(machinePauses);
    const trace = tracing ? await stageTraces(tiers) : undefined;
    const portalUrl = portalMetrics[0];
    const portalTrace = portalUrl === undefined ? undefined : stagesBetween(defined(portalBefore[0], portalUrl), await scrapeStages(portalUrl));
    const mqttTrace = tracingMqtt ? await traceMqtt() : undefined;
    const run: LabelledRun = { label, system, ...result, ...(machinePauses ? { machinePauses } : {}), ...stability, ...(trace ? { trace } : {}), ...(portalTrace ? { portalTrace } : {}), ...(mqttTrace ? { mqttTrace } : {}) };
    this.results.runs.push(run);
    this.print(describeRun(`${label} (${system})`, run));
    if (trace) for (const line of describeTrace(trace)) this.print(line);
    if (portalTrace) this.print(describePortalTrace(portalTrace));
    if (mqttTrace) for (const line of describeMqttTrace(mqttTrace)) this.print(line);
    return run;
  }

  private async interrupt(signal: string): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    process.stderr.write(`\n${signal}: stopping the workers and every system the bench started…\n`);
    await this.close();
    process.exit(130);
  }

  /**
   * Stops workers and systems, deletes the temporary folder (unless kept). Ctrl-C and the normal end can
   * both call it at once: they share one closing, so the folder goes only after everything stopped.
   */
  close(): Promise<void> {
    this.closing ??= this.closeOnce();
    return this.closing;
  }

  private async closeOnce(): Promise<void> {
    await stopAllWorkers();
    for (const thing of this.owned.splice(0).reverse()) await thing.stop().catch((err: unknown) => process.stderr.write(`while stopping: ${(err as Error).message}\n`));
    if (this.options.keep === true) this.print(`kept ${this.folder} (each run's process logs are in its logs/ folders; delete it when done)`);
    else rmSync(this.folder, { recursive: true, force: true });
    process.off('SIGINT', this.signalHandler);
    process.off('SIGTERM', this.signalHandler);
  }
}
