/**
 * The text `npm start` prints once the local stack answers, built from the
 * config in use: where everything listens, then one `send` line per route.
 */
import { relative } from 'node:path';
import type { RelayConfig } from '../../shared/config/schema.js';

export interface BannerInput {
  config: RelayConfig;
  configPath: string;
  /** Directory paths are shown relative to. */
  root: string;
  relayUrl: string;
  pubsubUrl?: string;
  emulatorHost?: string;
  metadata: { url: string; host: string };
  target: { url: string; audience: string };
  stateFile: string;
  /** Further `label url` lines (e.g. the inspector), printed after the emulators. */
  extra?: { label: string; url: string }[];
}

/** The banner, as lines. */
export function bannerLines(b: BannerInput): string[] {
  const routes = Object.keys(b.config.routes);
  const schedules = Object.entries(b.config.schedules);
  const rows: [string, string][] = [
    ['webhook function', `${b.relayUrl}   POST ${routes.map((r) => `/${r}`).join(', ') || '(no routes)'}; GET /healthz`],
    [
      'pubsub function',
      b.pubsubUrl ? `${b.pubsubUrl}   pushed from topic ${b.config.pubsub.deliveryTopic}` : '(not running: no Pub/Sub emulator)',
    ],
    [
      'Pub/Sub emulator',
      b.emulatorHost ? `${b.emulatorHost}   (PUBSUB_EMULATOR_HOST)` : 'unavailable: async routes answer 503, schedules do not run',
    ],
    ['metadata-server emulator', `${b.metadata.url}   (GCE_METADATA_HOST=${b.metadata.host})`],
    ['demo private target', `${b.target.url}   (accepts only ID tokens for ${b.target.audience})`],
    ...(b.extra ?? []).map((e): [string, string] => [e.label, e.url]),
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  const lines = [
    '',
    `run-relay is running on loopback, with ${relative(b.root, b.configPath) || b.configPath} (${routes.length} route${routes.length === 1 ? '' : 's'}).`,
    '',
    ...rows.map(([label, value]) => `  ${label.padEnd(width)}   ${value}`),
    '',
  ];
  if (routes.length > 0) {
    lines.push('Send a signed event to a route (--body FILE|-, --event TYPE, --header K:V; --curl prints the curl command instead):', '');
    for (const name of routes)
      lines.push(
        `  npm run relay -- send ${name}${b.config.routes[name]!.mode === 'async' ? '      # async: 202, then delivered through Pub/Sub' : ''}`,
      );
    lines.push('');
  }
  if (b.emulatorHost) {
    for (const [name, s] of schedules)
      lines.push(`Schedule "${name}" runs on "${s.cron}" (${s.timeZone}); now: npm run relay -- schedule run ${name}`);
    lines.push('Dead letters: npm run relay -- dlq list (then dlq show ID, dlq replay ID)');
  }
  lines.push(
    `The CLI finds this stack through ${relative(b.root, b.stateFile)}: no environment prefix needed.`,
    'Ctrl-C stops everything.',
    '',
  );
  return lines;
}
