import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeMessage } from '../../src/portal/api-codec.js';
import { startSinglePortal } from './fixture.js';

/**
 * The original's clients are Python grpcio (gRPC C-core). Its HTTP/2 is not grpc-js's: it
 * Huffman-codes header values and indexes the headers it repeats on every call in HPACK's
 * dynamic table, so after the first call a request's headers are mostly table references. ecom's
 * own gRPC server must read them as C-core writes them, for hundreds of calls on one connection.
 */
const PYTHON = '/usr/bin/python3';
const SCRIPT = join(import.meta.dirname, 'python', 'original_client.py');
const run = promisify(execFile);

async function hasGrpcio(): Promise<boolean> {
  if (!existsSync(PYTHON)) return false;
  return run(PYTHON, ['-c', 'import grpc']).then(
    () => true,
    () => false,
  );
}

const available = await hasGrpcio();
if (process.env.CI && !available) throw new Error(`${PYTHON} cannot import grpc: .ci/run installs Debian's python3-grpcio; CI runs this test, never skips it`);

/** The protobuf bytes of a string field, as api.proto's messages carry them. */
function field(tag: number, text: string): string {
  const bytes = Buffer.from(text, 'utf8');
  return Buffer.concat([Buffer.from([(tag << 3) | 2, bytes.length]), bytes]).toString('hex');
}

describe.skipIf(!available)('a Python grpcio client, as the original used', () => {
  let portal: Awaited<ReturnType<typeof startSinglePortal>>;
  beforeAll(async () => {
    portal = await startSinglePortal();
  });
  afterAll(async () => portal?.stop());

  it('makes 300 calls on one connection, each answered byte for byte as the contract says', { timeout: 60_000 }, async () => {
    const rounds = 150;
    const { stdout } = await run(PYTHON, [SCRIPT, String(portal.port), String(rounds)], { timeout: 50_000 });
    const out = JSON.parse(stdout) as { replies: Array<[string, string]>; statuses: Array<[string, number, string]>; orders: string[] };

    const expected: Array<[string, string]> = [];
    for (let i = 0; i < rounds; i++) {
      const cid = String(1000 + i);
      expected.push(['/AdminPortal/CreateClient', ''], ['/AdminPortal/RetrieveClient', field(1, cid) + field(2, '{"nome": "Ana"}')]);
    }
    expected.push(['/AdminPortal/CreateProduct', '']);
    for (let i = 0; i < 3; i++) expected.push(['/project.OrderPortal/CreateOrder', '']);
    expect(out.replies).toEqual(expected);
    const orders = out.orders.map((hex) => decodeMessage('Order', Buffer.from(hex, 'hex')));
    expect(orders.map(({ OID, CID }) => ({ OID, CID }))).toEqual(['500', '501', '502'].map((OID) => ({ OID, CID: '1000' })));
    expect(orders.every((order) => typeof order['data'] === 'string' && order['data'].includes('"7"'))).toBe(true);
    expect(out.statuses).toEqual([['/AdminPortal/NoSuchMethod', 12, expect.stringContaining('/AdminPortal/NoSuchMethod')]]);
    // The server is still well after all of it.
    expect(await portal.client.retrieveClient(String(1000 + rounds - 1))).toEqual({ CID: String(1000 + rounds - 1), data: '{"nome": "Ana"}' });
  });
});
