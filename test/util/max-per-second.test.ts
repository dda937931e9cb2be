import { describe, expect, it } from 'vitest';
import { secondsIn } from '../../src/bench/stability.js';

const longestIn = (seconds: readonly unknown[], from_ms: number, until_ms: number) => Math.max(0, ...secondsIn(seconds, from_ms, until_ms).map(([, ms]) => ms));
import { MaxPerSecond } from '../../src/util/max-per-second.js';
import { Prng } from '../../src/util/random.js';
import { testSeed } from '../helpers/seed.js';

describe('MaxPerSecond', () => {
  it('keeps the largest value of each of the last seconds, by epoch second, and drops older ones', () => {
    let now = 100_000;
    const max = new MaxPerSecond(3, () => now);
    max.note(5);
    max.note(9);
    max.note(2);
    now = 101_500;
    max.note(4);
    now = 103_100; // second 103: seconds 100 and before are out of the last three
    max.note(1);
    expect(max.recent()).toEqual([
      [101, 4],
      [103, 1],
    ]);
    now = 110_000;
    expect(max.recent()).toEqual([]);
    max.note(7.4);
    expect(max.recent()).toEqual([[110, 7]]);
  });
});

describe('MaxPerSecond with a detail', () => {
  it("keeps the detail of each second's largest value, not of a later smaller one", () => {
    let now = 300_000;
    const max = new MaxPerSecond<string>(5, () => now);
    max.note(10, 'first');
    max.note(25, 'largest');
    max.note(20, 'smaller, later');
    now = 301_200;
    max.note(3);
    expect(max.recentWithDetail()).toEqual([
      [300, 25, 'largest'],
      [301, 3, undefined],
    ]);
    expect(max.recent()).toEqual([
      [300, 25],
      [301, 3],
    ]);
  });
});

describe('MaxPerSecond.maxOver', () => {
  it('takes the largest value of the current second and the ones just before it', () => {
    let now = 200_900;
    const max = new MaxPerSecond(5, () => now);
    max.note(30); // second 200
    now = 203_100;
    max.note(12); // second 203
    expect(max.maxOver(1)).toBe(12);
    expect(max.maxOver(3)).toBe(12); // seconds 201-203
    expect(max.maxOver(4)).toBe(30); // seconds 200-203
    expect(max.maxOver(100)).toBe(30); // no further back than the seconds kept
    now = 206_000;
    expect(max.maxOver(3)).toBe(0); // seconds 204-206: nothing noted
    expect(max.maxOver(4)).toBe(12);
  });
});

describe("the bench's longest stall of its measured window", () => {
  const seconds = [
    [100, 300], // in the warm-up
    [101, 40], // the second the window began in: counts (a stall is noted when it ends)
    [105, 80],
    [109, 500], // after the window
  ];
  it('takes only the seconds the window touches', () => {
    expect(longestIn(seconds, 101_400, 108_000)).toBe(80);
    expect(longestIn(seconds, 101_400, 109_000)).toBe(500);
    expect(longestIn(seconds, -Infinity, 100_500)).toBe(300);
    expect(longestIn(seconds, 102_000, 104_999)).toBe(0);
  });

  it('passes over what is not a pair of numbers', () => {
    expect(longestIn([null, 'x', [1], ['101', 9], [101, Infinity], [101, 12]], 0, Infinity)).toBe(12);
  });

  it('per-second figures: a replica status of any shape yields only numbers inside the window (seeded)', () => {
    // stallsBySecond, leaderSilenceBySecond and fsyncBySecond come over a port: whatever a
    // replica (of another build, or broken) sends, the bench's watch must neither throw nor
    // take a figure that is not a number of the window.
    const prng = new Prng(testSeed('per-second figures fuzz'));
    const atoms: unknown[] = [0, -1, 1.5, 101, 102, 1e300, NaN, Infinity, -Infinity, '101', null, undefined, true, {}, [], [101], { 0: 101, 1: 5 }];
    const value = (depth: number): unknown => (depth > 0 && prng.chance(0.3) ? Array.from({ length: prng.int(5) }, () => value(depth - 1)) : atoms[prng.int(atoms.length)]);
    for (let i = 0; i < 5_000; i++) {
      const seconds = Array.from({ length: prng.int(8) }, () => value(2));
      const from_ms = 100_000 + prng.int(3_000);
      const until_ms = from_ms + prng.int(5_000);
      for (const [second, ms, split] of secondsIn(seconds, from_ms, until_ms)) {
        expect(Number.isFinite(second) && Number.isFinite(ms), JSON.stringify(seconds)).toBe(true);
        expect((second + 1) * 1000 > from_ms && second * 1000 <= until_ms).toBe(true);
        if (split !== undefined) expect(Number.isFinite(split.running_ms) && Number.isFinite(split.waitingForCpu_ms)).toBe(true);
      }
    }
  });

  it("keeps a stall's split of the event loop where two more numbers give it, and only then", () => {
    expect(secondsIn([[101, 70, 28, 44], [102, 30], [103, 60, 'x', 5], [104, 50, 10, Infinity]], 0, Infinity)).toEqual([
      [101, 70, { running_ms: 28, waitingForCpu_ms: 44 }],
      [102, 30, undefined],
      [103, 60, undefined],
      [104, 50, undefined],
    ]);
  });
});
