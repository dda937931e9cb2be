import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ProcessGroup } from '../../src/util/process-group.js';
import { processState } from '../../src/util/proc-state.js';
import { Recorder } from '../../src/chaos/history.js';
import { finishRun } from '../../src/chaos/result.js';
import { freePort } from '../../src/util/ports.js';
import { silentLogger } from '../../src/util/log.js';
import type { EcomChild } from '../../src/util/processes.js';

const dir = mkdtempSync(join(tmpdir(), 'ecom-process-group-'));
/** The state letter of one thread of `pid` (after the command name's last ')'). */
const threadState = (pid: number, tid: string) => {
  const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
  return stat.charAt(stat.lastIndexOf(')') + 2);
};
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('ProcessGroup', () => {
  it('reports a process that exits on its own with its log and the last line it wrote (CI: a replica that could not bind its port)', async () => {
    const group = new ProcessGroup(join(dir, 'logs'));
    const child = group.startProgram('storage-6', process.execPath, ['-e', "console.log('recovered from disk'); console.error('replica 6 cannot listen for Raft: EADDRINUSE'); process.exit(1)"]);
    // Once its output is closed too, every line it wrote has been read.
    await new Promise((resolve) => child.process.once('close', resolve));
    expect(group.crashes).toHaveLength(1);
    const crash = group.crashes[0]!;
    expect(crash).toMatchObject({ name: 'storage-6', exit: 1, log: join(dir, 'logs', 'storage-6.log') });
    expect(crash.lastLine).toBe('replica 6 cannot listen for Raft: EADDRINUSE');
    // Waiting for it to listen names it and its log, not only a port.
    await expect(group.waitForPort('storage-6', await freePort(), 5_000)).rejects.toThrow(`storage-6: the process meant to listen on`);

    const folder = join(dir, 'run');
    mkdirSync(folder);
    const result = finishRun({ mode: 'raft', folder, seed: 1, started_ms: Date.now(), recorder: new Recorder(), checked: {}, faults: [], violations: [], crashes: group.crashes, replay: 'npm run chaos' });
    expect(result.violations.map((v) => v.message)).toEqual([
      `storage-6 exited on its own (1); its last line: replica 6 cannot listen for Raft: EADDRINUSE (log: ${crash.log})`,
    ]);
    await group.stop(group.names());
    expect(readFileSync(crash.log, 'utf8')).toContain('recovered from disk');
  });

  it('pause settles once every thread of the process is stopped; resume lets it run again', async () => {
    const group = new ProcessGroup(join(dir, 'logs-pause'));
    // Busy threads (the main one and a worker) are the ones that go on running after kill(SIGSTOP) returns.
    const busy = "const { Worker } = require('node:worker_threads'); new Worker('for (;;) {}', { eval: true }); console.log('spinning'); for (;;) {}";
    const child = group.startProgram('busy', process.execPath, ['-e', busy]);
    await new Promise<void>((resolve) => child.watchLines((line) => line === 'spinning' && resolve()));
    for (let i = 0; i < 5; i++) {
      await group.pause('busy');
      expect(group.isPaused('busy')).toBe(true);
      const states = readdirSync(`/proc/${child.pid}/task`).map((tid) => threadState(child.pid, tid));
      expect(states.length, 'a Node process has several threads').toBeGreaterThan(1);
      expect(states.filter((s) => s !== 'T' && s !== 't'), `thread states ${states.join('')}`).toEqual([]);
      group.resume('busy');
    }
    expect(processState(child.pid)).not.toBe('T');
    await group.stop(['busy']);
    expect(group.crashes).toEqual([]);
  });

  it('does not count a kill the harness made as a crash', async () => {
    const group = new ProcessGroup(join(dir, 'logs-kill'));
    group.startProgram('portal-1', process.execPath, ['-e', 'setInterval(() => {}, 1000)']);
    await group.kill('portal-1');
    expect(group.crashes).toEqual([]);
  });

  it('restarts a supervised child that crashes, into the same log file, and stops it for good on stop', { timeout: 20_000 }, async () => {
    const group = new ProcessGroup(join(dir, 'logs-supervised'));
    // Each run appends one line, then the first one crashes; a restarted one stays up.
    const marker = join(dir, 'runs');
    const script = `const fs = require('node:fs'); fs.appendFileSync(${JSON.stringify(marker)}, 'x'); const n = fs.readFileSync(${JSON.stringify(marker)}, 'utf8').length; console.log('run ' + n); if (n === 1) process.exit(3); setInterval(() => {}, 1000);`;
    const first = group.startProgram('replica', process.execPath, ['-e', script], { supervise: { restart: 'on-failure', log: silentLogger } });
    expect(await first.exited).toBe(3);
    const second = await new Promise<EcomChild>((resolve) => group.events.once('started', (_name, child) => resolve(child)));
    expect(group.child('replica')).toBe(second);
    await new Promise((resolve) => second.process.stdout?.once('data', resolve));
    expect(group.isRunning('replica')).toBe(true);
    expect(group.crashes.map((c) => [c.name, c.exit])).toEqual([['replica', 3]]);
    await group.stop(['replica']);
    expect(await second.exited).toBe('SIGTERM');
    await group.closeLogs();
    expect(readFileSync(join(dir, 'logs-supervised', 'replica.log'), 'utf8')).toBe('run 1\nrun 2\n');
  });
});
