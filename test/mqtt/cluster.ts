import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PortalClient } from '../../src/client/portal-client.js';
import { findMosquitto, writeMosquittoConfig } from '../../src/util/mosquitto.js';
import { freePort } from '../../src/util/ports.js';
import { spawnEcom, spawnProgram, waitForPort, type EcomChild } from '../../src/util/processes.js';

/** Real brokers and real portal processes on free loopback ports, for the mqtt-mode tests and the benchmark. */

export const HOST = '127.0.0.1';
/** Generous: a process start is a few seconds, but this machine is sometimes shared by many builds. */
const START_TIMEOUT_MS = 60_000;

export { findMosquitto, freePort };

export type BrokerKind = 'aedes' | 'mosquitto';

/** A broker that can be stopped and started again on the same port. */
export interface TestBroker {
  readonly kind: BrokerKind;
  readonly port: number;
  readonly url: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

class MosquittoBroker implements TestBroker {
  readonly kind = 'mosquitto';
  readonly url: string;
  private child: EcomChild | undefined;
  private readonly dir = mkdtempSync(join(tmpdir(), 'ecom-mosquitto-'));
  private readonly output: string[] = [];

  constructor(
    private readonly binary: string,
    readonly port: number,
  ) {
    this.url = `mqtt://${HOST}:${port}`;
    writeMosquittoConfig(join(this.dir, 'mosquitto.conf'), HOST, port);
  }

  async start(): Promise<void> {
    // spawnProgram kills it when the test process exits, so no broker is left behind.
    const child = spawnProgram(this.binary, ['-c', join(this.dir, 'mosquitto.conf')], { name: 'mosquitto', onLine: (_n, line) => this.output.push(line) });
    this.child = child;
    try {
      await waitForPort(HOST, this.port, START_TIMEOUT_MS, child);
    } catch (err) {
      await this.stop();
      throw new Error(`mosquitto did not start: ${err instanceof Error ? err.message : String(err)}\n${this.output.join('\n')}`);
    }
  }

  async stop(): Promise<void> {
    await this.child?.kill();
    this.child = undefined;
  }

  cleanUp(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

class AedesBroker implements TestBroker {
  readonly kind = 'aedes';
  readonly url: string;
  private child: EcomChild | undefined;

  constructor(readonly port: number) {
    this.url = `mqtt://${HOST}:${port}`;
  }

  async start(): Promise<void> {
    const child = spawnEcom(['broker', '--port', String(this.port), '--host', HOST], { name: `broker-${this.port}`, onLine: quietLines });
    this.child = child;
    try {
      await waitForPort(HOST, this.port, START_TIMEOUT_MS, child);
    } catch (err) {
      await child.kill();
      throw err;
    }
  }

  async stop(): Promise<void> {
    await this.child?.kill();
    this.child = undefined;
  }
}

export async function startBroker(kind: BrokerKind, binary?: string): Promise<TestBroker> {
  const port = await freePort();
  let broker: TestBroker;
  if (kind === 'mosquitto') {
    if (binary === undefined) throw new Error('mosquitto is not installed');
    broker = new MosquittoBroker(binary, port);
  } else {
    broker = new AedesBroker(port);
  }
  await broker.start();
  return broker;
}

/** Child output is shown only when ECOM_TEST_VERBOSE is set, so failures can be investigated without flooding runs. */
function quietLines(name: string, line: string): void {
  if (process.env.ECOM_TEST_VERBOSE) process.stderr.write(`[${name}] ${line}\n`);
}

export interface TestPortal {
  readonly role: 'admin' | 'order';
  readonly port: number;
  readonly client: PortalClient;
  child: EcomChild;
}

/** Portals of one mqtt cluster sharing one broker. */
export class MqttCluster {
  readonly portals: TestPortal[] = [];
  /** Every process this cluster started, ready or not, so that stop() leaves none behind even after a failed start. */
  private readonly children = new Set<EcomChild>();

  constructor(
    readonly broker: TestBroker,
    private readonly lang: 'pt' | 'en' = 'en',
    readonly prefix = `ecom-test/${process.pid}-${Math.floor(Math.random() * 1e9)}`,
  ) {}

  private spawnPortal(role: 'admin' | 'order', port: number, brokerUrl = this.broker.url): EcomChild {
    const child = spawnEcom(
      [`${role}-server`, String(port), '--mode', 'mqtt', '--broker', brokerUrl, '--topic-prefix', this.prefix, '--sync-timeout-ms', '700', '--host', HOST, '--lang', this.lang],
      { name: `${role}-${port}`, onLine: quietLines, env: { ECOM_LOG_FORMAT: 'json' } },
    );
    this.children.add(child);
    void child.exited.then(() => this.children.delete(child));
    return child;
  }

  /** A portal; `brokerUrl` lets it reach the broker through something else (a TcpProxy). */
  async addPortal(role: 'admin' | 'order', brokerUrl?: string): Promise<TestPortal> {
    const port = await freePort();
    const child = this.spawnPortal(role, port, brokerUrl);
    await waitForPort(HOST, port, START_TIMEOUT_MS, child);
    const portal: TestPortal = { role, port, child, client: new PortalClient({ host: HOST, port, timeout_ms: 10_000 }) };
    this.portals.push(portal);
    return portal;
  }

  /** SIGKILL, like a crash. */
  async kill(portal: TestPortal): Promise<void> {
    await portal.child.kill();
  }

  async restart(portal: TestPortal): Promise<void> {
    await portal.child.kill();
    portal.child = this.spawnPortal(portal.role, portal.port);
    await waitForPort(HOST, portal.port, START_TIMEOUT_MS, portal.child);
  }

  async remove(portal: TestPortal): Promise<void> {
    await portal.child.stop();
    portal.client.close();
    this.portals.splice(this.portals.indexOf(portal), 1);
  }

  async stop(): Promise<void> {
    await Promise.all([...this.children].map((child) => child.kill()));
    for (const portal of this.portals) portal.client.close();
    this.portals.length = 0;
  }
}

export async function stopBroker(broker: TestBroker | undefined): Promise<void> {
  if (broker === undefined) return;
  await broker.stop();
  if (broker instanceof MosquittoBroker) broker.cleanUp();
}

/** Everything a portal shows for a set of IDs, to compare portals. */
export async function dump(client: PortalClient, ids: { clients: readonly string[]; products: readonly string[]; orders: readonly string[] }): Promise<string> {
  const parts: string[] = [];
  for (const id of ids.clients) parts.push(`c${id}=${(await client.retrieveClient(id)).data}`);
  for (const id of ids.products) parts.push(`p${id}=${(await client.retrieveProduct(id)).data}`);
  for (const id of ids.orders) {
    const order = await client.retrieveOrder(id);
    parts.push(`o${id}=${order.CID}:${order.data}`);
  }
  return parts.join('\n');
}

/**
 * Waits until every portal shows the same data. Replication between processes has no
 * completion event a test could await, so this polls with a deadline and reports the last
 * difference when the portals never agree.
 */
export async function expectConverged(portals: readonly TestPortal[], ids: Parameters<typeof dump>[1], timeout_ms = 10_000): Promise<string> {
  const deadline = Date.now() + timeout_ms;
  for (;;) {
    const views = await Promise.all(portals.map((p) => dump(p.client, ids)));
    const first = views[0] ?? '';
    const differing = views.findIndex((v) => v !== first);
    if (differing < 0) return first;
    if (Date.now() > deadline) {
      const a = first.split('\n');
      const b = (views[differing] ?? '').split('\n');
      const line = a.findIndex((text, i) => text !== b[i]);
      throw new Error(`portal ${portals[differing]?.port} differs from portal ${portals[0]?.port}: "${a[line]}" vs "${b[line]}"`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
