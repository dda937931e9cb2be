import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { PortalClient } from '../../src/client/portal-client.js';
import { parseExposition } from '../../src/metrics/exposition.js';
import { spawnEcom, waitForPort } from '../../src/util/processes.js';
import { freePort } from '../helpers/ports.js';

/** Calls a method the portals do not serve; resolves with the status code. */
function unknownMethod(port: number): Promise<number> {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return new Promise((resolve) => {
    client.makeUnaryRequest('/AdminPortal/Nope', (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), (err) => {
      client.close();
      resolve(err?.code ?? grpc.status.OK);
    });
  });
}

/** `ecom up --mode single` runs its portals inside itself: that process serves their metrics. */
describe('Prometheus metrics of ecom up --mode single', () => {
  // docs/spec.md: R-CLI-13
  it('serves the in-process portals\' RPC counts', async () => {
    const [adminPort, orderPort] = [await freePort(), await freePort()];
    const lines: string[] = [];
    const up = spawnEcom(['up', '--mode', 'single', '--admin-port', String(adminPort), '--order-port', String(orderPort)], { name: 'up', onLine: (_n, line) => lines.push(line), env: { ECOM_LOG_FORMAT: 'json' } });
    try {
      // ecom up starts both portals at once: each port says only that its own portal listens.
      for (const port of [adminPort, orderPort]) await waitForPort('127.0.0.1', port, 30_000, up);
      const admin = new PortalClient({ host: '127.0.0.1', port: adminPort });
      expect(await admin.createClient('1', '{"name": "Ana"}')).toEqual({ error: 0 });
      expect((await admin.retrieveClient('2')).CID).toBe('0');
      admin.close();
      expect(await unknownMethod(adminPort)).toBe(grpc.status.UNIMPLEMENTED);
      const url = /ecom-up (http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(lines.join('\n'))?.[1];
      expect(url, lines.join('\n')).toBeDefined();
      const samples = parseExposition(await (await fetch(url!)).text()).flatMap((f) => f.samples);
      const handled = (method: string) => samples.find((s) => s.name === 'grpc_server_handled_total' && s.labels.grpc_method === method && s.labels.grpc_code === 'OK')?.value;
      expect(handled('CreateClient')).toBe(1);
      expect(handled('RetrieveClient')).toBe(1);
      expect(samples.some((s) => s.labels.grpc_method === 'Nope'), 'a method nobody serves makes no series').toBe(false);
    } finally {
      up.process.kill('SIGINT');
      expect(await up.exited).toBe(0);
    }
  });
});
