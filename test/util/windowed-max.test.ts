import { describe, expect, it } from 'vitest';
import { WindowedMax } from '../../src/util/windowed-max.js';

describe('WindowedMax', () => {
  it('keeps the largest value of the current and the previous window, and forgets older ones', () => {
    let now = 0;
    const max = new WindowedMax(10, () => now);
    max.note(5);
    max.note(3);
    expect(max.value()).toBe(5);
    now = 12; // the next window: the previous one still counts
    max.note(2);
    expect(max.value()).toBe(5);
    now = 21; // two windows on: only the 2 of the window before
    expect(max.value()).toBe(2);
    now = 45; // windows with nothing noted in them: nothing remembered
    expect(max.value()).toBe(0);
    max.note(7);
    expect(max.value()).toBe(7);
  });
});
