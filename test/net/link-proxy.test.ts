import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../src/util/ports.js';
import { LinkProxy } from '../../src/net/link-proxy.js';

/** The fault proxy between two replicas: bytes pass, are dropped, or wait until the link heals. */
let proxy: LinkProxy | undefined;
let server: Server | undefined;
const sockets: Socket[] = [];
afterEach(async () => {
  sockets.splice(0).forEach((s) => s.destroy());
  await proxy?.close();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  proxy = undefined;
  server = undefined;
});

/** A target that collects what it receives, and a proxy in front of it. */
async function setup(directions: 'forward' | 'both' = 'forward'): Promise<{ received: () => string; dial: () => Promise<Socket>; accepted: () => Promise<Socket> }> {
  let data = '';
  const targetPort = await freePort();
  let onAccept: (s: Socket) => void = () => undefined;
  const acceptedOne = new Promise<Socket>((r) => (onAccept = r));
  server = createServer((s) => {
    sockets.push(s);
    s.on('data', (chunk) => (data += chunk.toString()));
    onAccept(s);
  });
  await new Promise<void>((r) => server!.listen(targetPort, '127.0.0.1', () => r()));
  const port = await freePort();
  proxy = new LinkProxy('1->2', port, targetPort, '127.0.0.1', directions);
  await proxy.listen();
  return {
    received: () => data,
    accepted: () => acceptedOne,
    dial: () =>
      new Promise((resolve, reject) => {
        const s = connect({ host: '127.0.0.1', port }, () => resolve(s));
        s.on('error', reject);
        sockets.push(s);
      }),
  };
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    // Socket data has no single event to await across both ends: poll briefly.
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('LinkProxy', () => {
  it('forwards bytes, and a stalled link delivers them once, late, when it heals', async () => {
    const { received, dial } = await setup();
    const s = await dial();
    s.write('a');
    await until(() => received() === 'a', 'a');
    proxy!.set('stall');
    s.write('b');
    await new Promise((r) => setTimeout(r, 200));
    expect(received()).toBe('a');
    proxy!.set('pass');
    await until(() => received() === 'ab', 'ab');
  });

  // Regression: a connection accepted while the link was stalled was piped twice on heal, so
  // every byte arrived twice (a corrupt Raft frame stream).
  it('stalled at accept: a connection opened during a stall delivers each byte exactly once', async () => {
    const { received, dial } = await setup();
    proxy!.set('stall');
    const s = await dial();
    s.write('xyz');
    await new Promise((r) => setTimeout(r, 200));
    expect(received()).toBe('');
    proxy!.set('pass');
    await until(() => received().length >= 3, 'xyz');
    s.write('!');
    await until(() => received().endsWith('!'), '!');
    expect(received()).toBe('xyz!');
  });

  it('drop cuts open connections and refuses new ones until healed', async () => {
    const { received, dial } = await setup();
    const s = await dial();
    const closed = new Promise<void>((r) => s.on('close', () => r()));
    proxy!.set('drop');
    await closed;
    const refused = await dial();
    await new Promise<void>((r) => refused.on('close', () => r()));
    proxy!.set('pass');
    const again = await dial();
    again.write('ok');
    await until(() => received() === 'ok', 'ok');
  });

  it('a both-ways stall holds the answers too, and delivers each byte once on heal', async () => {
    const { received, dial, accepted } = await setup('both');
    const client = await dial();
    const target = await accepted();
    let answers = '';
    client.on('data', (chunk) => (answers += chunk.toString()));
    target.write('a');
    await until(() => answers === 'a', 'a');
    proxy!.set('stall');
    target.write('b');
    client.write('c');
    await new Promise((r) => setTimeout(r, 200));
    expect([answers, received()]).toEqual(['a', '']);
    proxy!.set('pass');
    await until(() => answers === 'ab' && received() === 'c', 'b and c');
    target.write('d');
    client.write('e');
    await until(() => answers.endsWith('d') && received().endsWith('e'), 'd and e');
    expect([answers, received()]).toEqual(['abd', 'ce']);
  });

  it('a forward stall lets the answers through', async () => {
    const { received, dial, accepted } = await setup('forward');
    const client = await dial();
    const target = await accepted();
    let answers = '';
    client.on('data', (chunk) => (answers += chunk.toString()));
    proxy!.set('stall');
    client.write('x');
    target.write('y');
    await until(() => answers === 'y', 'y');
    expect(received()).toBe('');
    proxy!.set('pass');
    await until(() => received() === 'x', 'x');
    target.write('z');
    await until(() => answers === 'yz', 'yz');
  });
});
