/**
 * The Prometheus text format (version 0.0.4), read and written: enough to merge several
 * processes' scrapes into one (union.ts) and for tests to check a scrape. prom-client writes
 * the format but does not read it, and the parsers on npm are unmaintained, so this is the
 * few lines the format needs.
 */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
  /** The value as written ("+Inf", "1e-05"), so rewriting a sample changes nothing of it. */
  readonly valueText: string;
}

export interface Family {
  readonly name: string;
  help?: string;
  type?: string;
  readonly samples: Sample[];
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?\s*$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?/g;
const SUFFIXES = ['_bucket', '_sum', '_count', '_total', '_created', '_info'];

const unescape = (value: string) => value.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
const escapeLabel = (value: string) => value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

function parseLabels(text: string | undefined): Record<string, string> {
  const labels: Record<string, string> = {};
  if (text === undefined) return labels;
  for (const match of text.matchAll(LABEL)) labels[match[1]!] = unescape(match[2]!);
  return labels;
}

function belongs(sample: string, family: string): boolean {
  return sample === family || SUFFIXES.some((suffix) => sample === family + suffix);
}

/** The families of a scrape, in order; a line that is not the format throws, naming it. */
export function parseExposition(text: string): Family[] {
  const families: Family[] = [];
  let current: Family | undefined;
  const familyNamed = (name: string): Family => {
    if (current?.name !== name) {
      current = { name, samples: [] };
      families.push(current);
    }
    return current;
  };
  for (const [number, line] of text.split('\n').entries()) {
    if (line.trim() === '') continue;
    const meta = /^#\s*(HELP|TYPE)\s+(\S+)\s?(.*)$/.exec(line);
    if (meta !== null) {
      const family = familyNamed(meta[2]!);
      if (meta[1] === 'HELP') family.help = meta[3];
      else family.type = meta[3];
      continue;
    }
    if (line.startsWith('#')) continue;
    const sample = SAMPLE.exec(line);
    if (sample === null) throw new Error(`line ${number + 1} is not in the Prometheus text format: ${line.slice(0, 200)}`);
    const [, name, labels, valueText] = sample as unknown as [string, string, string | undefined, string];
    const family = current !== undefined && belongs(name, current.name) ? current : familyNamed(name);
    family.samples.push({ name, labels: parseLabels(labels), value: Number(valueText), valueText });
  }
  return families;
}

export function formatSample(sample: Sample): string {
  const labels = Object.entries(sample.labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return `${sample.name}${labels.length > 0 ? `{${labels.join(',')}}` : ''} ${sample.valueText}`;
}

/** The text of families; HELP and TYPE once each, then every sample of the family. */
export function formatExposition(families: readonly Family[]): string {
  const lines: string[] = [];
  for (const family of families) {
    if (family.help !== undefined) lines.push(`# HELP ${family.name} ${family.help}`);
    if (family.type !== undefined) lines.push(`# TYPE ${family.name} ${family.type}`);
    for (const sample of family.samples) lines.push(formatSample(sample));
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Families of several scrapes as one scrape: the format allows each family once, so samples of a
 * family that several scrapes hold are gathered under its first HELP and TYPE.
 */
export function mergeFamilies(scrapes: ReadonlyArray<readonly Family[]>): Family[] {
  const merged = new Map<string, Family>();
  for (const families of scrapes) {
    for (const family of families) {
      let into = merged.get(family.name);
      if (into === undefined) {
        into = { name: family.name, help: family.help, type: family.type, samples: [] };
        merged.set(family.name, into);
      }
      into.samples.push(...family.samples);
    }
  }
  return [...merged.values()];
}
