import { describe, expect, it } from 'vitest';
import { CronError, cronMatches, parseCron } from '../../shared/schedule/cron.js';
import { tickKey } from '../../shared/schedule/schedule.js';

describe('cron matcher', () => {
  it.each([
    ['*/15 * * * *', '2026-03-02T10:30:00Z', 'UTC', true],
    ['*/15 * * * *', '2026-03-02T10:31:00Z', 'UTC', false],
    ['0 9 * * MON-FRI', '2026-03-02T09:00:00Z', 'UTC', true], // a Monday
    ['0 9 * * MON-FRI', '2026-03-01T09:00:00Z', 'UTC', false], // a Sunday
    ['0 9 * * 7', '2026-03-01T09:00:00Z', 'UTC', true], // 7 is Sunday too
    ['0 3 * * *', '2026-07-01T01:00:00Z', 'Europe/Paris', true], // 03:00 CEST
    ['0 3 * * *', '2026-07-01T03:00:00Z', 'Europe/Paris', false],
    ['0 0 1 JAN *', '2026-01-01T00:00:59Z', 'UTC', true],
    ['30 12 13 * FRI', '2026-03-13T12:30:00Z', 'UTC', true], // day 13 or Friday: both fields restricted means either
    ['30 12 13 * FRI', '2026-03-06T12:30:00Z', 'UTC', true], // a Friday, not the 13th
    ['30 12 13 * FRI', '2026-03-07T12:30:00Z', 'UTC', false],
    ['0-10/5 8-9 * * *', '2026-03-07T09:10:00Z', 'UTC', true],
  ])('"%s" at %s in %s matches: %s', (cron, at, zone, expected) => {
    expect(cronMatches(parseCron(cron), new Date(at), zone)).toBe(expected);
  });

  it.each([
    ['* * * *', /expected 5 fields/],
    ['60 * * * *', /minute: expected 0-59/],
    ['* * * FOO *', /month/],
    ['*/0 * * * *', /positive step/],
    ['5-1 * * * *', /backwards/],
  ])('rejects "%s" with a message naming the problem', (cron, message) => {
    expect(() => parseCron(cron)).toThrow(CronError);
    expect(() => parseCron(cron)).toThrow(message);
  });

  it('gives every tick in the same minute the same key, so a tick fired twice is recognised', () => {
    expect(tickKey('n', new Date('2026-03-02T10:30:05Z'))).toBe(tickKey('n', new Date('2026-03-02T10:30:59Z')));
    expect(tickKey('n', new Date('2026-03-02T10:30:05Z'))).not.toBe(tickKey('n', new Date('2026-03-02T10:31:00Z')));
  });
});
