import { randomBytes } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeFrame } from '../../src/net/frames.js';
import { handshake, HandshakeRefusedError, type ConnectionPurpose, type HandshakeDone } from '../../src/net/handshake.js';
import { Prng } from '../../src/util/random.js';
import { testSeed } from '../helpers/seed.js';

/** The proof of the cluster's secret that opens every internal connection. */

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((done) => s.close(done))));
});

/** A server that runs the accepting side of the handshake on every connection and reports each outcome. */
async function acceptor(secret: Buffer, purpose: ConnectionPurpose = 'requests'): Promise<{ port: number; outcomes: Array<Promise<HandshakeDone>>; sockets: Socket[] }> {
  const outcomes: Array<Promise<HandshakeDone>> = [];
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    socket.on('error', () => socket.destroy());
    sockets.push(socket);
    const outcome = handshake(socket, 'accept', secret, purpose);
    outcome.catch(() => undefined);
    outcomes.push(outcome);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return { port: typeof address === 'object' && address !== null ? address.port : 0, outcomes, sockets };
}

function dial(port: number): Socket {
  const socket = connect({ host: '127.0.0.1', port });
  socket.on('error', () => socket.destroy());
  return socket;
}

describe('the cluster-secret handshake', () => {
  it('opens the connection both ways when both sides hold the secret, and hands over frames sent right behind it', async () => {
    const secret = randomBytes(32);
    const server = await acceptor(secret);
    const client = dial(server.port);
    const done = await handshake(client, 'connect', secret, 'requests');
    expect(done.early).toEqual([]);
    client.write(encodeFrame(Buffer.from('first')));
    client.write(encodeFrame(Buffer.alloc(100_000, 7)));
    const accepted = await server.outcomes[0]!;
    const frames: Buffer[] = [...accepted.early];
    await new Promise<void>((resolve) => {
      const take = (chunk: Buffer) => {
        frames.push(...accepted.decoder.push(chunk));
        if (frames.length === 2) resolve();
      };
      server.sockets[0]!.on('data', take);
    });
    expect(frames[0]!.toString()).toBe('first');
    expect(frames[1]!.length, 'after the handshake, frames may be as large as the application allows').toBe(100_000);
    client.destroy();
  });

  it('refuses a client with another secret, and tells it why', async () => {
    const server = await acceptor(randomBytes(32));
    const client = dial(server.port);
    await expect(handshake(client, 'connect', randomBytes(32), 'requests')).rejects.toThrow(/refused the connection: this process does not hold the cluster's secret \(see --cluster-secret\)/);
    await expect(server.outcomes[0]!).rejects.toBeInstanceOf(HandshakeRefusedError);
  });

  it('refuses a proof made for the other port: a Raft proof does not open the request port', async () => {
    const secret = randomBytes(32);
    const server = await acceptor(secret, 'requests');
    await expect(handshake(dial(server.port), 'connect', secret, 'raft')).rejects.toBeInstanceOf(HandshakeRefusedError);
  });

  it('a client will not talk to a server that cannot prove the secret (someone else took the port)', async () => {
    // An impostor that plays the protocol without the secret: a hello, then a made-up welcome.
    const impostor = createServer((socket) => {
      socket.on('error', () => socket.destroy());
      socket.write(encodeFrame(Buffer.concat([Buffer.of(1), randomBytes(32)])));
      socket.once('data', () => socket.write(encodeFrame(Buffer.concat([Buffer.of(3), randomBytes(32)]))));
    });
    servers.push(impostor);
    await new Promise<void>((resolve) => impostor.listen(0, '127.0.0.1', resolve));
    const { port } = impostor.address() as { port: number };
    await expect(handshake(dial(port), 'connect', randomBytes(32), 'requests')).rejects.toThrow(/does not hold this cluster's secret/);
  });

  it('seeded garbage before the handshake: never accepted, always refused or cut off', async () => {
    const r = new Prng(testSeed('handshake garbage'));
    const server = await acceptor(randomBytes(32));
    for (let i = 0; i < 40; i++) {
      const socket = dial(server.port);
      const closed = new Promise((resolve) => socket.on('close', resolve));
      socket.resume(); // reads (and drops) the refusal, so the connection can close
      await new Promise((resolve) => socket.once('connect', resolve));
      const kind = r.int(3);
      const bytes = kind === 0 ? randomBytes(1 + r.int(200)) : kind === 1 ? encodeFrame(randomBytes(r.int(100))) : encodeFrame(Buffer.concat([Buffer.of(2), randomBytes(64)]));
      socket.end(bytes);
      await closed;
    }
    const outcomes = await Promise.allSettled(server.outcomes);
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toEqual([]);
  });
});
