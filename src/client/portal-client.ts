import * as grpc from '@grpc/grpc-js';
import { COURSE_PACKAGE, serviceDefinition } from '../portal/api-codec.js';
import { DEFAULT_TIMEOUT_MS, PortalCalls, type PortalClientOptions, type PortalService } from './portal-calls.js';

export type { PortalClientOptions };

type UnaryMethod = (request: object, metadata: grpc.Metadata, options: grpc.CallOptions, callback: (err: grpc.ServiceError | null, response?: unknown) => void) => grpc.ClientUnaryCall;
type StreamMethod = (request: object, metadata: grpc.Metadata, options: grpc.CallOptions) => grpc.ClientReadableStream<object>;

/** A stub class for one portal service; the messages are encoded by api-codec.ts, without loading protobufjs. */
function constructorFor(service: PortalService, pkg: '' | typeof COURSE_PACKAGE): grpc.ServiceClientConstructor {
  return grpc.makeClientConstructor(serviceDefinition(service, pkg) as grpc.ServiceDefinition, `${pkg === '' ? '' : `${pkg}.`}${service}`);
}

/**
 * The portals' calls over grpc-js, for the interactive command-line clients, the tests and the
 * benchmarks. `pkg: 'project'` talks to the course's package names. One-shot commands use
 * LeanPortalClient instead, which starts without loading grpc-js.
 */
export class PortalClient extends PortalCalls {
  readonly address: string;
  private readonly admin: grpc.Client;
  private readonly order: grpc.Client;
  private readonly timeout_ms: number;
  private readonly token: string | undefined;

  constructor(readonly options: PortalClientOptions) {
    super();
    this.address = `${options.host}:${options.port}`;
    const pkg = options.pkg ?? '';
    this.token = options.token;
    const credentials = options.tlsCa === undefined ? grpc.credentials.createInsecure() : grpc.credentials.createSsl(options.tlsCa);
    // No channelz: grpc-js's per-call introspection, which nothing reads, costs CPU on every call.
    this.admin = new (constructorFor('AdminPortal', pkg))(this.address, credentials, { 'grpc.enable_channelz': 0 });
    this.order = new (constructorFor('OrderPortal', pkg))(this.address, credentials, {
      // Share the connection with the admin stub.
      channelOverride: this.admin.getChannel() as grpc.Channel,
    });
    this.timeout_ms = options.timeout_ms ?? DEFAULT_TIMEOUT_MS;
  }

  private stub<F>(service: PortalService, method: string): { client: grpc.Client; fn: F } {
    const client = service === 'AdminPortal' ? this.admin : this.order;
    const fn = (client as unknown as Record<string, F | undefined>)[method];
    if (fn === undefined) throw new Error(`no method ${service}.${method}`);
    return { client, fn };
  }

  protected unary(service: PortalService, method: string, request: object): Promise<object> {
    const { client, fn } = this.stub<UnaryMethod>(service, method);
    return new Promise((resolve, reject) => {
      fn.call(client, request, this.metadata(), { deadline: Date.now() + this.timeout_ms }, (err, response) => {
        if (err) reject(err);
        else resolve(response as object);
      });
    });
  }

  protected serverStream(service: PortalService, method: string, request: object): Promise<object[]> {
    const { client, fn } = this.stub<StreamMethod>(service, method);
    const stream = fn.call(client, request, this.metadata(), { deadline: Date.now() + this.timeout_ms });
    const messages: object[] = [];
    return new Promise((resolve, reject) => {
      stream.on('data', (message: object) => messages.push(message));
      stream.on('error', reject);
      stream.on('end', () => resolve(messages));
    });
  }

  private metadata(): grpc.Metadata {
    const metadata = new grpc.Metadata();
    // Per call rather than as call credentials: grpc-js sends those only over TLS, and a token without TLS is the user's choice to make.
    if (this.token !== undefined) metadata.set('authorization', `Bearer ${this.token}`);
    return metadata;
  }

  /** Resolves once connected; rejects with a clear error if the server is not there in time. */
  waitForReady(timeout_ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.admin.waitForReady(Date.now() + timeout_ms, (err) => {
        if (err) reject(new Error(`no portal server answers at ${this.address} (${err.message})`));
        else resolve();
      });
    });
  }

  close(): void {
    this.admin.close();
    this.order.close();
  }
}
