/**
 * etcd mode's defaults and the parsing of --etcd, apart from the client that uses them: the
 * command line needs these to declare its options, and loading the etcd client (about 240 ms
 * of CPU) in every process that only declares them slowed every start (issue #18).
 */
export const ETCD_BACKEND_DEFAULTS = {
  timeout_ms: 5_000,
  /** Writes waiting for their turn on busy records in one portal; more get a 503 at once. */
  max_waiting_writes: 10_000,
  call_timeout_ms: 2_000,
  max_attempts: 20,
  cache_ms: 0,
} as const;

export function parseEndpoints(text: string): string[] {
  const endpoints = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (endpoints.length === 0) throw new Error('--etcd needs at least one endpoint, such as http://127.0.0.1:2379');
  for (const endpoint of endpoints) {
    if (!/^https?:\/\/[^/\s]+:\d+\/?$/.test(endpoint)) {
      throw new Error(`"${endpoint}" is not an etcd endpoint; write it as http://HOST:PORT (several separated by commas)`);
    }
  }
  return endpoints;
}
