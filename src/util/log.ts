import { createRequire } from 'node:module';
import { pino, type Logger } from 'pino';
import type pinoPretty from 'pino-pretty';

export type { Logger };

/**
 * Logs go to stderr so stdout stays free for what a command prints as its result. A person at
 * a terminal gets readable lines; a pipe or file gets one JSON object per line.
 * `ECOM_LOG_LEVEL` (debug, info, warn, error, silent) sets the level.
 */
export function createLogger(name: string, options: { level?: string } = {}): Logger {
  const level = options.level ?? process.env.ECOM_LOG_LEVEL ?? 'info';
  const format = process.env.ECOM_LOG_FORMAT ?? (process.stderr.isTTY ? 'pretty' : 'json');
  const destination =
    format === 'pretty'
      ? loadPretty()({ destination: 2, sync: true, colorize: process.stderr.isTTY, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' })
      : pino.destination({ dest: 2, sync: true });
  return pino({ name, level, base: { pid: process.pid } }, destination);
}

/**
 * pino-pretty, required only for a terminal: every process of the system logs JSON to its
 * parent's pipe, and loading it cost each of them about 35 ms of CPU at start (issue #18).
 */
function loadPretty(): typeof pinoPretty {
  return createRequire(import.meta.url)('pino-pretty') as typeof pinoPretty;
}

export const silentLogger: Logger = pino({ level: 'silent' });
