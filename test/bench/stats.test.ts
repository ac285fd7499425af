import { describe, expect, it } from 'vitest';
import { fmt, median, percentile, summarize } from './stats.js';

describe('bench statistics', () => {
  it.each([
    [50, 5],
    [90, 9],
    [99, 10],
    [100, 10],
    [1, 1],
  ])('takes the %i-th percentile of 1..10 by nearest rank as %i', (p, expected) => {
    expect(percentile([10, 1, 9, 2, 8, 3, 7, 4, 6, 5], p)).toBe(expected);
  });

  it('takes the median of an even count as the mean of the middle two', () => {
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([3, 1, 2])).toBe(2);
  });

  it('answers NaN rather than a number for no values', () => {
    expect(percentile([], 50)).toBeNaN();
    expect(median([])).toBeNaN();
    expect(summarize([]).p99).toBeNaN();
  });

  it("summarizes latencies without reordering the caller's array", () => {
    const values = new Float64Array([3, 1, 2]);
    expect(summarize(values)).toEqual({ count: 3, p50: 2, p90: 3, p99: 3, max: 3 });
    expect([...values]).toEqual([3, 1, 2]);
  });

  it('formats figures with fewer decimals as they grow, and a dash for missing ones', () => {
    expect([fmt(0.1234), fmt(12.34), fmt(1234.5), fmt(undefined), fmt(Number.NaN)]).toEqual(['0.12', '12.3', '1235', '-', '-']);
  });
});
