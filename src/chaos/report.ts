import type { OpRecord, Violation } from './history.js';
import type { InjectedFault } from './schedule.js';
import { defined } from '../util/assert.js';

/**
 * The run's report: one HTML page with an inline SVG timeline (fault bands across the top and
 * through the picture, one lane per workload client, one bar per operation coloured by outcome)
 * focused on the records a violation names, then the same operations as a table.
 */
const MAX_DRAWN_OPS = 3_000;
const WIDTH = 1_400;
const LANE = 14;
const FAULT_ROW = 16;
const COLOURS = { ok: '#2e7d32', fail: '#9e9e9e', unknown: '#ef6c00', pending: '#000' } as const;

const esc = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const fmt = (ms: number | undefined) => (ms === undefined || !Number.isFinite(ms) ? '—' : `${(ms / 1000).toFixed(3)} s`);

export interface ReportInput {
  readonly title: string;
  readonly summary: Record<string, unknown>;
  readonly ops: readonly OpRecord[];
  readonly faults: readonly InjectedFault[];
  readonly violations: readonly Violation[];
}

export function focusOps(ops: readonly OpRecord[], violations: readonly Violation[]): OpRecord[] {
  const keys = new Set(violations.flatMap((v) => v.keys));
  const focus = keys.size === 0 ? [...ops] : ops.filter((o) => o.keys.some((k) => keys.has(k)));
  // Too many to draw: keep the latest ones, where a lost or stale write shows up.
  return focus.slice(Math.max(0, focus.length - MAX_DRAWN_OPS));
}

export function renderReport(input: ReportInput): string {
  const ops = focusOps(input.ops, input.violations);
  // Loops, not Math.max(...spread): a soak's history has hundreds of thousands of operations,
  // more arguments than a call can take.
  let end = 1;
  for (const o of input.ops) end = Math.max(end, o.ret_ms ?? o.call_ms);
  for (const f of input.faults) end = Math.max(end, f.end_ms);
  let firstCall = Infinity;
  for (const o of ops) firstCall = Math.min(firstCall, o.call_ms);
  const start = ops.length > 0 && input.violations.length > 0 ? Math.max(0, firstCall - 2_000) : 0;
  const span = Math.max(1, end - start);
  const x = (ms: number) => 60 + ((Math.min(ms, end) - start) / span) * (WIDTH - 70);
  const lanes = [...new Set(ops.map((o) => `${o.workload} ${o.client}`))].sort();
  const laneOf = new Map(lanes.map((l, i) => [l, i]));
  const faultRows = input.faults.length > 0 ? Math.min(6, input.faults.length) : 0;
  const top = 20 + faultRows * FAULT_ROW;
  const height = top + lanes.length * LANE + 30;
  const parts: string[] = [];
  input.faults.forEach((f, i) => {
    const y = 20 + (i % Math.max(1, faultRows)) * FAULT_ROW;
    const [x1, x2] = [x(f.start_ms), x(f.end_ms)];
    parts.push(`<rect x="${x1}" y="${top}" width="${Math.max(1, x2 - x1)}" height="${height - top - 20}" fill="#d32f2f" opacity="0.08"/>`);
    parts.push(`<rect x="${x1}" y="${y}" width="${Math.max(2, x2 - x1)}" height="${FAULT_ROW - 3}" fill="#d32f2f" opacity="0.6"><title>${esc(`#${f.seq} ${f.description}: ${fmt(f.start_ms)} – ${fmt(f.end_ms)}`)}</title></rect>`);
    parts.push(`<text x="${x1 + 2}" y="${y + 10}" font-size="9" fill="#fff">${esc(f.kind)}</text>`);
  });
  lanes.forEach((lane, i) => parts.push(`<text x="2" y="${top + i * LANE + 10}" font-size="9">${esc(lane)}</text>`));
  for (const o of ops) {
    const y = top + defined(laneOf.get(`${o.workload} ${o.client}`), 'lane of an operation') * LANE + 2;
    const x1 = x(o.call_ms);
    const x2 = x(o.outcome === 'unknown' || o.ret_ms === undefined ? end : o.ret_ms);
    const colour = COLOURS[o.outcome ?? 'pending'];
    const title = `#${o.id} ${o.op} ${o.keys.join(' ')} ${fmt(o.call_ms)} → ${o.outcome === 'unknown' ? 'unknown' : fmt(o.ret_ms)} ${JSON.stringify(o.input)} ⇒ ${JSON.stringify(o.result)}`;
    parts.push(`<rect x="${x1}" y="${y}" width="${Math.max(1, x2 - x1)}" height="${LANE - 4}" fill="${colour}" opacity="${o.outcome === 'unknown' ? 0.35 : 0.85}"><title>${esc(title)}</title></rect>`);
  }
  for (let s = Math.ceil(start / 5_000) * 5_000; s <= end; s += 5_000) parts.push(`<text x="${x(s)}" y="${height - 6}" font-size="9">${s / 1000}s</text>`);
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" style="border:1px solid #ccc;background:#fff">${parts.join('')}</svg>`;
  const rows = ops
    .map((o) => `<tr class="${o.outcome ?? ''}"><td>${o.id}</td><td>${o.workload} ${o.client}</td><td>${esc(o.op)}</td><td>${esc(o.keys.join(' '))}</td><td>${fmt(o.call_ms)}</td><td>${o.outcome === 'unknown' ? '?' : fmt(o.ret_ms)}</td><td>${o.outcome ?? ''}</td><td><code>${esc(JSON.stringify(o.input))}</code></td><td><code>${esc(JSON.stringify(o.result))}</code></td></tr>`)
    .join('\n');
  const faults = input.faults.map((f) => `<tr><td>${f.seq}</td><td>${esc(f.kind)}</td><td>${fmt(f.start_ms)}</td><td>${fmt(f.end_ms)}</td><td>${esc(f.description)}</td></tr>`).join('\n');
  const violations = input.violations.length === 0 ? '<p>No violation.</p>' : `<ul>${input.violations.map((v) => `<li><b>${esc(v.checker)}</b>: ${esc(v.message)}</li>`).join('')}</ul>`;
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>${esc(input.title)}</title>
<style>body{font-family:sans-serif;margin:1em}table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ddd;padding:2px 4px;vertical-align:top}
tr.unknown{background:#fff3e0}tr.fail{color:#777}code{font-size:11px}</style></head><body>
<h1>${esc(input.title)}</h1>
<pre>${esc(JSON.stringify(input.summary, null, 2))}</pre>
<h2>Violations</h2>${violations}
<h2>Timeline</h2>
<p>${input.violations.length > 0 ? `Operations on ${esc([...new Set(input.violations.flatMap((v) => v.keys))].join(', '))}` : 'All operations'}${ops.length === MAX_DRAWN_OPS ? ` (the last ${MAX_DRAWN_OPS})` : ''}; red bands are faults; bars: <span style="color:${COLOURS.ok}">ok</span>, <span style="color:${COLOURS.fail}">refused</span>, <span style="color:${COLOURS.unknown}">unknown outcome (drawn to the end)</span>. Hover for details.</p>
${svg}
<h2>Faults</h2><table><tr><th>#</th><th>kind</th><th>start</th><th>healed</th><th>what</th></tr>${faults}</table>
<h2>Operations shown</h2><table><tr><th>id</th><th>client</th><th>op</th><th>records</th><th>call</th><th>return</th><th>outcome</th><th>input</th><th>result</th></tr>${rows}</table>
</body></html>
`;
}
