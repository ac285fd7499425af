/**
 * The local inspector in a real browser: headless Chromium (Debian's
 * `chromium`, driven over the DevTools protocol by test/support/chromium.ts)
 * keeps the page open while webhooks go through a real relay stack on
 * loopback (Functions Framework servers, token-verifying targets, the Pub/Sub
 * emulator), and the test reads what the page shows. Nothing here skips: a
 * missing Chromium or Pub/Sub emulator fails the suite, saying which.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendJson } from '../emulators/http-util.js';
import type { MetadataServer } from '../emulators/metadata-server.js';
import { echo } from '../emulators/private-target.js';
import { PROJECT, startAsyncStack, type AsyncStack } from '../support/async-stack.js';
import { launchChromium, type Browser, type Page } from '../support/chromium.js';
import { startPubSubEmulator, type PubSubEmulator } from '../support/pubsub-emulator.js';
import { githubSignature } from '../support/sign.js';
import { useMetadataServer } from '../support/stack.js';
import { pubSubPublisher, type Publisher } from '../../shared/pubsub/publisher.js';
import { deadLetterInbox } from '../../deploy/local/inspector/dead-letters.js';
import { sendAgain } from '../../deploy/local/inspector/send-again.js';
import { startInspector, type Inspector } from '../../deploy/local/inspector/server.js';

const GITHUB_SECRET = 'inspector-github-secret';
const PARTNER_SECRET = 'inspector-partner-secret';
const github = { scheme: 'github', secretEnv: 'GITHUB_WEBHOOK_SECRET' };
const fastRetry = { retries: 1, minDelayMs: 50, maxDelayMs: 100 };

let emulator: PubSubEmulator | undefined;
let metadata: MetadataServer;
let stack: AsyncStack;
let inspector: Inspector;
let publisher: Publisher;
let browser: Browser;
let page: Page;
let shots: string;
/** Whether the picky target refuses (422) async deliveries; turned off before the replay. */
let refusing = true;

beforeAll(async () => {
  // Both fail loudly when missing: this suite never skips.
  browser = await launchChromium();
  emulator = await startPubSubEmulator('the inspector in a browser (test/integration/inspector.test.ts)');
  if (!emulator)
    throw new Error('The Pub/Sub emulator is unavailable (see above): the inspector suite needs it for async delivery and dead letters.');
  metadata = await useMetadataServer();
  inspector = await startInspector({
    send: (request) =>
      sendAgain(request, {
        relayUrl: stack.webhookUrl,
        config: stack.runtime.loaded.config,
        secret: (name) => stack.runtime.loaded.secrets.get(name),
      }),
  });
  stack = await startAsyncStack({
    metadata,
    env: { GITHUB_WEBHOOK_SECRET: GITHUB_SECRET, PARTNER_SECRET },
    logTraffic: true,
    onLog: (line) => inspector.ingest(line),
    targets: {
      svc: { behaviour: echo, config: { retry: fastRetry } },
      picky: {
        behaviour: (req, res) => (refusing ? sendJson(res, 422, { error: 'not today' }) : echo(req, res, 0)),
        config: { retry: fastRetry },
      },
    },
    routes: {
      gh: { verify: github, forward: [{ target: 'svc', path: '/hooks/github' }] },
      'gh-async': { verify: github, mode: 'async', forward: [{ target: 'picky', path: '/hooks/async' }] },
      partner: { verify: { scheme: 'bearer', secretEnv: 'PARTNER_SECRET' }, forward: [{ target: 'svc', path: '/hooks/partner' }] },
    },
  });
  publisher = pubSubPublisher({ projectId: PROJECT });
  inspector.useDeadLetters(deadLetterInbox({ puller: stack.deadLetters, publisher, defaultTopic: stack.topics.delivery }));
  page = await browser.newPage();
  await page.goto(inspector.url);
  await page.waitFor(`document.querySelector('[data-testid=live]').textContent === 'live'`, 'the live indicator (event stream open)');
  shots = await mkdtemp(join(tmpdir(), 'inspector-shots-'));
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await inspector?.close();
  await stack?.close();
  await publisher?.close();
  await metadata?.close();
  await emulator?.close();
  if (shots) await rm(shots, { recursive: true, force: true });
});

function postGithub(route: string, body: string, delivery: string, secret = GITHUB_SECRET) {
  return fetch(`${stack.webhookUrl}/${route}`, {
    method: 'POST',
    body,
    headers: {
      'content-type': 'application/json',
      'x-github-event': 'push',
      'x-github-delivery': delivery,
      'x-hub-signature-256': githubSignature(secret, body),
    },
  });
}

/** The request cards the page shows, newest first, as plain data. */
const requests = () =>
  page.evaluate<
    {
      route: string;
      verdict: string;
      status: string;
      text: string;
      deliveries: { target: string; state: string; status: string; attempts: string; key: string }[];
    }[]
  >(`
  [...document.querySelectorAll('[data-testid=request]')].map((r) => ({
    route: r.dataset.route, verdict: r.dataset.verdict, status: r.dataset.status, text: r.textContent,
    deliveries: [...r.querySelectorAll('[data-testid=delivery]')].map((d) => ({
      target: d.dataset.target, state: d.dataset.state,
      status: d.querySelector('[data-testid=delivery-status]').textContent,
      attempts: d.querySelector('[data-testid=delivery-attempts]').textContent,
      key: d.querySelector('[data-testid=delivery-key]').textContent,
    })),
  }))`);

describe('the local inspector page in headless Chromium', () => {
  it('shows each request live with its verdict, and each delivery with target, status, attempts and idempotency key', async () => {
    expect((await postGithub('gh', '{"hello":"inspector"}', 'delivery-sync-1')).status).toBe(200);
    expect((await postGithub('gh', '{"hello":"forged"}', 'delivery-forged', 'not-the-secret')).status).toBe(401);
    await page.waitFor(`document.querySelectorAll('[data-testid=request]').length >= 2`, 'two request cards');
    const [refused, forwarded] = await requests();
    expect(refused).toMatchObject({ route: 'gh', verdict: 'refused', status: '401', deliveries: [] });
    expect(refused!.text).toContain('signature_mismatch');
    expect(forwarded).toMatchObject({ route: 'gh', verdict: 'forwarded', status: '200' });
    expect(forwarded!.deliveries).toEqual([{ target: 'svc', state: 'delivered', status: '200', attempts: '1', key: 'delivery-sync-1' }]);
    // The body preview and the headers sent are on the page (folded).
    const sent = await page.evaluate<string>(
      `document.querySelector('[data-testid=request][data-verdict=forwarded] [data-testid=sent-headers]').textContent`,
    );
    expect(sent).toContain('idempotency-key: delivery-sync-1');
    expect(
      await page.evaluate<string>(
        `document.querySelector('[data-testid=request][data-verdict=forwarded] [data-testid=sent-body]').textContent`,
      ),
    ).toBe('{"hello":"inspector"}');
  });

  it("masks the sender's bearer secret and the relay's ID token in every header it shows", async () => {
    const res = await fetch(`${stack.webhookUrl}/partner`, {
      method: 'POST',
      body: 'ping',
      headers: { authorization: `Bearer ${PARTNER_SECRET}`, 'content-type': 'text/plain' },
    });
    expect(res.status).toBe(200);
    await page.waitFor(
      `document.querySelector('[data-testid=request][data-route=partner] [data-testid=delivery][data-state=delivered]')`,
      'the partner request delivered',
    );
    const card = await page.evaluate<{ request: string; sent: string }>(`(() => {
      const r = document.querySelector('[data-testid=request][data-route=partner]');
      return { request: r.querySelector('[data-testid=request-headers]').textContent, sent: r.querySelector('[data-testid=sent-headers]').textContent };
    })()`);
    expect(card.request).toContain('authorization: Bearer [masked]');
    expect(card.sent).toContain('authorization: Bearer [ID token, masked]');
    const everything = await page.evaluate<string>(
      `(async () => document.body.innerHTML + JSON.stringify(await (await fetch('/api/state')).json()))()`,
    );
    expect(everything).not.toContain(PARTNER_SECRET);
    expect(everything).not.toMatch(/eyJ[A-Za-z0-9_-]{5,}\./); // no JWT anywhere
  });

  it('lists a delivery the target refused in the dead-letter inbox, and replays it from the page', async () => {
    expect((await postGithub('gh-async', '{"parked":true}', 'delivery-async-1')).status).toBe(202);
    await page.waitFor(
      `document.querySelector('[data-testid=request][data-route=gh-async] [data-testid=delivery][data-state=dead-lettered]')`,
      'the async delivery dead-lettered',
      30_000,
    );
    await page.waitFor(`document.querySelector('[data-testid=dead-letter]')`, 'a row in the dead-letter inbox', 30_000);
    const row = await page.evaluate<string>(`document.querySelector('[data-testid=dead-letter]').textContent`);
    expect(row).toContain('target_rejected');
    expect(row).toContain('delivery-async-1:picky');
    expect(row).toContain('{"parked":true}');
    refusing = false;
    await page.click('[data-testid=dead-letter] [data-testid=replay]');
    await page.waitFor(
      `document.querySelector('[data-testid=request][data-route=gh-async] [data-testid=delivery][data-state=delivered]')`,
      'the replayed delivery delivered',
      30_000,
    );
    await page.waitFor(`document.querySelector('[data-testid=no-dead-letters]')`, 'an empty dead-letter inbox', 15_000);
    expect(await page.evaluate<string>(`document.querySelector('[data-testid=dead-letters]').textContent`)).toBe('Nothing parked.');
    const [async] = (await requests()).filter((r) => r.route === 'gh-async');
    expect(async).toMatchObject({ verdict: 'accepted', status: '202' });
    // One delivery row, across the refusal and the replay: both attempts counted under the same key.
    expect(async!.deliveries).toEqual([
      { target: 'picky', state: 'delivered', status: '200', attempts: '2', key: 'delivery-async-1:picky' },
    ]);
  }, 90_000);

  it('sends a past request again, signed afresh, and the new request appears delivered', async () => {
    const before = stack.targets.svc!.received.length;
    const selector = `[data-testid=request][data-route=gh][data-verdict=forwarded] [data-testid=send-again]`;
    await page.click(selector);
    await page.waitFor(
      `document.querySelector('[data-testid=send-again-note]')?.textContent.includes('relay answered 200')`,
      'the send-again answer',
    );
    await page.waitFor(
      `document.querySelectorAll('[data-testid=request][data-route=gh][data-verdict=forwarded]').length === 2`,
      'a second forwarded gh request',
    );
    const received = stack.targets.svc!.received.slice(before);
    expect(received).toHaveLength(1);
    expect(received[0]!.body.toString()).toBe('{"hello":"inspector"}');
    // A fresh delivery id, so the relay's duplicate check lets it through.
    expect(received[0]!.headers['idempotency-key']).not.toBe('delivery-sync-1');
  });

  it('takes a screenshot of the page, a non-trivial PNG', async () => {
    await page.evaluate('window.scrollTo(0, 0)');
    const png = await page.screenshot();
    const file = join(shots, 'inspector.png');
    await writeFile(file, png);
    const bytes = await readFile(file);
    expect(bytes.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
    expect(bytes.subarray(12, 16).toString('ascii')).toBe('IHDR');
    expect([bytes.readUInt32BE(16), bytes.readUInt32BE(20)]).toEqual([1280, 900]);
    // A blank 1280x900 page compresses to a few KB; rows, text and colours take far more.
    expect(bytes.length).toBeGreaterThan(20_000);
  });
});
