import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { processTree } from './proc-state.js';

/**
 * Whether a process, or one it started, is what listens on a TCP port: read from Linux's /proc.
 *
 * A port that accepts a connection proves only that something listens there. A parent that waits
 * for its child's port by connecting to it is fooled when another program already holds the port:
 * the child fails to bind and exits, and the parent, having connected to the other program, says
 * the child is up (CI saw `ecom up` report a portal serving whose process had died that way). No
 * library answers "who owns this listening socket"; Linux says it in two places: /proc/net/tcp
 * lists each listening socket's inode, and /proc/PID/fd links each of a process's sockets to its
 * inode.
 */

/** TCP state 0A in /proc/net/tcp: LISTEN. */
const LISTEN = '0A';

/** Whether this machine has /proc's socket tables at all (Linux). */
const procHasSockets = existsSync('/proc/self/net/tcp');

/** One row of a /proc/net/tcp table: the local port, the state's code, the socket's inode. */
interface SocketRow {
  readonly port: number;
  readonly state: string;
  readonly inode: string;
}

/** The rows of `pid`'s `table` (tcp: IPv4, tcp6: IPv6 and dual-stack), in its network namespace; none once it is gone. */
function socketRows(pid: number | 'self', table: 'tcp' | 'tcp6'): SocketRow[] {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/net/${table}`, 'utf8');
  } catch {
    return [];
  }
  const rows: SocketRow[] = [];
  for (const line of text.split('\n').slice(1)) {
    // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
    const [, local, , state, , , , , , inode] = line.trim().split(/\s+/);
    if (local === undefined || state === undefined || inode === undefined) continue;
    rows.push({ port: Number.parseInt(local.slice(local.lastIndexOf(':') + 1), 16), state, inode });
  }
  return rows;
}

/**
 * The inodes of the sockets listening on `port` in one of `pid`'s socket tables, in its network
 * namespace, which is the one that matters if it differs from ours. Reading a table costs the
 * kernel a few milliseconds, so callers read the second only when the first did not answer.
 */
function listeningInodes(pid: number, table: 'tcp' | 'tcp6', port: number): Set<string> {
  return new Set(socketRows(pid, table).filter((row) => row.state === LISTEN && row.port === port).map((row) => row.inode));
}

/** TCP states by their code in /proc/net/tcp, for saying what holds a port that nothing listens on. */
const TCP_STATES: Readonly<Record<string, string>> = {
  '01': 'ESTABLISHED',
  '02': 'SYN_SENT',
  '03': 'SYN_RECV',
  '04': 'FIN_WAIT1',
  '05': 'FIN_WAIT2',
  '06': 'TIME_WAIT',
  '07': 'CLOSE',
  '08': 'CLOSE_WAIT',
  '09': 'LAST_ACK',
  '0B': 'CLOSING',
};

/**
 * The states of this machine's connections whose local end is `port` (none listening): the
 * kernel lends ports of its ephemeral range to outgoing connections, and while one is in use
 * nothing can listen there. Empty where /proc cannot tell.
 */
export function connectionStatesOn(port: number): string[] {
  const rows = [...socketRows('self', 'tcp'), ...socketRows('self', 'tcp6')];
  return [...new Set(rows.filter((row) => row.port === port && TCP_STATES[row.state] !== undefined).map((row) => TCP_STATES[row.state]!))];
}

function socketInodesOf(pid: number): string[] {
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return [];
  }
  const inodes: string[] = [];
  for (const fd of fds) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match !== null) inodes.push(match[1]!);
    } catch {
      // closed since the listing
    }
  }
  return inodes;
}

/**
 * True when `pid` or a process below it holds a socket listening on `port`, false when none
 * does, undefined when this machine cannot tell (no /proc): the caller then takes the port's
 * answer on trust, as before.
 */
export function listensOn(pid: number, port: number): boolean | undefined {
  if (!procHasSockets) return undefined;
  let tree: number[] | undefined;
  for (const table of ['tcp', 'tcp6'] as const) {
    const listening = listeningInodes(pid, table, port);
    if (listening.size === 0) continue;
    // The process itself first: walking every process for its children is the dearer part.
    if (socketInodesOf(pid).some((inode) => listening.has(inode))) return true;
    tree ??= processTree(pid).slice(1);
    if (tree.some((member) => socketInodesOf(member).some((inode) => listening.has(inode)))) return true;
  }
  return false;
}

/** A process holding a listening socket: its pid and command line (shortened), and its parent's. */
export interface PortHolder {
  readonly pid: number;
  readonly command: string;
  readonly parent: { readonly pid: number; readonly command: string; readonly cwd: string | undefined; readonly isEcomUp: boolean } | undefined;
}

const COMMAND_SHOWN_CHARS = 80;

/**
 * Which process holds each of `ports` listening, where this machine can tell (Linux, and a
 * process whose descriptors this user may read); ports nobody holds, or whose holder cannot be
 * seen, are left out. For error messages: it reads every process's descriptors.
 */
export function portHolders(ports: readonly number[]): Map<number, PortHolder> {
  const holders = new Map<number, PortHolder>();
  if (!procHasSockets || ports.length === 0) return holders;
  const portOfInode = new Map<string, number>();
  for (const port of ports) for (const table of ['tcp', 'tcp6'] as const) for (const inode of listeningInodes(process.pid, table, port)) portOfInode.set(inode, port);
  if (portOfInode.size === 0) return holders;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    for (const inode of socketInodesOf(pid)) {
      const port = portOfInode.get(inode);
      if (port !== undefined && !holders.has(port)) holders.set(port, { pid, command: commandOf(pid), parent: parentOf(pid) });
    }
  }
  return holders;
}

function argumentsOf(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((a) => a !== '');
  } catch {
    return undefined;
  }
}

/** The command line, on one line and shortened for a message. */
function commandOf(pid: number, args = argumentsOf(pid)): string {
  if (args === undefined) return '?';
  const command = args.join(' ').replace(/\s+/g, ' ');
  return command.length > COMMAND_SHOWN_CHARS ? `${command.slice(0, COMMAND_SHOWN_CHARS - 1)}…` : command;
}

/** `ecom up` as bin/ecom.js (or an `ecom` on the PATH) runs it: the command is the first argument after the script. */
function isEcomUp(args: readonly string[] | undefined): boolean {
  const script = args?.findIndex((a) => /(^|\/)ecom(\.js)?$/.test(a)) ?? -1;
  return script >= 0 && args?.[script + 1] === 'up';
}

function parentOf(pid: number): PortHolder['parent'] {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  if (!(parent > 1)) return undefined;
  let cwd: string | undefined;
  try {
    cwd = readlinkSync(`/proc/${parent}/cwd`);
  } catch {
    cwd = undefined;
  }
  const args = argumentsOf(parent);
  return { pid: parent, command: commandOf(parent, args), cwd, isEcomUp: isEcomUp(args) };
}
