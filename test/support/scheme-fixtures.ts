/**
 * One fixture per registered verification scheme: a route's `verify:` block
 * and how a sender holding the secret signs a request. Keyed by the
 * registry's scheme names, so a scheme added to SCHEMES without a fixture
 * fails the typecheck here and `assertEveryScheme` at run time; the fuzz test
 * and the registry's declaration tests read these instead of their own lists.
 */
import { createHash, createHmac } from 'node:crypto';
import { SCHEMES, type VerifyOptions } from '../../shared/verify/registry.js';
import { twilioSignedString } from '../../shared/verify/twilio.js';

export type SchemeName = VerifyOptions['scheme'];

export const FIXTURE_SECRET = 'fuzz-secret-value-0001';
/** Secrets by environment variable name, as the fixtures' `verify:` blocks name them. */
export const FIXTURE_ENV = { S: FIXTURE_SECRET, WH: 'whsec_' + Buffer.from(FIXTURE_SECRET).toString('base64') };
export const TWILIO_URL = 'https://relay.example.com/twilio';
export const OIDC_AUDIENCE = 'https://relay.example.com/oidc';

export interface SignInput {
  body: Buffer;
  /** The relay's clock, ms since the epoch. */
  nowMs: number;
  /** A fresh delivery id for schemes that carry one. */
  id: string;
  /** The secret to sign with: FIXTURE_SECRET for a valid request, anything else for a forgery. */
  secret: string;
}

export interface Signed {
  headers: Record<string, string>;
  /** Query string including "?", or "". */
  query: string;
}

export interface SchemeFixture {
  verify: Record<string, unknown>;
  /** The Content-Type the sender uses. */
  contentType: string;
  /** True when any change to the body bytes invalidates the signature. */
  signsBody: boolean;
  /** True when the verifier parses the body as JSON after the signature (so signed non-JSON is a 400). */
  parsesJson: boolean;
  /** Seconds of timestamp tolerance, when the scheme signs a timestamp. */
  toleranceSeconds?: number;
  sign(input: SignInput): Signed;
}

const hex = (secret: string | Buffer, ...parts: (string | Buffer)[]) => {
  const mac = createHmac('sha256', secret);
  for (const p of parts) mac.update(p);
  return mac.digest('hex');
};

/** Builds the fixtures; google-oidc needs a token minter and its caller's service account. */
export function schemeFixtures(oidc: { serviceAccount: string; mint(audience: string): string }): { [K in SchemeName]: SchemeFixture } {
  return {
    github: {
      verify: { scheme: 'github', secretEnv: 'S' },
      contentType: 'application/json',
      signsBody: true,
      parsesJson: false,
      sign: ({ body, id, secret }) => ({
        headers: { 'x-hub-signature-256': 'sha256=' + hex(secret, body), 'x-github-delivery': id, 'x-github-event': 'push' },
        query: '',
      }),
    },
    stripe: {
      verify: { scheme: 'stripe', secretEnv: 'S' },
      contentType: 'application/json',
      signsBody: true,
      parsesJson: true,
      toleranceSeconds: 300,
      sign: ({ body, nowMs, secret }) => {
        const t = Math.floor(nowMs / 1000);
        return { headers: { 'stripe-signature': `t=${t},v1=${hex(secret, `${t}.`, body)}` }, query: '' };
      },
    },
    slack: {
      verify: { scheme: 'slack', secretEnv: 'S' },
      contentType: 'application/json',
      signsBody: true,
      parsesJson: true,
      toleranceSeconds: 300,
      sign: ({ body, nowMs, secret }) => {
        const t = Math.floor(nowMs / 1000);
        return {
          headers: { 'x-slack-request-timestamp': String(t), 'x-slack-signature': 'v0=' + hex(secret, `v0:${t}:`, body) },
          query: '',
        };
      },
    },
    shopify: {
      verify: { scheme: 'shopify', secretEnv: 'S' },
      contentType: 'application/json',
      signsBody: true,
      parsesJson: false,
      sign: ({ body, id, secret }) => ({
        headers: {
          'x-shopify-hmac-sha256': createHmac('sha256', secret).update(body).digest('base64'),
          'x-shopify-event-id': id,
          'x-shopify-topic': 'orders/create',
        },
        query: '',
      }),
    },
    'standard-webhooks': {
      verify: { scheme: 'standard-webhooks', secretEnv: 'WH' },
      contentType: 'application/json',
      signsBody: true,
      parsesJson: true,
      toleranceSeconds: 300,
      sign: ({ body, nowMs, id, secret }) => {
        const t = Math.floor(nowMs / 1000);
        const key = Buffer.from(secret);
        const sig = createHmac('sha256', key).update(`${id}.${t}.`).update(body).digest('base64');
        return { headers: { 'webhook-id': id, 'webhook-timestamp': String(t), 'webhook-signature': `v1,${sig}` }, query: '' };
      },
    },
    twilio: {
      // JSON bodies: Twilio signs the URL with a bodySHA256 query parameter, and the relay checks the hash.
      verify: { scheme: 'twilio', secretEnv: 'S', publicUrl: TWILIO_URL },
      contentType: 'application/json',
      signsBody: true,
      parsesJson: false,
      sign: ({ body, id, secret }) => {
        const query = `?bodySHA256=${createHash('sha256').update(body).digest('hex')}`;
        const signature = createHmac('sha1', secret)
          .update(twilioSignedString(TWILIO_URL + query, []))
          .digest('base64');
        return { headers: { 'x-twilio-signature': signature, 'i-twilio-idempotency-token': id }, query };
      },
    },
    zoom: {
      verify: { scheme: 'zoom', secretEnv: 'S' },
      contentType: 'application/json',
      signsBody: true,
      parsesJson: true,
      toleranceSeconds: 300,
      sign: ({ body, nowMs, secret }) => {
        const t = Math.floor(nowMs / 1000);
        return { headers: { 'x-zm-request-timestamp': String(t), 'x-zm-signature': 'v0=' + hex(secret, `v0:${t}:`, body) }, query: '' };
      },
    },
    hmac: {
      verify: {
        scheme: 'hmac',
        secretEnv: 'S',
        header: 'x-sig',
        prefix: 'sha256=',
        timestampHeader: 'x-ts',
        deliveryIdHeader: 'x-id',
        template: '{id}.{timestamp}.{body}',
      },
      contentType: 'application/octet-stream',
      signsBody: true,
      parsesJson: false,
      toleranceSeconds: 300,
      sign: ({ body, nowMs, id, secret }) => {
        const t = Math.floor(nowMs / 1000);
        return { headers: { 'x-sig': 'sha256=' + hex(secret, `${id}.${t}.`, body), 'x-ts': String(t), 'x-id': id }, query: '' };
      },
    },
    bearer: {
      verify: { scheme: 'bearer', secretEnv: 'S' },
      contentType: 'application/json',
      signsBody: false,
      parsesJson: false,
      sign: ({ secret }) => ({ headers: { authorization: `Bearer ${secret}` }, query: '' }),
    },
    'google-oidc': {
      verify: { scheme: 'google-oidc', audience: OIDC_AUDIENCE, serviceAccounts: [oidc.serviceAccount] },
      contentType: 'application/json',
      signsBody: false,
      parsesJson: false,
      // A forgery is a real Google-shaped token for another audience: the right issuer and key, the wrong service.
      sign: ({ secret }) => ({
        headers: { authorization: `Bearer ${oidc.mint(secret === FIXTURE_SECRET ? OIDC_AUDIENCE : 'https://elsewhere.example.com')}` },
        query: '',
      }),
    },
    none: {
      verify: { scheme: 'none' },
      contentType: 'application/json',
      signsBody: false,
      parsesJson: false,
      sign: () => ({ headers: {}, query: '' }),
    },
  };
}

/** Throws unless the fixtures cover exactly the registered schemes. */
export function assertEveryScheme(fixtures: Record<string, SchemeFixture>): void {
  const registered = SCHEMES.map((s) => s.scheme).sort();
  const covered = Object.keys(fixtures).sort();
  if (registered.join() !== covered.join())
    throw new Error(`Scheme fixtures cover ${covered.join(', ')}; the registry has ${registered.join(', ')}`);
}
