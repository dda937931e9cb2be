import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { connectionStatesOn, portHolders, type PortHolder } from './port-owner.js';

/** A port a process can listen on or be reached at: a whole number from 1 to 65535. */
export const isPort = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 1 && v <= 65_535;

/**
 * Free ports for processes started elsewhere (chaos runs, benchmarks, local etcd clusters,
 * tests).
 *
 * A port is handed out some time before the process that will use it binds it, so it must
 * not be taken by anyone else in between. Asking the OS for port 0 gives a port from the
 * ephemeral range, which the kernel also hands to every other `listen(0)` and to the source
 * side of outgoing connections: under load a replica then fails to start with EADDRINUSE
 * (CI saw exactly that). So ports come from a band below the ephemeral range, which the
 * kernel never assigns by itself, and clear of the system's default ports (replicas 20001+
 * and 30001+, a local etcd cluster 23790+, portals 55005/55006, MQTT 1884). A process
 * restarted on its port (a replica, an etcd member) gets it back for the same reason. The band
 * is split into slices, one per vitest worker (a random one outside vitest), so parallel
 * workers do not hand out the same port; a probe bind skips ports something already holds.
 *
 * A child started with spawnEcom inherits its parent's worker slice, and a port the parent has
 * handed out but not yet bound looks free to the child's probe: a test that picks a portal
 * port and then runs `ecom up`, which picks ports for etcd or replicas, could get the same port
 * twice (CI saw `ecom up` exit that way). So each slice is cut again by process depth: the
 * parent takes the first part, its children the next, and so on.
 */
const BAND_LOW = 21_000;
const BAND_HIGH = 29_999;
const SLICES = 8;
const SLICE_SIZE = Math.floor((BAND_HIGH - BAND_LOW + 1) / SLICES);
/** `ecom up --mode etcd --etcd-data` starts its local etcd cluster on 23790-23795. */
const RESERVED = { from: 23_790, to: 23_799 } as const;

/** How many spawnEcom generations below the process that owns the slice this one is. */
export const PORT_DEPTH_ENV = 'ECOM_PORT_DEPTH';

/**
 * The environment entry a child process needs to take its ports from the next part of this
 * process's slice: every process that starts another one which may pick ports (spawnEcom, the
 * tests' own spawns of `ecom`) passes it, or parent and child can hand out the same port.
 */
export function childPortDepth(): Record<string, string> {
  return { [PORT_DEPTH_ENV]: String(Number(process.env[PORT_DEPTH_ENV] ?? 0) + 1) };
}
const DEPTHS = 3;
const depth = Math.min(DEPTHS - 1, Math.max(0, Math.trunc(Number(process.env[PORT_DEPTH_ENV] ?? 0)) || 0));
const PART_SIZE = Math.floor(SLICE_SIZE / DEPTHS);

const issued = new Set<number>();
let cursor = -1;

function sliceIndex(): number {
  const worker = Number(process.env.VITEST_POOL_ID ?? process.env.VITEST_WORKER_ID);
  if (Number.isInteger(worker) && worker > 0) return (worker - 1) % SLICES;
  return Math.floor(Math.random() * SLICES);
}

const slice = sliceIndex();

/** The kernel's ephemeral range, if this is Linux; the band must stay clear of it. */
function ephemeralRange(): [number, number] | undefined {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    return low !== undefined && high !== undefined ? [low, high] : undefined;
  } catch {
    return undefined;
  }
}

const ephemeral = ephemeralRange();
const bandIsClear = ephemeral === undefined || ephemeral[0] > BAND_HIGH || ephemeral[1] < BAND_LOW;

/** Why `port` on `host` cannot be listened on now (the error's code), or undefined when it can. */
function bindError(port: number, host: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    server.listen(port, host, () => server.close(() => resolve(undefined)));
  });
}

const canBind = async (port: number, host: string): Promise<boolean> => (await bindError(port, host)) === undefined;

function probeAny(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('the OS gave no free port'))));
    });
  });
}

/** The first of `count` free ports `step` apart, all inside this process's part of the band. */
async function fromBand(host: string, count: number, step: number): Promise<number | undefined> {
  if (cursor < 0) cursor = Math.floor(Math.random() * PART_SIZE);
  const span = (count - 1) * step;
  for (let tried = 0; tried < PART_SIZE; tried++) {
    const offset = cursor % PART_SIZE;
    cursor++;
    if (offset + span >= PART_SIZE) continue;
    const first = BAND_LOW + slice * SLICE_SIZE + depth * PART_SIZE + offset;
    const ports = Array.from({ length: count }, (_, i) => first + i * step);
    if (ports.some((port) => issued.has(port) || (port >= RESERVED.from && port <= RESERVED.to))) continue;
    // Held while probed: a concurrent call must not take one of them meanwhile.
    for (const port of ports) issued.add(port);
    if ((await Promise.all(ports.map((port) => canBind(port, host)))).every(Boolean)) return first;
    for (const port of ports) issued.delete(port);
  }
  return undefined;
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return freePortSeries(1, 1, host);
}

/**
 * The first of `count` free ports `step` apart, all handed out: for a command that listens on
 * the port it is given and the ones after it (`ecom up --mode mqtt --admin-port P` runs its
 * AdminPortals on P, P + 10, ...). Taking only P, the others could be anyone's.
 */
export async function freePortSeries(count: number, step: number, host = '127.0.0.1'): Promise<number> {
  // On a machine whose ephemeral range covers the band, the band buys nothing: ask the OS.
  const banded = bandIsClear ? await fromBand(host, count, step) : undefined;
  if (banded !== undefined) return banded;
  for (;;) {
    const first = await probeAny(host);
    const ports = Array.from({ length: count }, (_, i) => first + i * step);
    if (ports.some((port) => port > 65_535 || issued.has(port))) continue;
    for (const port of ports) issued.add(port);
    if ((await Promise.all(ports.slice(1).map((port) => canBind(port, host)))).every(Boolean)) return first;
    for (const port of ports) issued.delete(port);
  }
}

/** A port a system is about to listen on, which of its parts will, and the option that moves it. */
export interface WantedPort {
  readonly host: string;
  readonly port: number;
  /** e.g. "AdminPortal 2 (at --admin-port + 10)" */
  readonly what: string;
  /** e.g. "--admin-port" */
  readonly option: string;
}

/**
 * Before a system starts its processes: every port one of them will listen on must be free and
 * wanted by one part only. Otherwise this throws, naming each port, the part that wanted it, the
 * process that holds it where the machine says, and the options that move them, so the system
 * does not start half-way (a child that cannot bind exits, and its supervisor would restart it
 * for ever). The ports are also kept from freePort in this process: ports it hands out later
 * (metrics, link proxies) cannot land on one of them.
 */
export async function claimPorts(wanted: readonly WantedPort[]): Promise<void> {
  const problems: string[] = [];
  /** The parts whose ports are a problem: their options are what moves them. */
  const involved: WantedPort[] = [];
  const first = new Map<number, WantedPort>();
  // Port 0 asks the OS for any free port when the part listens: nothing to claim.
  for (const want of wanted.filter((w) => w.port !== 0)) {
    const port: unknown = want.port;
    if (!isPort(port)) {
      // mqtt mode's later portals sit above the port given: 65530 puts the second at 65540.
      problems.push(`port ${want.port} (${want.what}): not a port (1-65535)`);
      involved.push(want);
      continue;
    }
    const earlier = first.get(want.port);
    if (earlier === undefined) {
      first.set(want.port, want);
      continue;
    }
    problems.push(`port ${want.port}: wanted by both ${earlier.what} and ${want.what}`);
    involved.push(earlier, want);
  }
  const taken: WantedPort[] = [];
  for (const want of first.values()) {
    const error = await bindError(want.port, want.host);
    if (error === undefined) continue;
    involved.push(want);
    if (error === 'EADDRINUSE') taken.push(want);
    else if (error === 'EADDRNOTAVAIL') problems.push(`port ${want.port} (${want.what}): ${want.host} is not an address of this machine`);
    else problems.push(`port ${want.port} (${want.what}): cannot be listened on (${error})`);
  }
  const holders = portHolders(taken.map((want) => want.port));
  for (const want of taken) {
    const holder = holders.get(want.port);
    problems.push(`port ${want.port} (${want.what}): in use by ${holder === undefined ? notListenedOn(want.port) : `pid ${holder.pid} (${holder.command})`}`);
  }
  if (problems.length > 0) {
    const options = [...new Set(involved.map((want) => want.option))].join(', ');
    throw new Error(`nothing started: ${problems.length === 1 ? 'a port it needs' : `${problems.length} ports it needs`} cannot be had\n  ${problems.join('\n  ')}\n${commonParent(holders) ?? ''}Stop what holds them, or choose other ports (${options}).`);
  }
  for (const port of first.keys()) issued.add(port);
}

/**
 * When every taken port is held by children of another `ecom up`, that process, named with the
 * folder it runs in. Not for any other parent: told to stop a shell that happened to start the
 * holders, a user would stop the wrong thing.
 */
function commonParent(holders: ReadonlyMap<number, PortHolder>): string | undefined {
  const parents = new Map([...holders.values()].map((h) => [h.parent?.pid, h.parent]));
  if (holders.size < 2 || parents.size !== 1) return undefined;
  const parent = [...parents.values()][0];
  if (parent === undefined || !parent.isEcomUp) return undefined;
  return `They are all held by the processes of pid ${parent.pid} (${parent.command}${parent.cwd === undefined ? '' : `, started in ${parent.cwd}`}): stop it (Ctrl-C in its terminal, or kill ${parent.pid}).\n`;
}

/**
 * What holds a port nothing listens on. A connection's local end, most often: the kernel lends
 * the ports of its ephemeral range to outgoing connections (the portals' defaults 55005 and 55006
 * lie in Linux's usual 32768-60999), and until such a connection is gone nothing can listen there.
 */
function notListenedOn(port: number): string {
  const states = connectionStatesOn(port);
  if (states.length === 0) return 'another program';
  const lent = ephemeral !== undefined && port >= ephemeral[0] && port <= ephemeral[1];
  return `a connection of this machine, as its local end (${states.join(', ')})${lent ? `: the kernel lends ports ${ephemeral[0]}-${ephemeral[1]} to outgoing connections; try again in a moment, or choose a port outside that range` : ''}`;
}
