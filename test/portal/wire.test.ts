import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSinglePortal } from './fixture.js';

/**
 * Byte-level checks with hand-encoded protobuf, independent of any generated code: what a
 * client built from the original proto (in any language) sends and receives.
 */
function field(tag: number, text: string): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length > 127) throw new Error('test helper encodes short strings only');
  return Buffer.concat([Buffer.from([(tag << 3) | 2, bytes.length]), bytes]);
}

describe('wire format', () => {
  let portal: Awaited<ReturnType<typeof startSinglePortal>>;
  let raw: grpc.Client;
  const call = (path: string, request: Buffer) =>
    new Promise<Buffer>((resolve, reject) =>
      raw.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => b, request, (err, res) => (err ? reject(err) : resolve(res!))),
    );

  beforeAll(async () => {
    portal = await startSinglePortal();
    raw = new grpc.Client(`127.0.0.1:${portal.port}`, grpc.credentials.createInsecure());
  });
  afterAll(async () => {
    raw?.close();
    await portal?.stop();
  });

  it('answers success as an empty Reply: error 0 and no description on the wire', async () => {
    const reply = await call('/AdminPortal/CreateClient', Buffer.concat([field(1, '5'), field(2, '{"name": "Ana"}')]));
    expect(reply.length).toBe(0);
  });

  it('encodes an error as error=400 (varint) and the description as field 2', async () => {
    const reply = await call('/AdminPortal/CreateClient', Buffer.concat([field(1, '5'), field(2, '{"name": "Ana"}')]));
    const text = 'Já existe um cliente com o ID 5';
    expect(reply).toEqual(Buffer.concat([Buffer.from([0x08, 0x90, 0x03]), field(2, text)]));
  });

  it('serves the same method under the course package path /project.AdminPortal/...', async () => {
    const product = Buffer.concat([field(1, '8'), field(2, '{"name": "Caneta", "price": "2.50", "quantity": 8}')]);
    expect((await call('/project.AdminPortal/CreateProduct', product)).length).toBe(0);
    const found = await call('/AdminPortal/RetrieveProduct', field(1, '8'));
    expect(found).toEqual(Buffer.concat([field(1, '8'), field(2, '{"nome": "Caneta", "pre\\u00e7o": "2.50", "quantidade": "8"}')]));
  });

  it('answers a missing object with ID "0" and no data field', async () => {
    expect(await call('/OrderPortal/RetrieveOrder', field(1, '404'))).toEqual(Buffer.concat([field(1, '0'), field(2, '0')]));
    expect(await call('/AdminPortal/RetrieveClient', field(1, '404'))).toEqual(field(1, '0'));
  });
});
