/**
 * A few SVG primitives for the bench charts, written by hand (no charting dependency): a
 * line chart with optional log y axis, and a horizontal bar chart. Each returns an SVG
 * group positioned at (x, y) with the given size.
 */
export interface Series {
  readonly name: string;
  readonly colour: string;
  readonly points: ReadonlyArray<readonly [number, number]>;
}

export interface Bar {
  readonly label: string;
  readonly value: number;
  readonly colour: string;
  readonly text: string;
}

const FONT = 'font-family="Helvetica, Arial, sans-serif"';

export function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

function text(x: number, y: number, content: string, attrs = ''): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${FONT} ${attrs}>${escapeXml(content)}</text>`;
}

/** Round numbers for axis ticks: 1, 2, 5 × 10^k. */
function niceTicks(max: number, count = 5): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const step = [1, 2, 5, 10].map((m) => m * 10 ** Math.floor(Math.log10(raw))).find((s) => s >= raw) ?? raw;
  const ticks: number[] = [];
  for (let t = 0; t <= max + step / 2; t += step) ticks.push(t);
  return ticks;
}

function tickLabel(v: number): string {
  if (v >= 1000) return `${(v / 1000).toLocaleString('en-US', { maximumFractionDigits: 1 })}k`;
  return v < 1 && v > 0 ? v.toPrecision(1) : v.toLocaleString('en-US', { maximumFractionDigits: 1 });
}

export function lineChart(options: {
  x: number;
  y: number;
  width: number;
  height: number;
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly Series[];
  logX?: boolean;
  logY?: boolean;
}): string {
  const { x, y, width, height } = options;
  const pad = { left: 60, right: 12, top: 30, bottom: 44 };
  const w = width - pad.left - pad.right;
  const h = height - pad.top - pad.bottom;
  const all = options.series.flatMap((s) => s.points);
  const out: string[] = [`<g transform="translate(${x},${y})">`, text(width / 2, 18, options.title, 'font-size="14" font-weight="bold" text-anchor="middle"')];
  if (all.length === 0) {
    out.push(text(width / 2, height / 2, 'not measured in this run', 'font-size="12" text-anchor="middle" fill="#888"'), '</g>');
    return out.join('\n');
  }
  const fx = options.logX ? Math.log10 : (v: number) => v;
  const fy = options.logY ? Math.log10 : (v: number) => v;
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]).filter((v) => v > 0 || !options.logY);
  const xMin = options.logX ? Math.min(...xs) : 0;
  const xMax = Math.max(...xs);
  let yTicks: number[];
  if (options.logY) {
    const lo = Math.floor(Math.log10(Math.min(...ys)));
    const hi = Math.ceil(Math.log10(Math.max(...ys)));
    yTicks = Array.from({ length: hi - lo + 1 }, (_, i) => 10 ** (lo + i));
  } else yTicks = niceTicks(Math.max(...ys));
  const yMin = options.logY ? yTicks[0]! : 0;
  const yMax = yTicks[yTicks.length - 1]!;
  const sx = (v: number) => pad.left + (xMax === xMin ? w / 2 : ((fx(v) - fx(xMin)) / (fx(xMax) - fx(xMin))) * w);
  const sy = (v: number) => pad.top + h - ((fy(Math.max(v, yMin)) - fy(yMin)) / (fy(yMax) - fy(yMin) || 1)) * h;
  for (const t of yTicks) {
    out.push(`<line x1="${pad.left}" x2="${pad.left + w}" y1="${sy(t).toFixed(1)}" y2="${sy(t).toFixed(1)}" stroke="#ddd"/>`);
    out.push(text(pad.left - 6, sy(t) + 4, tickLabel(t), 'font-size="11" text-anchor="end"'));
  }
  for (const t of [...new Set(xs)].sort((a, b) => a - b)) {
    out.push(text(sx(t), pad.top + h + 16, tickLabel(t), 'font-size="11" text-anchor="middle"'));
  }
  out.push(`<rect x="${pad.left}" y="${pad.top}" width="${w}" height="${h}" fill="none" stroke="#999"/>`);
  out.push(text(pad.left + w / 2, height - 6, options.xLabel, 'font-size="12" text-anchor="middle"'));
  out.push(text(14, pad.top + h / 2, options.yLabel, `font-size="12" text-anchor="middle" transform="rotate(-90 14 ${pad.top + h / 2})"`));
  options.series.forEach((s, i) => {
    const pts = s.points.filter((p) => !options.logY || p[1] > 0);
    if (pts.length > 1) out.push(`<polyline fill="none" stroke="${s.colour}" stroke-width="2" points="${pts.map((p) => `${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(' ')}"/>`);
    for (const p of pts) out.push(`<circle cx="${sx(p[0]).toFixed(1)}" cy="${sy(p[1]).toFixed(1)}" r="3" fill="${s.colour}"/>`);
    out.push(`<rect x="${pad.left + 8}" y="${pad.top + 6 + i * 15}" width="10" height="10" fill="${s.colour}"/>`);
    out.push(text(pad.left + 22, pad.top + 15 + i * 15, s.name, 'font-size="11"'));
  });
  out.push('</g>');
  return out.join('\n');
}

export function barChart(options: { x: number; y: number; width: number; height: number; title: string; bars: readonly Bar[] }): string {
  const { x, y, width, height, bars } = options;
  const out: string[] = [`<g transform="translate(${x},${y})">`, text(width / 2, 18, options.title, 'font-size="14" font-weight="bold" text-anchor="middle"')];
  if (bars.length === 0) {
    out.push(text(width / 2, height / 2, 'not measured in this run', 'font-size="12" text-anchor="middle" fill="#888"'), '</g>');
    return out.join('\n');
  }
  const labelWidth = 150;
  const top = 32;
  const rowHeight = Math.min(32, (height - top - 8) / bars.length);
  const max = Math.max(...bars.map((b) => b.value), 1);
  const w = width - labelWidth - 90;
  bars.forEach((b, i) => {
    const by = top + i * rowHeight;
    const bw = Math.max(1, (b.value / max) * w);
    out.push(text(labelWidth - 6, by + rowHeight * 0.6, b.label, 'font-size="11" text-anchor="end"'));
    out.push(`<rect x="${labelWidth}" y="${(by + 3).toFixed(1)}" width="${bw.toFixed(1)}" height="${(rowHeight - 6).toFixed(1)}" fill="${b.colour}"/>`);
    out.push(text(labelWidth + bw + 4, by + rowHeight * 0.6, b.text, 'font-size="11"'));
  });
  out.push('</g>');
  return out.join('\n');
}

export function svgDocument(width: number, height: number, body: readonly string[]): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">\n<rect width="100%" height="100%" fill="white"/>\n${body.join('\n')}\n</svg>\n`;
}
