import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../shared/config/load.js';
import { bannerLines } from '../../deploy/local/banner.js';

const config = validateConfig({
  targets: { shop: { url: 'http://127.0.0.1:9000' } },
  routes: {
    stripe: { verify: { scheme: 'stripe', secretEnv: 'STRIPE_SECRET' }, forward: [{ target: 'shop' }] },
    orders: { mode: 'async', verify: { scheme: 'shopify', secretEnv: 'SHOPIFY_SECRET' }, forward: [{ target: 'shop' }] },
  },
  schedules: { nightly: { cron: '0 3 * * *', timeZone: 'Europe/Paris', route: 'orders' } },
});
const base = {
  config,
  configPath: '/repo/my.config.yaml',
  root: '/repo',
  relayUrl: 'http://127.0.0.1:8080',
  metadata: { url: 'http://127.0.0.1:8081', host: '127.0.0.1:8081' },
  target: { url: 'http://127.0.0.1:8082', audience: 'http://127.0.0.1:8082' },
  stateFile: '/repo/.relay-local.json',
};

describe('the npm start banner', () => {
  it('is built from the config in use: its name, its routes, one send line per route', () => {
    const text = bannerLines({ ...base, pubsubUrl: 'http://127.0.0.1:8083', emulatorHost: '127.0.0.1:8085' }).join('\n');
    expect(text).toContain('with my.config.yaml (2 routes)');
    expect(text).toContain('POST /stripe, /orders; GET /healthz');
    const sends = text.split('\n').filter((l) => l.includes('npm run relay -- send'));
    expect(sends.map((l) => l.trim().split(/\s+/)[5])).toEqual(['stripe', 'orders']);
    expect(text).toContain('Schedule "nightly" runs on "0 3 * * *" (Europe/Paris); now: npm run relay -- schedule run nightly');
    expect(text).not.toContain('github');
  });

  it('says what does not run without the Pub/Sub emulator, and prints extra lines such as the inspector', () => {
    const text = bannerLines({ ...base, extra: [{ label: 'inspector', url: 'http://127.0.0.1:8084' }] }).join('\n');
    expect(text).toContain('unavailable: async routes answer 503, schedules do not run');
    expect(text).toMatch(/\n {2}inspector +http:\/\/127\.0\.0\.1:8084\n/);
    expect(text).not.toContain('dlq list');
  });
});
