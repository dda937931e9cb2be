import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { testSeed } from '../helpers/seed.js';
import { lostPerCore_ms, parseProcStat, touchedByPause } from '../../src/bench/machine-pauses.js';
import { longestOutsidePauses } from '../../src/bench/stability.js';

const STAT = `cpu  131462 4227 32135 1265981 774 0 3586 0 0 0
cpu0 65919 2061 15568 634203 194 0 1073 0 0 0
cpu1 65543 2166 16567 631777 580 0 2513 0 0 0
intr 1234
`;

describe('machine pauses', () => {
  it("reads /proc/stat's aggregate line and counts the cores", () => {
    expect(parseProcStat(STAT)).toEqual({ ticks: [131462, 4227, 32135, 1265981, 774, 0, 3586, 0], cores: 2 });
    expect(parseProcStat('intr 1\n')).toBeUndefined();
    expect(parseProcStat('cpu  1 2 x 4 5 6 7 8\ncpu0 1\n')).toBeUndefined();
  });

  it('never throws on a mangled /proc/stat: it reads a whole aggregate line or nothing (seeded)', () => {
    const mangled = fc.oneof(
      fc.string({ maxLength: 300 }),
      fc.tuple(fc.nat({ max: STAT.length }), fc.nat({ max: 40 }), fc.string({ maxLength: 20 })).map(([at, cut, put]) => STAT.slice(0, at) + put + STAT.slice(at + cut)),
    );
    fc.assert(
      fc.property(mangled, (text) => {
        const read = parseProcStat(text);
        if (read === undefined) return;
        expect(read.ticks.length).toBeGreaterThanOrEqual(7);
        expect(read.ticks.every(Number.isFinite)).toBe(true);
        expect(read.cores).toBeGreaterThan(0);
        expect(Number.isFinite(lostPerCore_ms(read.ticks, read.ticks, 50, read.cores))).toBe(true);
      }),
      { seed: testSeed('never throws on a mangled /proc/stat'), numRuns: 500 },
    );
  });

  it('finds the time no state accounts for, steal included, per core', () => {
    const before = [100, 0, 20, 500, 0, 0, 0, 0];
    // 50 ms on 2 cores: 10 ticks of 10 ms in all, accounted to user, system and idle.
    expect(lostPerCore_ms(before, [104, 0, 21, 505, 0, 0, 0, 0], 50, 2)).toBe(0);
    // The sample taken at an all-replica stall: 130 ms, 7 ticks accounted of the 26.
    expect(lostPerCore_ms(before, [103, 0, 24, 500, 0, 0, 0, 0], 130, 2)).toBe(95);
    // Ticks a hypervisor reports as steal are lost too.
    expect(lostPerCore_ms(before, [103, 0, 21, 502, 0, 0, 0, 4], 50, 2)).toBe(20);
  });

  it('says which seconds of stalls a pause may explain', () => {
    const pause = { from_ms: 604_620, until_ms: 604_750, lost_ms: 95 };
    expect(touchedByPause(604, [pause])).toBe(true);
    expect(touchedByPause(603, [pause])).toBe(false);
    expect(touchedByPause(605, [pause])).toBe(false);
    // A stall that ends just after the pause, the processes waiting their turn for a core, is its.
    expect(touchedByPause(605, [{ ...pause, from_ms: 605_500 - 700, until_ms: 604_900 }])).toBe(true);
    expect(touchedByPause(604, [])).toBe(false);
  });

  it("leaves the paused seconds out of the second figure only (stalls and leader silences alike)", () => {
    const seconds = new Map([
      [600, 62],
      [604, 155],
      [610, 74],
    ]);
    const pause = { from_ms: 604_620, until_ms: 604_750, lost_ms: 95 };
    expect(longestOutsidePauses(seconds, 0, [pause])).toEqual({ max_ms: 155, outsidePauses_ms: 74 });
    expect(longestOutsidePauses(seconds, 0, [])).toEqual({ max_ms: 155, outsidePauses_ms: 155 });
    // A replica of an older build reports no seconds: its figure counts in both.
    expect(longestOutsidePauses(seconds, 90, [pause])).toEqual({ max_ms: 155, outsidePauses_ms: 90 });
  });
});
