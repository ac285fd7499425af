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
    const result = report(
      figures(
        { b2: { cpuUsPerRequest: 1000 }, c: { rps: 900, p50: 1.5, cpuUsPerRequest: 1200 } },
        { coldStart: { runs: 7, webhookMs: 390, helloMs: 300, ratio: 1.3, webhookRuns: [], helloRuns: [] } },
      ),
    );
    expect(row(result, '(c)/(b2) requests per second, concurrency 1')).toMatchObject({ value: '0.90', met: 'met' });
    expect(row(result, 'CPU per relayed request')).toMatchObject({ value: '1200 vs 1000 us (1.20x)', met: 'met' });
    expect(row(result, 'p50 added by (c) over direct calls (a), concurrency 1')).toMatchObject({ value: '0.50 ms', met: 'met' });
    expect(row(result, 'cold start')).toMatchObject({ value: '1.30x (390.0 vs 300.0 ms)', met: 'met' });
    expect(row(result, 'peak RSS of the relay')).toMatchObject({ value: '90.0 MiB', met: 'met' });
    expect(result.notes).toEqual(['Every aim was met in this run.']);
  });

  it('names each aim that was missed, with the figure and the aim', () => {
    const result = report(
      figures({ b2: { cpuUsPerRequest: 1000 }, c: { rps: 700, p50: 3, cpuUsPerRequest: 2000 } }, { peakRss: { relay: 151 } }),
    );
    expect(result.notes).toEqual([
      'Aim not met: (c)/(b2) requests per second, concurrency 1 is 0.70 (aim >= 0.9).',
      'Aim not met: (c)/(b2) requests per second, concurrency 32 is 0.70 (aim >= 0.9).',
      'Aim not met: CPU per relayed request, (c) vs (b2), concurrency 32 is 2000 vs 1000 us (2.00x) (aim <= 1.25x (b2)).',
      'Aim not met: p50 added by (c) over direct calls (a), concurrency 1 is 2.00 ms (aim <= 1 ms).',
      'Aim not met: cold start to the first relayed answer vs a hello function is not measured (aim <= 1.3x).',
      "Aim not met: peak RSS of the relay under load (VmHWM, Node's default heap, 20000 relayed calls) is 151.0 MiB (aim <= 150 MiB).",
    ]);
  });

  it('names the node flags the relay ran with next to its RSS', () => {
    const result = report(figures({}, { options: { concurrency: LEVELS, relayFlags: ['--max-old-space-size=64'] } }));
    expect(row(result, 'peak RSS of the relay')).toMatchObject({
      figure: 'peak RSS of the relay under load (VmHWM, node --max-old-space-size=64, 20000 relayed calls)',
      met: 'NOT MET',
    });
  });

  it('reports a missing RSS reading as not met rather than as a pass', () => {
    expect(row(report(figures({}, { peakRss: {} })), 'peak RSS of the relay')).toMatchObject({ value: '- MiB', met: 'NOT MET' });
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
