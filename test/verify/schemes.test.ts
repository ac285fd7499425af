/**
 * Every HMAC-style scheme against signatures made by the sender's own library
 * (or, where none is published, by the sender's documented algorithm), with
 * the same table of attacks: tampered body, tampered timestamp, wrong secret,
 * rotated secret, expired and future timestamps, missing and malformed headers.
 */
import { createHash, createHmac } from 'node:crypto';
import { sign as octokitSign } from '@octokit/webhooks-methods';
import Stripe from 'stripe';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { Webhook as SvixWebhook } from 'svix';
import twilioLib from 'twilio';
import { describe, expect, it } from 'vitest';
import { outcome, verifierFor } from '../support/verifiers.js';

const NOW = 1_760_000_000_000;
const nowS = NOW / 1000;
const OLD = 'old-secret-value-0001';
const NEW = 'new-secret-value-0002';
const WRONG = 'wrong-secret-value-003';
const b64secret = (s: string) => Buffer.from(s).toString('base64');
const stripeClient = new Stripe('sk_test_unused');

interface Case {
  scheme: string;
  options: Record<string, unknown>;
  contentType: string;
  body: string;
  /** Headers (and query) a sender with `secret` would send at `ts` (seconds). */
  sign(secret: string, body: string, ts: number): Promise<{ headers: Record<string, string>; query?: string }>;
  /** Header that carries the timestamp, when the scheme signs one. */
  timestampHeader?: string;
  deliveryId?: string;
  eventType?: string;
}

const cases: Case[] = [
  {
    scheme: 'github',
    options: { scheme: 'github', secretEnv: ['NEW', 'OLD'] },
    contentType: 'application/json',
    body: '{"action":"opened"}',
    sign: async (secret, body) => ({
      headers: { 'x-hub-signature-256': await octokitSign(secret, body), 'x-github-delivery': 'gh-1', 'x-github-event': 'issues' },
    }),
    deliveryId: 'gh-1',
    eventType: 'issues',
  },
  {
    scheme: 'stripe',
    options: { scheme: 'stripe', secretEnv: ['NEW', 'OLD'] },
    contentType: 'application/json',
    body: '{"id":"evt_1","type":"invoice.paid","data":{}}',
    sign: async (secret, body, ts) => ({
      headers: { 'stripe-signature': stripeClient.webhooks.generateTestHeaderString({ payload: body, secret, timestamp: ts }) },
    }),
    timestampHeader: 'stripe-signature',
    deliveryId: 'evt_1',
    eventType: 'invoice.paid',
  },
  {
    scheme: 'slack',
    options: { scheme: 'slack', secretEnv: ['NEW', 'OLD'] },
    contentType: 'application/json',
    body: '{"type":"event_callback","event_id":"Ev1","event":{"type":"app_mention"}}',
    // Slack publishes no signing library; this is its documented algorithm.
    sign: async (secret, body, ts) => ({
      headers: {
        'x-slack-signature': 'v0=' + createHmac('sha256', secret).update(`v0:${ts}:${body}`).digest('hex'),
        'x-slack-request-timestamp': String(ts),
      },
    }),
    timestampHeader: 'x-slack-request-timestamp',
    deliveryId: 'Ev1',
    eventType: 'app_mention',
  },
  {
    scheme: 'shopify',
    options: { scheme: 'shopify', secretEnv: ['NEW', 'OLD'] },
    contentType: 'application/json',
    body: '{"id":1,"total":"9.99"}',
    sign: async (secret, body) => ({
      headers: {
        'x-shopify-hmac-sha256': createHmac('sha256', secret).update(body).digest('base64'),
        'x-shopify-event-id': 'shop-ev-1',
        'x-shopify-topic': 'orders/create',
      },
    }),
    deliveryId: 'shop-ev-1',
    eventType: 'orders/create',
  },
  {
    scheme: 'standard-webhooks',
    options: { scheme: 'standard-webhooks', secretEnv: ['NEW_WHSEC', 'OLD_WHSEC'] },
    contentType: 'application/json',
    body: '{"type":"user.created","data":{"id":"u1"}}',
    sign: async (secret, body, ts) => ({
      headers: {
        'webhook-id': 'msg_1',
        'webhook-timestamp': String(ts),
        'webhook-signature': new StandardWebhook(b64secret(secret)).sign('msg_1', new Date(ts * 1000), body),
      },
    }),
    timestampHeader: 'webhook-timestamp',
    deliveryId: 'msg_1',
    eventType: 'user.created',
  },
  {
    scheme: 'standard-webhooks (Svix library, svix-* headers)',
    options: { scheme: 'standard-webhooks', secretEnv: ['NEW_WHSEC', 'OLD_WHSEC'] },
    contentType: 'application/json',
    body: '{"type":"invoice.created"}',
    sign: async (secret, body, ts) => ({
      headers: {
        'svix-id': 'msg_2',
        'svix-timestamp': String(ts),
        'svix-signature': new SvixWebhook('whsec_' + b64secret(secret)).sign('msg_2', new Date(ts * 1000), body),
      },
    }),
    timestampHeader: 'svix-timestamp',
    deliveryId: 'msg_2',
    eventType: 'invoice.created',
  },
  {
    scheme: 'twilio',
    options: { scheme: 'twilio', secretEnv: ['NEW', 'OLD'], publicUrl: 'https://relay.example.com/twilio' },
    contentType: 'application/x-www-form-urlencoded',
    body: 'To=%2B15551230000&From=%2B15559870000&Body=hello+world&MessageSid=SM1',
    sign: async (secret, body) => ({
      headers: {
        'x-twilio-signature': twilioLib.getExpectedTwilioSignature(
          secret,
          'https://relay.example.com/twilio?tenant=a',
          Object.fromEntries(new URLSearchParams(body)),
        ),
        'i-twilio-idempotency-token': 'tw-1',
      },
      query: '?tenant=a',
    }),
    deliveryId: 'tw-1',
  },
  {
    scheme: 'zoom',
    options: { scheme: 'zoom', secretEnv: ['NEW', 'OLD'] },
    contentType: 'application/json',
    body: '{"event":"meeting.started","payload":{"object":{"id":"1"}}}',
    sign: async (secret, body, ts) => ({
      headers: {
        'x-zm-signature': 'v0=' + createHmac('sha256', secret).update(`v0:${ts}:${body}`).digest('hex'),
        'x-zm-request-timestamp': String(ts),
      },
    }),
    timestampHeader: 'x-zm-request-timestamp',
    eventType: 'meeting.started',
  },
  {
    scheme: 'hmac (sha512, base64, prefix, timestamp template)',
    options: {
      scheme: 'hmac',
      secretEnv: ['NEW', 'OLD'],
      header: 'X-Acme-Signature',
      algorithm: 'sha512',
      encoding: 'base64',
      prefix: 'v1=',
      timestampHeader: 'X-Acme-Time',
      template: '{id}:{timestamp}:{body}',
      deliveryIdHeader: 'x-acme-id',
      eventTypeHeader: 'x-acme-event',
    },
    contentType: 'application/json',
    body: '{"ok":true}',
    sign: async (secret, body, ts) => ({
      headers: {
        'x-acme-signature': 'v1=' + createHmac('sha512', secret).update(`a-1:${ts}:${body}`).digest('base64'),
        'x-acme-time': String(ts),
        'x-acme-id': 'a-1',
        'x-acme-event': 'thing.done',
      },
    }),
    timestampHeader: 'x-acme-time',
    deliveryId: 'a-1',
    eventType: 'thing.done',
  },
];

const secretsFor = { NEW, OLD, NEW_WHSEC: 'whsec_' + b64secret(NEW), OLD_WHSEC: 'whsec_' + b64secret(OLD) };

describe.each(cases)('$scheme', (c) => {
  const verifier = verifierFor(c.options, secretsFor);
  const run = async (
    secret: string,
    opts: {
      body?: string;
      signedBody?: string;
      ts?: number;
      signedTs?: number;
      now?: number;
      mutate?: (h: Record<string, string>) => void;
    } = {},
  ) => {
    const signed = await c.sign(secret, opts.signedBody ?? c.body, opts.signedTs ?? opts.ts ?? nowS);
    const headers: Record<string, string> = { 'content-type': c.contentType, ...signed.headers };
    if (opts.ts !== undefined && opts.signedTs !== undefined && c.timestampHeader) {
      headers[c.timestampHeader] = headers[c.timestampHeader]!.replace(String(opts.signedTs), String(opts.ts));
    }
    opts.mutate?.(headers);
    return outcome(verifier, { headers, rawBody: opts.body ?? c.body, now: opts.now ?? NOW, query: signed.query });
  };

  it('accepts a signature made with the current secret and reports the delivery id and event type', async () => {
    const result = await run(NEW);
    expect(result.ok).toBe(true);
    expect(result.ok && result.deliveryId).toBe(c.deliveryId ?? undefined);
    expect(result.ok && result.eventType).toBe(c.eventType ?? undefined);
  });

  it('accepts a signature made with the previous secret while both are listed (rotation)', async () => {
    expect((await run(OLD)).ok).toBe(true);
  });

  it('refuses a signature made with a secret that is not listed', async () => {
    expect(await run(WRONG)).toMatchObject({ ok: false, status: 401, code: 'unauthorized' });
  });

  it('refuses a body changed after signing', async () => {
    expect(await run(NEW, { body: c.body.replace(/.$/, ' }') })).toMatchObject({ ok: false, status: 401, code: 'unauthorized' });
  });

  it('refuses a request without its signature header', async () => {
    const signatureHeaders = [
      'x-hub-signature-256',
      'stripe-signature',
      'x-slack-signature',
      'x-shopify-hmac-sha256',
      'webhook-signature',
      'svix-signature',
      'x-twilio-signature',
      'x-zm-signature',
      'x-acme-signature',
    ];
    const result = await run(NEW, { mutate: (h) => signatureHeaders.forEach((n) => delete h[n]) });
    expect(result).toMatchObject({ ok: false, status: 401, code: 'unauthorized', message: expect.stringMatching(/^Missing/) });
  });

  it('never names the expected signature in its error', async () => {
    const result = await run(WRONG);
    const good = await c.sign(NEW, c.body, nowS);
    for (const value of Object.values(good.headers)) {
      if (value.length > 16) expect(JSON.stringify(result)).not.toContain(value.replace(/^(sha256=|v0=|v1,|v1=)/, '').slice(0, 16));
    }
  });

  if (c.timestampHeader) {
    it('refuses a timestamp changed after signing', async () => {
      expect(await run(NEW, { signedTs: nowS, ts: nowS - 1 })).toMatchObject({ ok: false, code: 'unauthorized' });
    });

    it('refuses a correctly signed timestamp older than the tolerance with timestamp_out_of_tolerance', async () => {
      expect(await run(NEW, { ts: nowS - 301 })).toMatchObject({ ok: false, status: 401, code: 'timestamp_out_of_tolerance' });
    });

    it('refuses a correctly signed timestamp further in the future than the tolerance', async () => {
      expect(await run(NEW, { ts: nowS + 301 })).toMatchObject({ ok: false, status: 401, code: 'timestamp_out_of_tolerance' });
    });

    it('accepts a timestamp just inside the tolerance, in both directions', async () => {
      expect((await run(NEW, { ts: nowS - 299 })).ok).toBe(true);
      expect((await run(NEW, { ts: nowS + 299 })).ok).toBe(true);
    });
  }
});

describe('published test vectors', () => {
  it("accepts GitHub's documented example signature", async () => {
    const verifier = verifierFor({ scheme: 'github', secretEnv: 'S' }, { S: "It's a Secret to Everybody" });
    const headers = { 'x-hub-signature-256': 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17' };
    expect((await outcome(verifier, { headers, rawBody: 'Hello, World!' })).ok).toBe(true);
    expect((await outcome(verifier, { headers, rawBody: 'Hello, World?' })).ok).toBe(false);
  });
});

describe('stripe specifics', () => {
  const verifier = verifierFor({ scheme: 'stripe', secretEnv: 'S', toleranceSeconds: 60 }, { S: 'whsec_test' });
  const body = '{"id":"evt_9","type":"charge.succeeded"}';
  const v1 = (secret: string, ts: number) => createHmac('sha256', secret).update(`${ts}.${body}`).digest('hex');

  it('accepts a header carrying several v1 signatures when any one matches', async () => {
    const header = `t=${nowS},v1=${v1('whsec_other', nowS)},v1=${v1('whsec_test', nowS)},v0=deadbeef`;
    expect(
      await outcome(verifier, { headers: { 'stripe-signature': header, 'content-type': 'application/json' }, rawBody: body, now: NOW }),
    ).toMatchObject({ ok: true, deliveryId: 'evt_9' });
  });

  it('honours a route tolerance other than the default', async () => {
    const header = `t=${nowS - 61},v1=${v1('whsec_test', nowS - 61)}`;
    expect(
      await outcome(verifier, { headers: { 'stripe-signature': header, 'content-type': 'application/json' }, rawBody: body, now: NOW }),
    ).toMatchObject({ code: 'timestamp_out_of_tolerance' });
  });

  it.each(['t=1', 'v1=abc', 'garbage', `t=${nowS},v1=zz`])('calls the header %j malformed', async (header) => {
    expect(await outcome(verifier, { headers: { 'stripe-signature': header }, rawBody: body, now: NOW })).toMatchObject({
      code: 'unauthorized',
      message: 'Malformed Stripe-Signature header',
    });
  });
});

describe('challenges the relay answers itself', () => {
  it("answers Slack's url_verification with the challenge", async () => {
    const verifier = verifierFor({ scheme: 'slack', secretEnv: 'S' }, { S: 'slack-secret' });
    const body = '{"token":"x","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}';
    const ts = String(nowS);
    const headers = {
      'content-type': 'application/json',
      'x-slack-request-timestamp': ts,
      'x-slack-signature': 'v0=' + createHmac('sha256', 'slack-secret').update(`v0:${ts}:${body}`).digest('hex'),
    };
    expect(await outcome(verifier, { headers, rawBody: body, now: NOW })).toMatchObject({
      ok: true,
      reply: { status: 200, body: { challenge: '3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P' } },
    });
  });

  it("answers Zoom's endpoint.url_validation with the HMAC of the plain token", async () => {
    const verifier = verifierFor({ scheme: 'zoom', secretEnv: 'S' }, { S: 'zoom-secret-token' });
    const body = '{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}';
    const ts = String(nowS);
    const headers = {
      'content-type': 'application/json',
      'x-zm-request-timestamp': ts,
      'x-zm-signature': 'v0=' + createHmac('sha256', 'zoom-secret-token').update(`v0:${ts}:${body}`).digest('hex'),
    };
    const expected = createHmac('sha256', 'zoom-secret-token').update('qgg8vlvZRS6UYooatFL8Aw').digest('hex');
    expect(await outcome(verifier, { headers, rawBody: body, now: NOW })).toMatchObject({
      ok: true,
      reply: { status: 200, body: { plainToken: 'qgg8vlvZRS6UYooatFL8Aw', encryptedToken: expected } },
    });
  });

  it('does not answer a challenge whose signature is wrong', async () => {
    const verifier = verifierFor({ scheme: 'slack', secretEnv: 'S' }, { S: 'slack-secret' });
    const body = '{"challenge":"c","type":"url_verification"}';
    const headers = {
      'content-type': 'application/json',
      'x-slack-request-timestamp': String(nowS),
      'x-slack-signature': 'v0=' + '0'.repeat(64),
    };
    expect(await outcome(verifier, { headers, rawBody: body, now: NOW })).toMatchObject({ ok: false, code: 'unauthorized' });
  });
});

describe('twilio specifics', () => {
  const verifier = verifierFor(
    { scheme: 'twilio', secretEnv: 'T', publicUrl: 'https://relay.example.com/twilio' },
    { T: 'twilio-auth-token' },
  );

  it('accepts a JSON body signed through the bodySHA256 query parameter', async () => {
    const body = '{"event":"call.completed"}';
    const query = `?bodySHA256=${twilioLib.getExpectedBodyHash(body)}`;
    const signature = twilioLib.getExpectedTwilioSignature('twilio-auth-token', `https://relay.example.com/twilio${query}`, {});
    expect(
      (await outcome(verifier, { headers: { 'content-type': 'application/json', 'x-twilio-signature': signature }, rawBody: body, query }))
        .ok,
    ).toBe(true);
    expect(
      await outcome(verifier, {
        headers: { 'content-type': 'application/json', 'x-twilio-signature': signature },
        rawBody: body + ' ',
        query,
      }),
    ).toMatchObject({ ok: false, code: 'unauthorized' });
  });

  it('refuses a form signed for another public URL', async () => {
    const body = 'A=1';
    const signature = twilioLib.getExpectedTwilioSignature('twilio-auth-token', 'https://elsewhere.example.com/twilio', { A: '1' });
    expect(
      await outcome(verifier, {
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature },
        rawBody: body,
      }),
    ).toMatchObject({ code: 'unauthorized' });
  });

  it('answers 415 for a JSON body without bodySHA256, which Twilio cannot have signed', async () => {
    const signature = twilioLib.getExpectedTwilioSignature('twilio-auth-token', 'https://relay.example.com/twilio', {});
    expect(
      await outcome(verifier, { headers: { 'content-type': 'application/json', 'x-twilio-signature': signature }, rawBody: '{}' }),
    ).toMatchObject({ status: 415, code: 'unsupported_media_type' });
  });
});

describe('standard-webhooks v1a (Ed25519)', async () => {
  const { generateKeyPairSync, sign } = await import('node:crypto');
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const raw = Buffer.from((publicKey.export({ format: 'jwk' }) as { x: string }).x, 'base64url');
  const verifier = verifierFor({ scheme: 'standard-webhooks', publicKeyEnv: 'PK' }, { PK: 'whpk_' + raw.toString('base64') });
  const body = '{"type":"a.b"}';
  const sig = (data: string) => 'v1a,' + sign(null, Buffer.from(data), privateKey).toString('base64');
  const headers = (signature: string) => ({
    'content-type': 'application/json',
    'webhook-id': 'msg_a',
    'webhook-timestamp': String(nowS),
    'webhook-signature': signature,
  });

  it('accepts an Ed25519 signature over id.timestamp.body among other signatures', async () => {
    expect(
      await outcome(verifier, { headers: headers(`v1,bm9wZQ== ${sig(`msg_a.${nowS}.${body}`)}`), rawBody: body, now: NOW }),
    ).toMatchObject({ ok: true, deliveryId: 'msg_a' });
  });

  it('refuses an Ed25519 signature over other bytes', async () => {
    expect(await outcome(verifier, { headers: headers(sig(`msg_b.${nowS}.${body}`)), rawBody: body, now: NOW })).toMatchObject({
      ok: false,
      code: 'unauthorized',
    });
  });
});

describe('verify block validation', () => {
  it.each([
    [{ scheme: 'hmac', secretEnv: 'S', header: 'x-sig', template: '{timestamp}.{body}' }, 'template'],
    [{ scheme: 'hmac', secretEnv: 'S', header: 'x-sig', template: 'no body here' }, 'template'],
    [{ scheme: 'twilio', secretEnv: 'S', publicUrl: 'https://x.example/t?a=1' }, 'publicUrl'],
    [{ scheme: 'standard-webhooks' }, ''],
    [{ scheme: 'bearer' }, ''],
    [{ scheme: 'google-oidc', audience: 'https://x', serviceAccounts: ['not-an-email'] }, 'serviceAccounts'],
  ])('rejects %j at start-up', async (options, path) => {
    const { verifySchema } = await import('../../shared/verify/registry.js');
    const result = verifySchema.safeParse(options);
    expect(result.success).toBe(false);
    expect(result.error!.issues.some((i) => i.path.join('.').startsWith(path))).toBe(true);
  });

  it('hashes bodies the same way as the sender helper', () => {
    expect(createHash('sha256').update('{}').digest('hex')).toBe(twilioLib.getExpectedBodyHash('{}'));
  });
});
