import { Command, Option } from 'commander';
import { PortalClient } from '../client/portal-client.js';
import { DEFAULTS } from '../config/defaults.js';
import { DEFAULT_MODE, findMode, MODES } from '../modes/registry.js';
import type { ModeContext } from '../modes/mode.js';
import { startPortalServer } from '../portal/server.js';
import { createLogger } from '../util/log.js';
import { exitWithParent } from '../util/processes.js';
import { closeOnSignals } from '../util/shutdown.js';
import { registerBrokerCommand } from './broker-command.js';
import { runAdminClient, runOrderClient } from './clients/interactive.js';
import { OPERATIONS } from './clients/operations.js';
import { EXIT, runOneShot } from './oneshot.js';
import { parseLangOption, parsePort, resolveLang } from '../config/options.js';
import { registerBenchCommand } from './bench-command.js';
import { registerStorageCommands } from './storage-commands.js';

/**
 * `ecom`: one program for every part of the system (SPEC.md §5).
 */
const program = new Command('ecom')
  .description('A distributed e-commerce back end: gRPC admin and order portals over a choice of replicated stores.')
  .showHelpAfterError('(run with --help for usage)')
  // Usage errors exit 2 (scripts tell them from a refused operation, 1); subcommands inherit this.
  .exitOverride((err) => {
    process.exit(err.exitCode === 0 ? 0 : EXIT.usage);
  })
  .addHelpText(
    'after',
    `
Examples:
  $ ecom up                          run the whole system (AdminPortal :${DEFAULTS.adminPort}, OrderPortal :${DEFAULTS.orderPort})
  $ ecom admin                       interactive admin client (another terminal)
  $ ecom order                       interactive order client
  $ ecom admin create-client 44 '{"name": "Ana"}'
  $ ecom order get-order 10

Reply texts are Portuguese by default; --lang en or ECOM_LANG=en switches to English.`,
  );

const modeOption = () =>
  new Option('--mode <mode>', `where the data lives: ${MODES.map((m) => `${m.name} (${m.summary})`).join('; ')}`).default(DEFAULT_MODE);
const langOption = () => new Option('--lang <lang>', 'language of reply texts: pt or en (default: $ECOM_LANG, else pt)').argParser(parseLangOption);
const hostOption = () => new Option('--host <address>', 'address to bind or connect to').default(DEFAULTS.host);

/** Adds every mode's options to a command; modes may share an option (the first declaration wins). */
function addModeOptions(command: Command, optionsOf: (mode: (typeof MODES)[number]) => Option[]): void {
  for (const mode of MODES) {
    for (const option of optionsOf(mode)) if (!command.options.some((o) => o.long === option.long)) command.addOption(option);
  }
}

function context(opts: { lang?: unknown; host: string }, name: string): ModeContext {
  return { lang: resolveLang(opts.lang), log: createLogger(name), host: opts.host };
}

const up = program
  .command('up')
  .description('Run the whole system on this machine; Ctrl-C stops it all cleanly.')
  .addOption(modeOption())
  .addOption(hostOption())
  .addOption(new Option('--admin-port <port>', 'AdminPortal port').argParser(parsePort).default(DEFAULTS.adminPort))
  .addOption(new Option('--order-port <port>', 'OrderPortal port').argParser(parsePort).default(DEFAULTS.orderPort))
  .addOption(langOption())
  .addHelpText('after', `\nExamples:\n  $ ecom up\n  $ ecom up --mode single --admin-port 56006 --order-port 56005 --lang en`)
  .action(async (opts: { mode: string; host: string; adminPort: number; orderPort: number; lang?: string }) => {
    const mode = findMode(opts.mode);
    const ctx = context(opts, `ecom-up-${mode.name}`);
    const closers = closeOnSignals((signal) => ctx.log.info(`${signal}: stopping`));
    const system = await mode.up({ ...opts }, ctx);
    closers.push(() => system.stop());
    ctx.log.info(
      { admin: system.adminPorts.map((p) => `${ctx.host}:${p}`), order: system.orderPorts.map((p) => `${ctx.host}:${p}`) },
      'system is up; try "ecom admin" and "ecom order" in another terminal; Ctrl-C stops everything',
    );
  });
addModeOptions(up, (mode) => mode.upOptions());

for (const role of ['admin', 'order'] as const) {
  const name = `${role}-server`;
  const portal = role === 'admin' ? 'AdminPortal' : 'OrderPortal';
  const defaultPort = role === 'admin' ? DEFAULTS.adminPort : DEFAULTS.orderPort;
  const command = program
    .command(`${name}`)
    .description(`Run one ${portal} server (it answers both portals' services on its port).`)
    .argument('<port>', `port to serve on (the original's default: ${defaultPort})`, parsePort)
    .addOption(modeOption())
    .addOption(hostOption())
    .addOption(langOption())
    .addHelpText('after', `\nExample:\n  $ ecom ${name} ${defaultPort} --mode single`)
    .action(async (port: number, opts: { mode: string; host: string; lang?: string }) => {
      const mode = findMode(opts.mode);
      const ctx = context(opts, `${name}-${port}`);
      const closers = closeOnSignals((signal) => ctx.log.info(`${signal}: finishing calls in flight, then stopping`));
      const backend = await mode.createBackend(opts, ctx);
      closers.push(() => backend.close());
      const server = await startPortalServer({ backend, lang: ctx.lang, log: ctx.log, host: ctx.host, ports: [port] });
      closers.push(() => server.shutdown());
      ctx.log.info({ port: server.ports[0], host: ctx.host, mode: mode.name }, `${portal} server is serving`);
    });
  addModeOptions(command, (mode) => mode.serverOptions());
}

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
        .join('\n')}\n\nOne-shot commands print the reply as JSON and exit 0 on success, 1 on an error reply or nothing found, 3 when no server answers.`,
    );
  const connect = (opts: { host: string; port?: number }, fallbackPort?: number) =>
    new PortalClient({ host: opts.host, port: opts.port ?? fallbackPort ?? defaultPort, timeout_ms: 10_000 });

  client
    .command('interactive [port]', { isDefault: true })
    .description('the interactive menu (the default when no operation is named)')
    .addOption(hostOption())
    .addOption(langOption())
    .action(async (portText: string | undefined, opts: { host: string; lang?: string }) => {
      let port: number | undefined;
      if (portText !== undefined) {
        if (!/^\d+$/.test(portText)) {
          client.error(`"${portText}" is neither a port nor an operation of "ecom ${role}" (operations: ${ops.map((o) => o.name).join(', ')})`, { exitCode: EXIT.usage });
        }
        port = parsePort(portText);
      }
      const portalClient = connect(opts, port);
      const lang = resolveLang(opts.lang);
      try {
        if (role === 'admin') await runAdminClient({ client: portalClient, lang });
        else await runOrderClient({ client: portalClient, lang });
      } finally {
        portalClient.close();
      }
    });

  for (const op of ops) {
    client
      .command(op.name)
      .description(op.description)
      .arguments(op.args.map((a) => `<${a}>`).join(' '))
      .addOption(hostOption())
      .addOption(new Option('--port <port>', `portal port (default ${defaultPort})`).argParser(parsePort))
      .addHelpText('after', `\nExample:\n  $ ecom ${role} ${op.example}`)
      .action(async (...params: unknown[]) => {
        const args = params.slice(0, op.args.length) as string[];
        const opts = params[op.args.length] as { host: string; port?: number };
        const portalClient = connect(opts);
        try {
          process.exitCode = await runOneShot(portalClient, op, args);
        } finally {
          portalClient.close();
        }
      });
  }
}

registerStorageCommands(program);
registerBrokerCommand(program);
registerBenchCommand(program);

exitWithParent();

try {
  await program.parseAsync(process.argv);
} catch (err) {
  process.stderr.write(`ecom: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
