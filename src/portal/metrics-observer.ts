import type { CallObserver } from '../net/grpc/server.js';
import type { MethodMetrics, PortalMetrics } from '../metrics/portal-metrics.js';

/** Whether a response message is the API's Reply (the write methods'): only that carries an application code. */
const isReply = (path: string) => /\/(Create|Update|Delete)(Client|Product|Order)$/.test(path);

/**
 * Counts every RPC and times it from arrival to its status: the server reports each call of a
 * method it serves (portals, health, reflection), the status actually sent, even for calls
 * refused before a handler ran. A write's Reply.error is counted as it leaves. A method the
 * server does not serve is answered UNIMPLEMENTED without being reported, so the label values
 * stay bounded by the methods registered: a caller cannot grow them.
 */
export function metricsObserver(metrics: PortalMetrics): CallObserver {
  const byPath = new Map<string, MethodMetrics>();
  return {
    call(path, kind) {
      let m = byPath.get(path);
      if (m === undefined) {
        m = metrics.method(path, kind);
        byPath.set(path, m);
      }
      const counted = m;
      const started = performance.now();
      counted.started();
      const replies = isReply(path);
      return {
        message: (value) => {
          if (replies) counted.replied(Number((value as { error?: unknown } | null)?.error ?? 0));
        },
        status: (code) => counted.handled(code, (performance.now() - started) / 1_000),
      };
    },
  };
}
