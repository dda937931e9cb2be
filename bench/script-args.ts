// What the benchmark scripts here share: numeric and text options and a process's CPU time from /proc.
import { readFileSync } from 'node:fs';

/**
 * The whole number of at least `min` (above 0 unless told) after `--name` on the command line, or
 * `fallback`. Anything else stops the script with exit code 2 and the value named: `--rounds x`
 * must not run a benchmark of NaN rounds that prints figures of nothing.
 */
export function numberArg(name: string, fallback: number, min = 1): number {
  const at = process.argv.indexOf(name);
  if (at < 0) return fallback;
  const text = process.argv[at + 1];
  if (text === undefined || !/^\d+$/.test(text) || Number(text) < min) {
    const wanted = min === 1 ? 'above 0' : `of ${min} or more`;
    process.stderr.write(`${name} needs a whole number ${wanted}, got ${text === undefined ? 'nothing' : `"${text}"`}\n`);
    process.exit(2);
  }
  return Number(text);
}

/**
 * The text after `--name` on the command line, or undefined when the option is not given. A
 * missing value (the end of the line, or another option) stops the script with exit code 2.
 */
export function textArg(name: string): string | undefined {
  const at = process.argv.indexOf(name);
  if (at < 0) return undefined;
  const text = process.argv[at + 1];
  if (text === undefined || text.startsWith('--')) {
    process.stderr.write(`${name} needs a value, got ${text === undefined ? 'nothing' : `"${text}"`}\n`);
    process.exit(2);
  }
  return text;
}

/**
 * A script's refusal of its command line: `script: message`, then its usage line, exit code 2.
 * One shape for every bench script, so a caller (or a test) can tell a refusal from a failure.
 */
export function refusal(script: string, usageLine: string): (message: string) => never {
  return (message) => {
    process.stderr.write(`${script}: ${message}\n`);
    process.stderr.write(`usage: ${usageLine}\n`);
    process.exit(2);
  };
}

/** /proc/PID/stat counts CPU time in clock ticks of 10 ms (USER_HZ 100 on Linux). */
const MS_PER_TICK = 10;

/** User plus system CPU time of a process so far, in ms (Linux). */
export function cpu_ms(pid: number): number {
  const fields = (readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1] ?? '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) * MS_PER_TICK;
}
