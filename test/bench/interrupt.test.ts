import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { childPortDepth } from '../../src/util/ports.js';
import { ECOM_BIN } from '../../src/util/processes.js';

/** True while any process of process group `pgid` is alive. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('ecom bench: Ctrl-C', () => {
  it('stops the workers and the tier, deletes its folder and exits 130', async () => {
    // Its own process group: afterwards, nothing it started may be left in it.
    const bench = spawn(process.execPath, [ECOM_BIN, 'bench', 'run', 'put', '-c', '4', '--duration', '120', '--warmup', '0'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: { ...process.env, ...childPortDepth() } });
    let folder: string | undefined;
    let output = '';
    const measuring = new Promise<void>((resolve) => {
      for (const stream of [bench.stdout, bench.stderr]) {
        createInterface({ input: stream }).on('line', (line) => {
          output += `${line}\n`;
          folder ??= /in (\/\S*ecom-bench-\w+)\)/.exec(line)?.[1];
          // The progress line: workers are running and the tier is up.
          if (line.includes('… storage put')) resolve();
        });
      }
    });
    const exited = new Promise<number | null>((resolve) => bench.once('exit', (code) => resolve(code)));
    await measuring;
    expect(folder !== undefined && existsSync(folder), output).toBe(true);
    bench.kill('SIGINT');
    expect(await exited, output).toBe(130);
    expect(existsSync(folder!)).toBe(false);
    // Children killed on the bench's exit are reaped by the kernel a moment later, and there is
    // no event for another process group emptying: poll it, with a bound.
    const deadline = Date.now() + 3_000;
    while (groupAlive(bench.pid!) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(groupAlive(bench.pid!), 'a process started by the bench is still running 3 s after it exited').toBe(false);
  }, 150_000);
});
