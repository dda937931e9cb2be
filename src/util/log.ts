import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

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
      ? pretty({ destination: 2, sync: true, colorize: process.stderr.isTTY, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' })
      : pino.destination({ dest: 2, sync: true });
  return pino({ name, level, base: { pid: process.pid } }, destination);
}

export const silentLogger: Logger = pino({ level: 'silent' });
