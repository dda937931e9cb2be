// What a gRPC call costs the visibility probe's side (issue #17): grpc-js's client, the same call
// over bare node:http2 (how the lean client worked until 2026-12-06), and the lean one the probe
// uses (src/client/lean-portal-client.ts, over the hand-written HTTP/2 of src/client/h2-connection.ts),
// alternating, one RetrieveClient at a time against one single-mode portal process. Prints per round and client: the CPU time of this
// process per call, the portal's (from /proc, Linux) and the wall time per call.
//   node --import tsx bench/probe-client.ts [--rounds N] [--calls C]
import http2 from 'node:http2';
import { loadavg } from 'node:os';
import { serviceDefinition } from '../src/portal/api-codec.js';
import { LeanPortalClient } from '../src/client/lean-portal-client.js';
import { PortalClient } from '../src/client/portal-client.js';
import { freePort } from '../src/util/ports.js';
import { spawnEcom, waitForPort } from '../src/util/processes.js';
import { printMachine } from './machine.js';
import { cpu_ms, numberArg } from './script-args.js';

/** RetrieveClient over node:http2 with the bytes the lean client sends: what node:http2 alone costs. */
class NodeHttp2Client {
  private readonly session: http2.ClientHttp2Session;
  private readonly method = serviceDefinition('AdminPortal', '')['RetrieveClient']!;

  constructor(port: number) {
    this.session = http2.connect(`http://127.0.0.1:${port}`);
  }

  retrieveClient(cid: string): Promise<{ CID: string }> {
    const body = this.method.requestSerialize({ ID: cid });
    const frame = Buffer.alloc(5 + body.length);
    frame.writeUInt32BE(body.length, 1);
    body.copy(frame, 5);
    return new Promise((resolve, reject) => {
      const stream = this.session.request({ ':method': 'POST', ':path': this.method.path, 'content-type': 'application/grpc', te: 'trailers' });
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('error', reject);
      stream.on('end', () => resolve(this.method.responseDeserialize(Buffer.concat(chunks).subarray(5)) as { CID: string }));
      stream.end(frame);
    });
  }

  close(): void {
    this.session.close();
  }
}

const ROUNDS = numberArg('--rounds', 3);
const CALLS = numberArg('--calls', 3_000);
const WARMUP_CALLS = 300;
printMachine();
console.log(`load average at the start: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
const port = await freePort();
const portal = spawnEcom(['admin-server', String(port), '--mode', 'single'], { name: 'portal', onLine: null });
try {
  await waitForPort('127.0.0.1', port, 60_000, portal);
  const clients = [
    ['grpc-js', new PortalClient({ host: '127.0.0.1', port })],
    ['node:http2', new NodeHttp2Client(port)],
    ['lean', new LeanPortalClient({ host: '127.0.0.1', port, timeout_ms: 10_000 })],
  ] as const;
  const cid = 'probe-client-bench';
  if ((await clients[0][1].createClient(cid, '{"name": "bench"}')).error !== 0) throw new Error('seeding the client failed');
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [name, client] of clients) {
      for (let i = 0; i < WARMUP_CALLS; i++) await client.retrieveClient(cid);
      const [ours, theirs, started] = [process.cpuUsage(), cpu_ms(portal.pid) * 1000, performance.now()];
      for (let i = 0; i < CALLS; i++) if ((await client.retrieveClient(cid)).CID !== cid) throw new Error(`${name}: the record is not there`);
      const wall_us = ((performance.now() - started) * 1000) / CALLS;
      const used = process.cpuUsage(ours);
      const f = (v: number) => Math.round(v).toLocaleString('en-US');
      console.log(
        `round ${round}, ${name.padEnd(10)}: this process ${f((used.user + used.system) / CALLS)} µs CPU per call, the portal ${f((cpu_ms(portal.pid) * 1000 - theirs) / CALLS)} µs, wall ${f(wall_us)} µs per call (load ${loadavg()[0]!.toFixed(2)})`,
      );
    }
  }
  for (const [, client] of clients) client.close();
} finally {
  await portal.stop();
}
