import * as grpc from '@grpc/grpc-js';
import type { GrpcType, MethodMetrics, PortalMetrics } from '../metrics/portal-metrics.js';

function grpcType(method: grpc.ServerMethodDefinition<unknown, unknown>): GrpcType {
  if (method.requestStream) return method.responseStream ? 'bidi_stream' : 'client_stream';
  return method.responseStream ? 'server_stream' : 'unary';
}

/** Whether a response message is the API's Reply (the write methods'): only that carries an application code. */
const isReply = (path: string) => /\/(Create|Update|Delete)(Client|Product|Order)$/.test(path);

/**
 * Counts every RPC and times it from arrival to its status, as a gRPC server interceptor: one
 * place sees every method (portals, health, reflection) and the status actually sent, even for
 * calls refused before a handler ran. A write's Reply.error is counted as it leaves.
 * grpc-js answers a method it does not serve UNIMPLEMENTED before any interceptor runs, so the
 * label values stay bounded by the methods registered: a caller cannot grow them.
 */
export function metricsInterceptor(metrics: PortalMetrics): grpc.ServerInterceptor {
  const byPath = new Map<string, MethodMetrics>();
  return (method, call) => {
    let m = byPath.get(method.path);
    if (m === undefined) {
      m = metrics.method(method.path, grpcType(method));
      byPath.set(method.path, m);
    }
    const counted = m;
    const started = performance.now();
    counted.started();
    const replies = isReply(method.path);
    const responder = new grpc.ResponderBuilder()
      .withSendMessage((message: unknown, next) => {
        if (replies) counted.replied(Number((message as { error?: unknown } | null)?.error ?? 0));
        next(message);
      })
      .withSendStatus((status, next) => {
        counted.handled(status.code ?? grpc.status.UNKNOWN, (performance.now() - started) / 1_000);
        next(status);
      })
      .build();
    return new grpc.ServerInterceptingCall(call, responder);
  };
}
