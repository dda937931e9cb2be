import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { readToken } from '../portal/security.js';
import { LeanPortalClient } from '../client/lean-portal-client.js';
import type { PortalClientOptions } from '../client/portal-calls.js';
import { DEFAULTS } from '../config/defaults.js';
import { parsePort, resolveLang } from '../config/options.js';
import { OPERATIONS } from './clients/operations.js';
import { hostOption, langOption } from './common-options.js';
import { EXIT, runOneShot } from './oneshot.js';

/** `ecom admin` and `ecom order`: the interactive clients and one operation per command. */

interface ConnectOptions {
  readonly host: string;
  readonly port?: number;
  readonly tlsCa?: string;
  readonly token?: string;
}

function readCa(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Error(`cannot read the CA certificate ${file} given with --tls-ca: ${(err as Error).message}`);
  }
}

function clientOptions(opts: ConnectOptions, port: number): PortalClientOptions {
  return {
    host: opts.host,
    port,
    timeout_ms: 10_000,
    ...(opts.tlsCa !== undefined ? { tlsCa: readCa(opts.tlsCa) } : {}),
    ...(opts.token !== undefined ? { token: readToken(opts.token, '--token') } : {}),
  };
}

/** The public API's opt-in protection (docs/security.md): TLS for both clients, AdminPortal's token for ecom admin. */
function withSecurityOptions(command: Command, role: 'admin' | 'order'): Command {
  command.addOption(new Option('--tls-ca <file>', 'talk TLS to a portal whose certificate this CA (PEM) signed (servers started with --tls-cert)'));
  if (role === 'admin') command.addOption(new Option('--token <file>', 'AdminPortal token file, for servers started with --admin-token'));
  return command;
}

/**
 * What to connect to, as given to the operation's command or, before it, to `ecom admin` /
 * `ecom order` itself (`ecom admin --port 56006 get-client 1` as well as `ecom admin get-client 1
 * --port 56006`): a value given after the operation wins; a default gives way to a value given
 * before it.
 */
function connectOptionsOf(command: Command): ConnectOptions {
  const parent = command.parent;
  const merged: Record<string, unknown> = {};
  for (const key of ['host', 'port', 'tlsCa', 'token'] as const) {
    const own = command.getOptionValue(key) as unknown;
    const ownIsGiven = own !== undefined && command.getOptionValueSource(key) !== 'default';
    const inherited = parent?.getOptionValue(key) as unknown;
    merged[key] = ownIsGiven || inherited === undefined ? own : inherited;
  }
  return merged as unknown as ConnectOptions;
}

export function registerClientCommands(program: Command): void {
  for (const role of ['admin', 'order'] as const) {
    const defaultPort = role === 'admin' ? DEFAULTS.adminPort : DEFAULTS.orderPort;
    const ops = OPERATIONS.filter((op) => op.portal === role);
    const client = program
      .command(role)
      .description(
        role === 'admin'
          ? 'Admin client: interactive menu (clients and products), or one operation per command.'
          : 'Order client: interactive menu (asks for the CID first), or one operation per command.',
      )
      .addHelpText(
        'after',
        `\nExamples:\n  $ ecom ${role}                 interactive, port ${defaultPort}\n  $ ecom ${role} 56000           interactive, another port\n${ops
          .map((op) => `  $ ecom ${role} ${op.example}`)
          .join('\n')}\n\nOne-shot commands print the reply as JSON and exit 0 on success, 1 on an error reply or nothing found, 3 when no server answers, 4 when the server refuses the call (a missing or wrong --token).`,
      );
    const options = (opts: ConnectOptions, fallbackPort?: number) => clientOptions(opts, fallbackPort ?? opts.port ?? defaultPort);
    const addSecurityOptions = (command: Command) => withSecurityOptions(command, role);
    // Also taken before the operation's name; the operation's own (after it) win.
    addSecurityOptions(client)
      .addOption(new Option('--host <address>', 'address of the portal (default 127.0.0.1)'))
      .addOption(new Option('--port <port>', `portal port (default ${defaultPort})`).argParser(parsePort));

    addSecurityOptions(client.command('interactive [port]', { isDefault: true }))
      .description('the interactive menu (the default when no operation is named)')
      .addOption(hostOption())
      .addOption(langOption())
      .action(async (portText: string | undefined, opts: { lang?: string }, command: Command) => {
        let port: number | undefined;
        if (portText !== undefined) {
          if (!/^\d+$/.test(portText)) {
            client.error(`"${portText}" is neither a port nor an operation of "ecom ${role}" (operations: ${ops.map((o) => o.name).join(', ')})`, { exitCode: EXIT.usage });
          }
          port = parsePort(portText);
        }
        // The menus keep grpc-js (waitForReady, a long-lived channel); loaded only here, as a one-shot needs neither.
        const [{ PortalClient }, { runAdminClient, runOrderClient }] = await Promise.all([import('../client/portal-client.js'), import('./clients/interactive.js')]);
        const portalClient = new PortalClient(options(connectOptionsOf(command), port));
        const lang = resolveLang(opts.lang);
        try {
          if (role === 'admin') await runAdminClient({ client: portalClient, lang });
          else await runOrderClient({ client: portalClient, lang });
        } finally {
          portalClient.close();
        }
      });

    for (const op of ops) {
      addSecurityOptions(client.command(op.name))
        .description(op.description)
        .arguments(op.args.map((a) => `<${a}>`).join(' '))
        .addOption(hostOption())
        .addOption(new Option('--port <port>', `portal port (default ${defaultPort})`).argParser(parsePort))
        .addHelpText('after', `\nExample:\n  $ ecom ${role} ${op.example}`)
        .action(async (...params: unknown[]) => {
          const args = params.slice(0, op.args.length) as string[];
          const command = params[op.args.length + 1] as Command;
          const portalClient = new LeanPortalClient(options(connectOptionsOf(command)));
          try {
            process.exitCode = await runOneShot(portalClient, op, args);
          } finally {
            portalClient.close();
          }
        });
    }
  }
}
