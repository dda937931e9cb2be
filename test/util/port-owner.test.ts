import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { listenOn } from '../helpers/ports.js';
import { listensOn } from '../../src/util/port-owner.js';
import { freePort } from '../../src/util/ports.js';


const started: ChildProcess[] = [];
afterEach(() => {
  for (const child of started.splice(0)) child.kill('SIGKILL');
});

/** A node process running `code`; resolves once it prints its first line ("ready"). */
async function nodeProcess(code: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  started.push(child);
  const lines = createInterface({ input: child.stdout! });
  await new Promise<void>((resolve, reject) => {
    lines.once('line', () => resolve());
    child.once('exit', (code) => reject(new Error(`the helper process exited (${code}) before it was ready`)));
  });
  return child;
}

describe('listensOn', () => {
  it('tells the process that listens on a port from one that does not, and counts the processes it started', async () => {
    const port = await freePort();
    const idle = await nodeProcess(`console.log('ready'); setInterval(() => {}, 1000);`);
    expect(listensOn(process.pid, port)).toBe(false);
    expect(listensOn(idle.pid!, port)).toBe(false);

    const server = await listenOn(port);
    try {
      expect(listensOn(process.pid, port)).toBe(true);
      expect(listensOn(idle.pid!, port)).toBe(false);
    } finally {
      await new Promise((done) => server.close(done));
    }
    expect(listensOn(process.pid, port)).toBe(false);

    // A parent whose child listens: the port is the parent's too (ecom up and its portals).
    const grandchild = `require('node:net').createServer().listen(${port}, '127.0.0.1', () => console.log('ready'))`;
    const parent = await nodeProcess(`const c = require('node:child_process').spawn(process.execPath, ['-e', ${JSON.stringify(grandchild)}], { stdio: ['ignore', 'inherit', 'inherit'] }); process.on('SIGTERM', () => { c.kill('SIGKILL'); process.exit(0); });`);
    expect(listensOn(parent.pid!, port)).toBe(true);
    expect(listensOn(process.pid, port)).toBe(true); // the test process is their ancestor
    expect(listensOn(idle.pid!, port)).toBe(false);
    parent.kill('SIGTERM');
    await new Promise((resolve) => parent.once('exit', resolve));
  });
});
