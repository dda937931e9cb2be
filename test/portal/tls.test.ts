import { readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PortalClient } from '../../src/client/portal-client.js';
import { spawnEcom, waitForPort, type EcomChild } from '../../src/util/processes.js';
import { makeCertificates, type TestCertificates } from '../helpers/certs.js';
import { runEcom } from '../helpers/ecom.js';
import { freePort } from '../helpers/ports.js';
import { freeLocalTopology } from '../../src/storage/common/topology.js';

/**
 * The public API's opt-in protection (issue #13 item 4), over real TLS connections: a portal
 * server started with --tls-cert/--tls-key/--admin-token, and clients with the right CA, the
 * wrong CA, no TLS, the token and none.
 */
const dir = mkdtempSync(join(tmpdir(), 'ecom-tls-'));
let certs: TestCertificates;
let otherCa: string;
let tokenFile: string;
let port: number;
let server: EcomChild;
const clients: PortalClient[] = [];

function client(options: { tls?: 'right' | 'wrong'; token?: boolean }): PortalClient {
  const ca = options.tls === undefined ? undefined : readFileSync(options.tls === 'right' ? certs.caFile : otherCa);
  const made = new PortalClient({ host: '127.0.0.1', port, timeout_ms: 5_000, ...(ca ? { tlsCa: ca } : {}), ...(options.token ? { token: readFileSync(tokenFile, 'utf8').trim() } : {}) });
  clients.push(made);
  return made;
}

beforeAll(async () => {
  certs = makeCertificates(dir, 'good');
  otherCa = makeCertificates(dir, 'other').caFile;
  tokenFile = join(dir, 'admin.token');
  writeFileSync(tokenFile, 'b7f0c4d9e2a14c6f8a3e5d7b9c1f2e4a\n', { mode: 0o600 });
  port = await freePort();
  server = spawnEcom(['admin-server', String(port), '--mode', 'single', '--lang', 'en', '--tls-cert', certs.certFile, '--tls-key', certs.keyFile, '--admin-token', tokenFile], { name: 'tls-portal', onLine: null });
  await waitForPort('127.0.0.1', port, 30_000, server);
});

afterAll(async () => {
  for (const c of clients) c.close();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('TLS and the admin token on the portals', () => {
  it('serves a client that trusts its CA and holds the token, on both portals', async () => {
    const admin = client({ tls: 'right', token: true });
    expect(await admin.createClient('2', '{"name": "Maria"}')).toEqual({ error: 0 });
    expect(await admin.createProduct('1', '{"name": "Caneta", "price": "2.5", "quantity": 8}')).toEqual({ error: 0 });
    expect(await admin.retrieveClient('2')).toEqual({ CID: '2', data: '{"nome": "Maria"}' });
    // OrderPortal stays open to clients without the token, over the same TLS.
    const orders = client({ tls: 'right' });
    expect(await orders.createOrder('10', '2', '[{"id": "1", "quantity": "3"}]')).toEqual({ error: 0 });
    expect((await orders.retrieveClientOrders('2')).map((o) => o.OID)).toEqual(['10']);
  });

  // docs/spec.md: R-SEC-4
  it('answers AdminPortal calls without the token with UNAUTHENTICATED, changing nothing', async () => {
    const noToken = client({ tls: 'right' });
    const refusal = (await noToken.createClient('4', '{"name": "Eve"}').catch((err: unknown) => err)) as { code?: number; details?: string };
    expect(refusal.code).toBe(16);
    expect(refusal.details).toContain('ecom admin --token FILE');
    await expect(noToken.retrieveClient('2')).rejects.toMatchObject({ code: 16 });
    expect(await client({ tls: 'right', token: true }).retrieveClient('4')).toEqual({ CID: '0', data: '' });
  });

  // docs/spec.md: R-SEC-3
  it('is unreachable for a client that does not trust its certificate, or does not speak TLS', async () => {
    await expect(client({ tls: 'wrong', token: true }).retrieveClient('2')).rejects.toMatchObject({ code: 14 });
    await expect(client({ token: true }).retrieveClient('2')).rejects.toMatchObject({ code: 14 });
  });

  it('works from the command line: one-shot and interactive, with clear refusals', async () => {
    const tls = ['--port', String(port), '--tls-ca', certs.caFile];
    const ok = await runEcom(['admin', 'get-client', '2', ...tls, '--token', tokenFile]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toBe('{"CID":"2","data":"{\\"nome\\": \\"Maria\\"}"}\n');
    expect(ok.stderr, 'no warning either (a TLS server name set to an address draws one)').toBe('');
    const denied = await runEcom(['admin', 'get-client', '2', ...tls]);
    expect(denied.code).toBe(4);
    expect(denied.stderr).toContain('refused the call: AdminPortal requires its token');
    const untrusted = await runEcom(['admin', 'get-client', '2', '--port', String(port), '--tls-ca', otherCa, '--token', tokenFile]);
    expect(untrusted.code).toBe(3);
    expect(untrusted.stderr).toContain('check that --tls-ca names the CA that signed the server');
    const order = await runEcom(['order', 'get-order', '10', ...tls]);
    expect(order.code).toBe(0);
    const interactive = await runEcom(['admin', String(port), '--tls-ca', certs.caFile, '--token', tokenFile, '--lang', 'en'], { input: '2\n2\n0\n' });
    expect(interactive.code).toBe(0);
    expect(interactive.stdout).toContain('Client 2: {"nome": "Maria"}');
    const interactiveDenied = await runEcom(['admin', String(port), '--tls-ca', certs.caFile, '--lang', 'en'], { input: '2\n2\n0\n' });
    expect(interactiveDenied.stdout).toContain(`The server at 127.0.0.1:${port} refused the call: AdminPortal requires its token`);
  });

  it('refuses to start with half of the TLS pair, or a token file others can read', async () => {
    const half = await runEcom(['admin-server', String(await freePort()), '--mode', 'single', '--tls-cert', certs.certFile]);
    expect(half.code).toBe(1);
    expect(half.stderr).toContain('--tls-cert and --tls-key go together');
    const open = join(dir, 'open.token');
    writeFileSync(open, 'b7f0c4d9e2a14c6f8a3e5d7b9c1f2e4a\n', { mode: 0o644 });
    const readable = await runEcom(['admin-server', String(await freePort()), '--mode', 'single', '--admin-token', open]);
    expect(readable.code).toBe(1);
    expect(readable.stderr).toContain(`run: chmod 600 ${open}`);
  });

  it('ecom up (raft mode) gives its portal processes the same TLS and token', { timeout: 90_000 }, async () => {
    const [adminPort, orderPort, brokerPort] = [await freePort(), await freePort(), await freePort()];
    const config = join(dir, 'cluster.json');
    writeFileSync(config, JSON.stringify(await freeLocalTopology()));
    const tlsArgs = ['--tls-cert', certs.certFile, '--tls-key', certs.keyFile, '--admin-token', tokenFile];
    const up = spawnEcom(['up', '--data', join(dir, 'data'), '--storage-config', config, '--admin-port', String(adminPort), '--order-port', String(orderPort), '--broker-port', String(brokerPort), '--dashboard-port', '0', ...tlsArgs], { name: 'up-tls', onLine: null });
    try {
      // ecom up starts both portals at once: each port says only that its own portal listens.
      for (const port of [adminPort, orderPort]) await waitForPort('127.0.0.1', port, 60_000, up);
      const secured = new PortalClient({ host: '127.0.0.1', port: adminPort, timeout_ms: 10_000, tlsCa: readFileSync(certs.caFile), token: readFileSync(tokenFile, 'utf8').trim() });
      clients.push(secured);
      expect(await secured.createClient('8', '{"name": "Up"}')).toEqual({ error: 0 });
      const noToken = new PortalClient({ host: '127.0.0.1', port: adminPort, timeout_ms: 5_000, tlsCa: readFileSync(certs.caFile) });
      clients.push(noToken);
      await expect(noToken.retrieveClient('8')).rejects.toMatchObject({ code: 16 });
      const orders = new PortalClient({ host: '127.0.0.1', port: orderPort, timeout_ms: 5_000, tlsCa: readFileSync(certs.caFile) });
      clients.push(orders);
      expect(await orders.retrieveOrder('99'), 'OrderPortal needs no token').toEqual({ OID: '0', CID: '0', data: '' });
      expect(await secured.retrieveClient('8')).toEqual({ CID: '8', data: '{"nome": "Up"}' });
    } finally {
      await up.stop(15_000);
    }
  });
});
