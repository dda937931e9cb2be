// What the benchmark scripts here share: numeric options and a process's CPU time from /proc.
import { readFileSync } from 'node:fs';

/** The number after `--name` on the command line, or `fallback`. */
export function numberArg(name: string, fallback: number): number {
  const at = process.argv.indexOf(name);
  return at >= 0 ? Number(process.argv[at + 1]) : fallback;
}

/** /proc/PID/stat counts CPU time in clock ticks of 10 ms (USER_HZ 100 on Linux). */
const MS_PER_TICK = 10;

/** User plus system CPU time of a process so far, in ms (Linux). */
export function cpu_ms(pid: number): number {
  const fields = (readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1] ?? '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) * MS_PER_TICK;
}
