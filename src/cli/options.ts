import { InvalidArgumentError } from 'commander';
import { parseLang, type Lang } from '../domain/messages.js';

/** Parsers for command-line values; each failure names the bad value and what is accepted. */
export function parsePort(text: string): number {
  if (!/^\d+$/.test(text)) throw new InvalidArgumentError(`"${text}" is not a port number (0-65535).`);
  const port = Number(text);
  if (port > 65535) throw new InvalidArgumentError(`${port} is not a port number (0-65535).`);
  return port;
}

export function parseCount(text: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > 64) {
    throw new InvalidArgumentError(`"${text}" is not a count from 1 to 64.`);
  }
  return Number(text);
}

export function parseLangOption(text: string): Lang {
  const lang = parseLang(text);
  if (lang === undefined) throw new InvalidArgumentError(`"${text}" is not a language; use pt or en.`);
  return lang;
}

/** --lang, else ECOM_LANG, else Portuguese (the original's language). */
export function resolveLang(option: unknown): Lang {
  if (typeof option === 'string') return parseLangOption(option);
  const fromEnv = parseLang(process.env.ECOM_LANG);
  if (process.env.ECOM_LANG && fromEnv === undefined) {
    throw new Error(`ECOM_LANG="${process.env.ECOM_LANG}" is not a language; use pt or en.`);
  }
  return fromEnv ?? 'pt';
}

/** A whole number of milliseconds, 0 included (0 usually means "off"). */
export function parseMilliseconds(text: string): number {
  if (!/^\d+$/.test(text)) throw new InvalidArgumentError(`"${text}" is not a whole number of milliseconds.`);
  return Number(text);
}
