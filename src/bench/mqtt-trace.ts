import { readMqttTraces } from '../modes/mqtt/trace-client.js';
import { MQTT_STAGES } from '../modes/mqtt/stage-trace.js';
import type { StageSummary } from '../modes/mqtt/protocol.js';

/** What the bench needs to trace an mqtt-mode system: its broker, and its portals by gRPC port and process. */
export interface MqttTraceable {
  readonly brokerUrl: string;
  portals(): ReadonlyArray<{ readonly port: number; readonly pid: number | undefined }>;
}

/** One portal's stage percentiles over a run (src/modes/mqtt/stage-trace.ts says what each stage times). */
export interface MqttPortalTrace {
  /** The portal's gRPC port, or 0 when the answer came from a process the bench did not start. */
  readonly port: number;
  readonly stages: Readonly<Record<string, StageSummary>>;
  /** Commands whose publish stamp was ahead of this portal's clock (not timed). */
  readonly skewed: number;
}

const TRACE_TIMEOUT_MS = 2_000;

/** Each portal's stages since the last reading (which starts a new window everywhere). */
export async function mqttStageTraces(systems: readonly MqttTraceable[]): Promise<MqttPortalTrace[]> {
  const out: MqttPortalTrace[] = [];
  for (const system of systems) {
    const portals = system.portals();
    const replies = await readMqttTraces(system.brokerUrl, { expected: portals.length, timeout_ms: TRACE_TIMEOUT_MS });
    for (const reply of replies) {
      const port = portals.find((p) => p.pid === reply.pid)?.port ?? 0;
      out.push({ port, stages: reply.stages, skewed: reply.skewed });
    }
    if (replies.length < portals.length) out.push(...portals.filter((p) => !replies.some((r) => r.pid === p.pid)).map((p) => ({ port: p.port, stages: {}, skewed: 0 })));
  }
  return out.sort((a, b) => a.port - b.port);
}

const ms = (v: number) => (v >= 10 ? v.toFixed(1) : v.toFixed(2));

export function describeMqttTrace(trace: readonly MqttPortalTrace[]): string[] {
  return trace.map(({ port, stages, skewed }) => {
    const applied = stages.apply?.count ?? 0;
    if (applied === 0 && stages.loopDelay === undefined) return `  trace, portal :${port}: no answer (a portal of an older build, or it is down)`;
    const parts = MQTT_STAGES.flatMap((s) => {
      const v = stages[s];
      if (v === undefined || v.count === 0) return [];
      if (s === 'gc') return [`gc ${v.count} pauses, p99 ${ms(v.p99_ms)} / max ${ms(v.max_ms)}`];
      if (s === 'loopDelay') return [`loop delay p50 ${ms(v.p50_ms)} / p99 ${ms(v.p99_ms)} / max ${ms(v.max_ms)}`];
      return [`${s} p50 ${ms(v.p50_ms)} / p99 ${ms(v.p99_ms)}`];
    });
    const own = stages.write?.count ?? 0;
    const skew = skewed > 0 ? `; ${skewed} stamps ahead of this clock, not timed` : '';
    return `  trace, portal :${port} (${applied} applied, ${own} its own), ms: ${parts.join('; ')}${skew}`;
  });
}
