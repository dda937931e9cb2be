import { existsSync, readFileSync } from 'node:fs';

/**
 * A child's log file as soon as `ready(text)` holds. A process group writes its children's lines
 * to their files behind reading them from the pipes, so a line printed just before a status
 * answer may not be in the file yet when the test has the answer (faults.test.ts once failed so).
 * The file has no event for a line written: it is read again every 20 ms, for up to `timeout_ms`.
 */
export async function logOnceItSays(file: string, ready: (text: string) => boolean, timeout_ms = 10_000): Promise<string> {
  const deadline = Date.now() + timeout_ms;
  for (;;) {
    const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
    if (ready(text)) return text;
    if (Date.now() > deadline) throw new Error(`${file} did not say what was awaited within ${timeout_ms} ms; its end:\n${text.slice(-3000)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** How many lines of `text` contain `needle`. */
export function linesWith(text: string, needle: string): number {
  return text.split('\n').filter((line) => line.includes(needle)).length;
}
