import { InvalidArgumentError, Option, type Command } from 'commander';
import { DEFAULTS } from './defaults.js';
import { parseLang, type Lang } from '../domain/messages.js';

/** Parsers for command-line values; each failure names the bad value and what is accepted. */

/** The exit code of a command line commander refuses (scripts tell it from a refused operation, 1). */
export const USAGE_EXIT_CODE = 2;

/** Makes `program` (and the subcommands it then registers) exit with USAGE_EXIT_CODE on a usage error, 0 after --help or --version. */
export function exitOnUsageError(program: Command): Command {
  return program.exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : USAGE_EXIT_CODE));
}

/**
 * A whole number written in decimal digits, at least `min`: "0x10", "1e3" or "1.0" are refused
 * (Number() would take them) because a command line that means something else should say so.
 */
export function wholeNumber(name: string, min = 0, max = Number.MAX_SAFE_INTEGER): (text: string) => number {
  return (text) => {
    const n = Number(text);
    if (!/^\d+$/.test(text) || n < min || n > max) throw new InvalidArgumentError(`${name} must be a whole number from ${min} to ${max}, got "${text}"`);
    return n;
  };
}

/** A number in plain decimal notation (digits, an optional fraction), above 0 (or from 0 with `zeroAllowed`), finite. */
export function positiveDecimal(name: string, max = 1e9, zeroAllowed = false): (text: string) => number {
  return (text) => {
    const n = Number(text);
    const low = zeroAllowed ? n >= 0 : n > 0;
    if (!/^\d+(\.\d+)?$/.test(text) || !low || n > max) {
      throw new InvalidArgumentError(`${name} must be a number ${zeroAllowed ? 'from 0' : 'above 0'} to ${max}, got "${text}"`);
    }
    return n;
  };
}

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

/** A whole number of milliseconds from 0 (often "off") to 10 minutes. */
export function parseMilliseconds(text: string): number {
  if (!/^\d+$/.test(text) || Number(text) > 600_000) throw new InvalidArgumentError(`"${text}" is not a duration in milliseconds (0 to 600000).`);
  return Number(text);
}

export const DEFAULT_BROKER_URL = `mqtt://${DEFAULTS.host}:${DEFAULTS.mqttPort}`;

export function parseBrokerUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InvalidArgumentError(`"${text}" is not a URL; use mqtt://host:port, e.g. ${DEFAULT_BROKER_URL}`);
  }
  if (url.protocol !== 'mqtt:' && url.protocol !== 'tcp:') {
    throw new InvalidArgumentError(`"${text}" is not an mqtt:// URL; use mqtt://host:port, e.g. ${DEFAULT_BROKER_URL}`);
  }
  return text;
}

/**
 * `--broker URL`, shared by the modes that use MQTT: mqtt mode's command log, and raft mode's
 * change feed for portal caches. One declaration, so every mode gets the same default and check.
 */
export const brokerOption = () =>
  new Option('--broker <url>', 'MQTT broker, the embedded "ecom broker" or Mosquitto (mqtt mode: the command log; raft mode: cache invalidation)')
    .argParser(parseBrokerUrl)
    .default(DEFAULT_BROKER_URL);
