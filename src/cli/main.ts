import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { DEFAULTS } from '../config/defaults.js';
import { exitWithParent } from '../util/processes.js';
import { COMMAND_GROUPS } from './command-groups.js';
import { EXIT } from './oneshot.js';

/**
 * `ecom`: one program for every part of the system (docs/spec.md, Commands).
 *
 * Only the command group named on the command line is loaded (see command-groups.ts), and
 * none for `--version`; help for the whole program, or a name no group claims, loads them all
 * so commander can list them or suggest the nearest.
 */
const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
// Says which code runs: bin/ecom.js falls back to the sources when the build is older than them.
const runs = import.meta.url.endsWith('.ts') ? 'the TypeScript sources, through tsx' : 'the compiled build in dist/';

const program = new Command('ecom')
  .version(`ecom ${version}, running ${runs}`, '-V, --version')
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

/** The program has no options of its own, so the first word that is not an option names the command. */
const named = process.argv.slice(2).find((arg) => !arg.startsWith('-'));
const group = COMMAND_GROUPS.find((g) => named !== undefined && g.commands.includes(named));
// `ecom --version` names no command and needs none: loading them all took it half a second.
const versionOnly = named === undefined && process.argv.slice(2).some((arg) => arg === '-V' || arg === '--version');
const groups = group !== undefined ? [group] : versionOnly ? [] : COMMAND_GROUPS;
for (const register of await Promise.all(groups.map((g) => g.load()))) register(program);

exitWithParent();

try {
  await program.parseAsync(process.argv);
} catch (err) {
  process.stderr.write(`ecom: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
