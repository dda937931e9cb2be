import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { GrpcReflection } from 'grpc-js-reflection-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSinglePortal } from './fixture.js';

/**
 * Generic tools (grpcurl and the like) find and call the API through server reflection and
 * check liveness through the standard health service; a real reflection client proves both.
 */
describe('reflection and health', () => {
  let portal: Awaited<ReturnType<typeof startSinglePortal>>;
  let address: string;
  beforeAll(async () => {
    portal = await startSinglePortal();
    address = `127.0.0.1:${portal.port}`;
  });
  afterAll(async () => portal?.stop());

  // docs/spec.md: R-API-3
  it('lists both portals under both proto packages, and the health service', async () => {
    const reflection = new GrpcReflection(address, grpc.credentials.createInsecure());
    const services = await reflection.listServices();
    expect(services).toEqual(
      expect.arrayContaining(['AdminPortal', 'OrderPortal', 'project.AdminPortal', 'project.OrderPortal', 'grpc.health.v1.Health']),
    );
    const methods = (await reflection.listMethods('OrderPortal')).map((m) => m.name);
    expect(methods).toEqual(['CreateOrder', 'RetrieveOrder', 'UpdateOrder', 'DeleteOrder', 'RetrieveClientOrders']);
  });

  it('calls a method through the descriptor obtained by reflection alone, like grpcurl', async () => {
    const reflection = new GrpcReflection(address, grpc.credentials.createInsecure());
    const descriptor = await reflection.getDescriptorBySymbol('project.AdminPortal');
    const pkg = descriptor.getPackageObject({ keepCase: true, defaults: true }) as unknown as {
      project: { AdminPortal: grpc.ServiceClientConstructor };
    };
    const client = new pkg.project.AdminPortal(address, grpc.credentials.createInsecure()) as unknown as Record<
      string,
      (req: object, cb: (err: Error | null, res: Record<string, unknown>) => void) => void
    >;
    const call = (method: string, req: object) =>
      new Promise<Record<string, unknown>>((resolve, reject) => client[method]!(req, (err, res) => (err ? reject(err) : resolve(res))));
    expect(await call('CreateClient', { CID: '77', data: '{"name": "Refletido"}' })).toMatchObject({ error: 0 });
    expect(await call('RetrieveClient', { ID: '77' })).toMatchObject({ CID: '77', data: '{"nome": "Refletido"}' });
    (client as unknown as grpc.Client).close();
  });

  it("finds the original proto's package-less AdminPortal by its plain name", async () => {
    const reflection = new GrpcReflection(address, grpc.credentials.createInsecure());
    const descriptor = await reflection.getDescriptorBySymbol('AdminPortal');
    const pkg = descriptor.getPackageObject({ keepCase: true }) as unknown as Record<string, unknown>;
    expect(Object.keys(pkg)).toEqual(expect.arrayContaining(['AdminPortal', 'OrderPortal', 'Client', 'Reply']));
  });

  it('answers grpc.health.v1 Check with SERVING for the server and each portal', async () => {
    const definition = protoLoader.loadSync(healthProtoPath, { enums: String });
    const Health = (grpc.loadPackageDefinition(definition) as unknown as { grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } } }).grpc.health.v1.Health;
    const health = new Health(address, grpc.credentials.createInsecure()) as unknown as {
      Check(req: object, cb: (err: grpc.ServiceError | null, res: { status: string }) => void): void;
      close(): void;
    };
    const check = (service: string) =>
      new Promise<string | grpc.status>((resolve) => health.Check({ service }, (err, res) => resolve(err ? err.code : res.status)));
    expect(await check('')).toBe('SERVING');
    expect(await check('AdminPortal')).toBe('SERVING');
    expect(await check('project.OrderPortal')).toBe('SERVING');
    expect(await check('NoSuchService')).toBe(grpc.status.NOT_FOUND);
    health.close();
  });

  it('tells a health Watch NOT_SERVING, then ends it, and does not wait for it to shut down', async () => {
    const own = await startSinglePortal();
    const definition = protoLoader.loadSync(healthProtoPath, { enums: String });
    const Health = (grpc.loadPackageDefinition(definition) as unknown as { grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } } }).grpc.health.v1.Health;
    const health = new Health(`127.0.0.1:${own.port}`, grpc.credentials.createInsecure()) as unknown as {
      Watch(req: object): grpc.ClientReadableStream<{ status: string }>;
      close(): void;
    };
    try {
      const watch = health.Watch({ service: '' });
      const seen: string[] = [];
      const first = new Promise<void>((resolve) => watch.once('data', () => resolve()));
      watch.on('data', (message: { status: string }) => seen.push(message.status));
      watch.on('error', () => undefined);
      const ended = new Promise<grpc.StatusObject>((resolve) => watch.on('status', resolve));
      await first;

      const started = Date.now();
      // The portal's grace for calls in flight is 5 s: a watch must not hold it that long.
      await own.server.shutdown();
      const took = Date.now() - started;
      const status = await ended;
      expect(seen).toEqual(['SERVING', 'NOT_SERVING']);
      expect(status.code).toBe(grpc.status.UNAVAILABLE);
      expect(took).toBeLessThan(2_000);
    } finally {
      health.close();
      await own.stop();
    }
  });
});
