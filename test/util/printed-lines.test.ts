import { describe, expect, it } from 'vitest';
import { PrintedLines } from '../../src/util/printed-lines.js';
import { spawnProgram } from '../../src/util/processes.js';

/** A stand-in child: lines are handed to its watchers as a pipe would. */
function fakeChild() {
  const watchers = new Set<(line: string) => void>();
  return {
    print: (line: string) => watchers.forEach((w) => w(line)),
    watchLines(listener: (line: string) => void) {
      watchers.add(listener);
      return () => watchers.delete(listener);
    },
    get watching() {
      return watchers.size;
    },
  };
}

describe('the lines a child prints', () => {
  it('are kept as text and, when JSON objects, parsed; a waiter is told as soon as its line comes', async () => {
    const child = fakeChild();
    const printed = new PrintedLines(child);
    child.print('plain words');
    const awaited = printed.first((line) => line.json?.msg === 'ready', 10_000);
    child.print('{"msg": "starting"}');
    child.print('{"msg": "ready", "port": 7}');
    expect((await awaited)?.json).toEqual({ msg: 'ready', port: 7 });
    expect(printed.lines.map((l) => [l.text, l.json === undefined])).toEqual([
      ['plain words', true],
      ['{"msg": "starting"}', false],
      ['{"msg": "ready", "port": 7}', false],
    ]);
    // A line printed before the wait began is found at once.
    expect((await printed.first((line) => line.text === 'plain words', 0))?.text).toBe('plain words');
    printed.stop();
    expect(child.watching).toBe(0);
  });

  it('a line that never comes: undefined after the timeout; a cut JSON line stays text', async () => {
    const child = fakeChild();
    const printed = new PrintedLines(child);
    child.print('{"msg": "cut sho');
    expect(await printed.first((line) => line.json !== undefined, 20)).toBeUndefined();
    expect(printed.lines[0]).toEqual({ text: '{"msg": "cut sho', json: undefined });
    printed.stop();
  });

  it('the nth matching line: counted across lines printed before and after the wait began', async () => {
    const child = fakeChild();
    const printed = new PrintedLines(child);
    child.print('refused 1');
    child.print('accepted');
    const third = printed.nth((line) => line.text.startsWith('refused'), 3, 10_000);
    child.print('refused 2');
    let settled = false;
    void third.then(() => (settled = true));
    await Promise.resolve();
    expect(settled).toBe(false);
    child.print('refused 3');
    expect((await third)?.text).toBe('refused 3');
    printed.stop();
  });

  it('keeps at most 50,000 lines, dropping the oldest half when over', () => {
    const child = fakeChild();
    const printed = new PrintedLines(child);
    for (let i = 0; i < 50_001; i++) child.print(String(i));
    expect(printed.lines).toHaveLength(25_000);
    expect(printed.dropped).toBe(25_001);
    expect(printed.lines[0]!.text).toBe('25001');
    printed.stop();
  });

  it("a real child's last line, printed just before it exits, is awaited rather than missed", async () => {
    const child = spawnProgram(process.execPath, ['-e', 'for (let i = 0; i < 1000; i++) console.log(JSON.stringify({ i })); console.log(JSON.stringify({ msg: "bye" }))'], { name: 'printer', onLine: () => undefined });
    const printed = new PrintedLines(child);
    await child.exited;
    const bye = await printed.first((line) => line.json?.msg === 'bye', 10_000);
    expect(bye).toBeDefined();
    expect(printed.lines.filter((l) => l.json !== undefined && 'i' in l.json)).toHaveLength(1000);
    printed.stop();
  });
});
