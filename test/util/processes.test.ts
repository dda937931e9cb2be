import { readFileSync } from 'node:fs';
import type { Server } from 'node:net';
import { availableParallelism } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { listenOn } from '../helpers/ports.js';
import { freePort } from '../../src/util/ports.js';
import { defaultChildNodeArgs, SINGLE_THREADED_GC_MAX_CORES, spawnEcom, waitForPort, type EcomChild } from '../../src/util/processes.js';

/** The command line a running process was started with, as the kernel has it. */
const commandLine = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((a) => a !== '');

describe('the node flags of ecom children', () => {
  it('makes portals and the broker collect garbage on their main thread on a small machine, and nothing else', () => {
    for (const command of ['admin-server', 'order-server', 'broker']) {
      expect(defaultChildNodeArgs(command, 1)).toEqual(['--single-threaded-gc']);
      expect(defaultChildNodeArgs(command, SINGLE_THREADED_GC_MAX_CORES)).toEqual(['--single-threaded-gc']);
      expect(defaultChildNodeArgs(command, SINGLE_THREADED_GC_MAX_CORES + 1)).toEqual([]);
    }
    for (const command of ['storage', 'bench-worker', 'up', undefined]) expect(defaultChildNodeArgs(command, 2)).toEqual([]);
  });

  let child: EcomChild | undefined;
  afterEach(async () => {
    await child?.stop();
    child = undefined;
  });

  it('starts a real broker with them, and ECOM_CHILD_NODE_ARGS after them so that it can override them', async () => {
    const port = await freePort();
    const saved = process.env.ECOM_CHILD_NODE_ARGS;
    process.env.ECOM_CHILD_NODE_ARGS = '--no-single-threaded-gc';
    try {
      child = spawnEcom(['broker', '--port', String(port), '--host', '127.0.0.1'], { name: 'broker', onLine: null });
    } finally {
      if (saved === undefined) delete process.env.ECOM_CHILD_NODE_ARGS;
      else process.env.ECOM_CHILD_NODE_ARGS = saved;
    }
    // A flag node or V8 refused would stop it before it listens.
    await waitForPort('127.0.0.1', port, 30_000, child);
    const args = commandLine(child.pid);
    const flags = args.slice(1, args.findIndex((a) => a.endsWith('ecom.js')));
    const small = availableParallelism() <= SINGLE_THREADED_GC_MAX_CORES;
    expect(flags).toEqual(small ? ['--single-threaded-gc', '--no-single-threaded-gc'] : ['--no-single-threaded-gc']);
  });
});

describe('waitForPort given the child meant to listen', () => {
  let child: EcomChild | undefined;
  let held: Server | undefined;
  afterEach(async () => {
    await child?.stop();
    await new Promise((done) => (held === undefined ? done(undefined) : held.close(done)));
    child = undefined;
    held = undefined;
  });

  it('does not take another program on the port for the child: the child fails to bind, and that is the error (CI: ecom up said a dead portal was up)', async () => {
    const port = await freePort();
    held = await listenOn(port);
    child = spawnEcom(['broker', '--port', String(port), '--host', '127.0.0.1'], { name: 'broker', onLine: null });
    const error = await waitForPort('127.0.0.1', port, 30_000, child).then(() => undefined, (err: Error) => err);
    expect(error?.message).toMatch(new RegExp(`the process meant to listen on 127\\.0\\.0\\.1:${port} has exited \\(broker, status 1\\)`));
    expect(error?.message).toContain('is in use');
  });

  it('refuses at its deadline when the port answers for another program while the child runs on', async () => {
    const [port, childPort] = [await freePort(), await freePort()];
    held = await listenOn(port);
    child = spawnEcom(['broker', '--port', String(childPort), '--host', '127.0.0.1'], { name: 'broker', onLine: null });
    await waitForPort('127.0.0.1', childPort, 30_000, child);
    await expect(waitForPort('127.0.0.1', port, 1_000, child)).rejects.toThrow(`127.0.0.1:${port} answers, but not from broker (pid ${child.pid}) after 1000 ms: another program holds the port`);
  });
});

