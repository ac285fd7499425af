import { describe, expect, it } from 'vitest';
import type { ProfileSummary } from './profile.js';
import { OUTSIDE, report, type SpineFigures, type VariantFigures } from './spine-report.js';

const LEVELS = [1, 32];

/** Figures where every variant has `rps` req/s and `p50` ms at every level, overridden per key. */
function figures(over: Record<string, Partial<VariantFigures>> = {}, extra: Partial<SpineFigures> = {}): SpineFigures {
  const rows: VariantFigures[] = [];
  for (const concurrency of LEVELS) {
    for (const key of ['a', 'a2', 'b', 'b2', 'c', 'd']) {
      rows.push({ key, label: `(${key})`, concurrency, rps: 1000, p50: 1, p99: 2, errors: 0, ...over[key] });
    }
  }
  return {
    figures: rows,
    relayed: 20_000,
    identityRequests: 0,
    identityTotal: 1,
    metadataByPath: { '/computeMetadata/v1/instance/service-accounts/default/identity': 1 },
    peakRss: { relay: 90 },
    startup: { relay: 300, passthrough: 250 },
    audiences: 1,
    options: { concurrency: LEVELS },
    ...extra,
  };
}

const row = (result: ReturnType<typeof report>, start: string) =>
  result.tables.flatMap((t) => t.rows).find((r) => r.figure?.startsWith(start));

describe('spine report', () => {
  it('says every aim was met when the relay keeps up with the floor', () => {
    const result = report(figures({ c: { rps: 900, p50: 2.5 } }));
    expect(row(result, 'c/b requests per second, concurrency 1')).toMatchObject({ value: '0.90', met: 'yes' });
    expect(row(result, 'p50 added by c over a, concurrency 1')).toMatchObject({ value: '1.50 ms', met: 'yes' });
    expect(row(result, 'metadata identity requests per 10,000')).toMatchObject({ value: '0.00', met: 'yes' });
    expect(row(result, 'peak RSS of the relay')).toMatchObject({ value: '90.0 MiB', met: 'yes' });
    expect(result.notes).toEqual(['Every aim was met in this run.']);
  });

  it('names each aim that was missed, with the figure and the aim', () => {
    const result = report(figures({ c: { rps: 700, p50: 4 } }, { identityTotal: 3, identityRequests: 2, peakRss: { relay: 151 } }));
    expect(result.notes).toEqual([
      'Aim not met: c/b requests per second, concurrency 1 is 0.70 (aim >= 0.8).',
      'Aim not met: c/b requests per second, concurrency 32 is 0.70 (aim >= 0.8).',
      'Aim not met: p50 added by c over a, concurrency 1 is 3.00 ms (aim <= 2 ms).',
      'Aim not met: metadata identity requests per 10,000 relayed calls (20000 relayed) is 1.00 (aim total = 1 (audiences)).',
      'Aim not met: peak RSS of the relay (VmHWM, default V8 heap limit) after 20000 relayed calls is 151.0 MiB (aim < 150 MiB).',
    ]);
  });

  it('names the node flags the relay ran with next to its RSS', () => {
    const result = report(figures({}, { options: { concurrency: LEVELS, relayFlags: ['--max-old-space-size=64'] } }));
    expect(row(result, 'peak RSS of the relay')!.figure).toBe('peak RSS of the relay (VmHWM, node --max-old-space-size=64) after 20000 relayed calls');
  });

  it('reports a missing RSS reading as not met rather than as a pass', () => {
    expect(row(report(figures({}, { peakRss: {} })), 'peak RSS of the relay')).toMatchObject({ value: '- MiB', met: 'NO' });
  });

  it('turns a CPU profile into per-request costs and names the costliest relay stage', () => {
    const summary: ProfileSummary = {
      busyMs: 1000,
      idleMs: 10,
      stages: [
        { name: OUTSIDE, ms: 700, share: 0.7 },
        { name: 'logging (shared/log.js)', ms: 200, share: 0.2 },
        { name: 'signature check (shared/verify/)', ms: 100, share: 0.1 },
      ],
      modules: [{ name: 'node undici (fetch)', ms: 400, share: 0.4 }],
      functions: [{ name: 'writev native', ms: 100, share: 0.1 }],
    };
    const result = report(figures({}, { profile: { summary, requests: 1000 } }));
    const stages = result.tables.find((t) => t.heading.startsWith('Relay CPU by stage'))!;
    expect(stages.heading).toContain('1000 us busy per request');
    expect(stages.rows[1]).toEqual({ stage: 'logging (shared/log.js)', share: '20.0%', 'us/req': '200.0' });
    expect(result.notes[0]).toContain('the costliest relay stage is logging (shared/log.js) at 200.0 us/req');
  });
});
