import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * docs/spec.md and the tests agree row by row: every row of the spec's tables is cited by at
 * least one test (in a title through rows(), or a "checks R-..." comment beside the test that
 * checks it), and every ID a test cites exists in the spec.
 */
const root = fileURLToPath(new URL('../..', import.meta.url));
const ROW_ID = /\bR-[A-Z]+-\d+\b/g;

function specRows(): Set<string> {
  const ids = new Set<string>();
  for (const line of readFileSync(join(root, 'docs/spec.md'), 'utf8').split('\n')) {
    const first = /^\| (R-[A-Z]+-\d+) \|/.exec(line);
    if (first) ids.add(first[1]!);
  }
  return ids;
}

function testFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? testFiles(path) : name.endsWith('.ts') && path !== fileURLToPath(import.meta.url) ? [path] : [];
  });
}

describe('docs/spec.md and the tests', () => {
  const spec = specRows();
  const cited = new Map<string, string[]>();
  for (const file of testFiles(join(root, 'test'))) {
    for (const id of readFileSync(file, 'utf8').match(ROW_ID) ?? []) cited.set(id, [...(cited.get(id) ?? []), file.slice(root.length)]);
  }

  it('the spec has rows with stable, unique IDs', () => {
    const text = readFileSync(join(root, 'docs/spec.md'), 'utf8');
    const defined = [...text.matchAll(/^\| (R-[A-Z]+-\d+) \|/gm)].map((m) => m[1]);
    expect(defined.length).toBeGreaterThan(50);
    expect(new Set(defined).size, 'no row ID is defined twice').toBe(defined.length);
  });

  it('every row is cited by a test that checks it', () => {
    expect([...spec].filter((id) => !cited.has(id))).toEqual([]);
  });

  it('every row a test cites exists in the spec', () => {
    expect([...cited.keys()].filter((id) => !spec.has(id)).map((id) => `${id} (in ${cited.get(id)!.join(', ')})`)).toEqual([]);
  });
});
