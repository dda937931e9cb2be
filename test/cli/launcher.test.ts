import { execFile } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ECOM_BIN } from '../../src/util/processes.js';

/** bin/ecom.js runs the compiled build when it is current and the sources otherwise. */

const root = fileURLToPath(new URL('../..', import.meta.url));
const run = (env: NodeJS.ProcessEnv) => promisify(execFile)(process.execPath, [ECOM_BIN, '--version'], { env: { ...process.env, ...env } });

function newestIn(dir: string): number {
  return Math.max(0, ...readdirSync(dir, { withFileTypes: true }).map((e) => (e.isDirectory() ? newestIn(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs)));
}

describe('the ecom launcher', () => {
  it('runs the sources through tsx when asked to', async () => {
    expect((await run({ ECOM_FROM_SOURCE: '1' })).stdout).toMatch(/^ecom \d+\.\d+\.\d+, running the TypeScript sources, through tsx\n$/);
  });

  it('runs the compiled build when it is at least as new as every source file, and the sources otherwise', async () => {
    let builtAt: number | undefined;
    try {
      builtAt = statSync(join(root, 'dist/cli/main.js')).mtimeMs;
    } catch {
      builtAt = undefined;
    }
    const current = builtAt !== undefined && newestIn(join(root, 'src')) <= builtAt;
    // CI builds at install (npm ci runs `prepare`) and edits nothing, so there the build must be the one that runs.
    if (process.env.CI) expect(current, 'npm ci built dist/ and no source is newer').toBe(true);
    const { stdout } = await run({ ECOM_FROM_SOURCE: '' });
    expect(stdout).toContain(current ? 'running the compiled build in dist/' : 'running the TypeScript sources');
  });

  it("is on the PATH as `ecom` with the clone's bin/ folder added, as the README says", async () => {
    const path = `${join(root, 'bin')}:${process.env.PATH ?? ''}`;
    const { stdout } = await promisify(execFile)('ecom', ['--version'], { env: { ...process.env, PATH: path }, cwd: '/' });
    expect(stdout).toMatch(/^ecom \d+\.\d+\.\d+, running /);
  });
});
