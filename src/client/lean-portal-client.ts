import { serviceDefinition } from '../portal/api-codec.js';
import { LeanGrpcChannel } from './lean-grpc.js';
import { PortalCallError, PortalCalls, STATUS, type PortalClientOptions, type PortalService } from './portal-calls.js';

/**
 * The portals' calls through a LeanGrpcChannel (src/client/lean-grpc.ts), the messages encoded
 * by api-codec.ts as for grpc-js. The one-shot commands use it, and the bench measures through
 * it: one call at a time, grpc-js's client costs about 300 µs of CPU per call, the same bytes
 * over node:http2 130–140 µs, this one 64–86 µs (bench/probe-client.ts, 2026-12-06), and at
 * 1,000 writes/s the visibility probe through grpc-js took more CPU than the system it measured.
 */
export class LeanPortalClient extends PortalCalls {
  readonly address: string;
  private readonly channel: LeanGrpcChannel;
  private readonly methods: Readonly<Record<PortalService, ReturnType<typeof serviceDefinition>>>;

  constructor(readonly options: PortalClientOptions) {
    super();
    this.channel = new LeanGrpcChannel(options);
    this.address = this.channel.address;
    this.methods = { AdminPortal: serviceDefinition('AdminPortal', options.pkg ?? ''), OrderPortal: serviceDefinition('OrderPortal', options.pkg ?? '') };
  }

  close(): void {
    this.channel.close();
  }

  protected async unary(service: PortalService, method: string, request: object): Promise<object> {
    const messages = await this.call(service, method, request);
    if (messages.length !== 1) throw new PortalCallError(STATUS.internal, `${service}.${method} from ${this.address}: ${messages.length} messages in a unary reply`);
    return messages[0]!;
  }

  protected serverStream(service: PortalService, method: string, request: object): Promise<object[]> {
    return this.call(service, method, request);
  }

  /** One call: the request encoded, every reply message decoded once the status says it went well. */
  private async call(service: PortalService, method: string, request: object): Promise<object[]> {
    const definition = this.methods[service][method];
    if (definition === undefined) throw new Error(`proto/api.proto has no ${service}.${method}`);
    const replies = await this.channel.call(definition.path, definition.requestSerialize(request));
    return replies.map((bytes) => definition.responseDeserialize(bytes) as object);
  }
}
