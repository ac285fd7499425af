/**
 * The sender's side of every scheme in the registry: given a route's
 * `verify:` block, its secrets and a body, the headers (and, for Twilio, the
 * query) that sender would attach. `run-relay send` and the banner use it;
 * the relay's functions never load it.
 *
 * One signer per registered scheme, keyed by scheme name: the mapped type
 * makes a new scheme without a signer a compile error.
 */
import { createHash, createHmac, randomUUID } from 'node:crypto';
import type { VerifyOptions } from '../verify/registry.js';
import { hmacKeyFromSecret } from '../verify/standard-webhooks.js';
import { twilioSignedString } from '../verify/twilio.js';

export interface SignInput {
  body: Buffer;
  /** The request's media type (signers that need one check it). */
  contentType: string;
  /** `--event`: the event type header value, for schemes that carry one in a header. */
  eventType?: string;
  /** Milliseconds since the epoch. */
  now: number;
  /** Reads a secret by environment variable name; throws when unset. */
  secret(envName: string): string;
  /** `--key`: a consumer key for bearer routes whose config holds only digests. */
  key?: string;
  /** Mints a Google ID token for an audience (the local metadata emulator); only google-oidc calls it. */
  idToken(audience: string): Promise<string>;
}

export interface Signed {
  /** Headers to send, lower-case names. */
  headers: Record<string, string>;
  /** Query string to append to the route URL, including "?", or "". */
  query: string;
}

/** A route that cannot be signed from what is at hand (e.g. only an Ed25519 public key). */
export class SignError extends Error {
  override name = 'SignError';
}

type Signer<S extends VerifyOptions['scheme']> = (
  options: Extract<VerifyOptions, { scheme: S }>,
  input: SignInput,
) => Signed | Promise<Signed>;

const seconds = (now: number) => String(Math.floor(now / 1000));
/** HMAC of the parts, in order, as bytes. */
const mac = (algorithm: string, key: string | Buffer, ...parts: (string | Buffer)[]) => {
  const h = createHmac(algorithm, key);
  for (const p of parts) h.update(p);
  return h.digest();
};
const only = (headers: Record<string, string | undefined>): Record<string, string> =>
  Object.fromEntries(Object.entries(headers).filter((e): e is [string, string] => e[1] !== undefined));
const v0 = (secret: string, ts: string, body: Buffer) => 'v0=' + mac('sha256', secret, `v0:${ts}:`, body).toString('hex');

const SIGNERS: { [S in VerifyOptions['scheme']]: Signer<S> } = {
  github: (o, i) => ({
    headers: {
      'x-hub-signature-256': 'sha256=' + mac('sha256', i.secret(o.secretEnv[0]!), i.body).toString('hex'),
      'x-github-event': i.eventType ?? 'ping',
      'x-github-delivery': randomUUID(),
    },
    query: '',
  }),
  stripe: (o, i) => {
    const t = seconds(i.now);
    return {
      headers: { 'stripe-signature': `t=${t},v1=${mac('sha256', i.secret(o.secretEnv[0]!), `${t}.`, i.body).toString('hex')}` },
      query: '',
    };
  },
  slack: (o, i) => {
    const t = seconds(i.now);
    return { headers: { 'x-slack-request-timestamp': t, 'x-slack-signature': v0(i.secret(o.secretEnv[0]!), t, i.body) }, query: '' };
  },
  shopify: (o, i) => ({
    headers: {
      'x-shopify-hmac-sha256': mac('sha256', i.secret(o.secretEnv[0]!), i.body).toString('base64'),
      'x-shopify-topic': i.eventType ?? 'orders/create',
      'x-shopify-event-id': randomUUID(),
      'x-shopify-triggered-at': new Date(i.now).toISOString(),
    },
    query: '',
  }),
  'standard-webhooks': (o, i) => {
    if (!o.secretEnv)
      throw new SignError(
        'this route accepts only Ed25519 (v1a) signatures, and signing one needs the private key, which the relay never holds; add a whsec_ secretEnv to the route to send test events',
      );
    const id = `msg_${randomUUID().replace(/-/g, '')}`;
    const t = seconds(i.now);
    const signature = mac('sha256', hmacKeyFromSecret(i.secret(o.secretEnv[0]!)), `${id}.${t}.`, i.body).toString('base64');
    return { headers: { 'webhook-id': id, 'webhook-timestamp': t, 'webhook-signature': `v1,${signature}` }, query: '' };
  },
  twilio: (o, i) => {
    const secret = i.secret(o.secretEnv[0]!);
    const headers = { 'i-twilio-idempotency-token': randomUUID() };
    if (i.contentType === 'application/x-www-form-urlencoded') {
      const params = [...new URLSearchParams(i.body.toString('utf8'))];
      return {
        headers: { ...headers, 'x-twilio-signature': mac('sha1', secret, twilioSignedString(o.publicUrl, params)).toString('base64') },
        query: '',
      };
    }
    // Other bodies: Twilio adds their SHA-256 to the URL and signs the URL alone.
    const query = `?bodySHA256=${createHash('sha256').update(i.body).digest('hex')}`;
    return { headers: { ...headers, 'x-twilio-signature': mac('sha1', secret, o.publicUrl + query).toString('base64') }, query };
  },
  zoom: (o, i) => {
    const t = seconds(i.now);
    return { headers: { 'x-zm-request-timestamp': t, 'x-zm-signature': v0(i.secret(o.secretEnv[0]!), t, i.body) }, query: '' };
  },
  hmac: (o, i) => {
    const timestamp = o.timestampHeader ? seconds(i.now) : undefined;
    const id = o.deliveryIdHeader ? randomUUID() : undefined;
    const template = o.template ?? (o.timestampHeader ? '{timestamp}.{body}' : '{body}');
    const [before, after] = template.split('{body}') as [string, string];
    const fill = (part: string) => part.replace(/\{(timestamp|id)\}/g, (_, name: string) => (name === 'timestamp' ? timestamp! : id!));
    const signature = mac(o.algorithm, i.secret(o.secretEnv[0]!), fill(before), i.body, fill(after)).toString(o.encoding);
    return {
      headers: only({
        [o.header]: o.prefix + signature,
        ...(o.timestampHeader ? { [o.timestampHeader]: timestamp } : {}),
        ...(o.deliveryIdHeader ? { [o.deliveryIdHeader]: id } : {}),
        ...(o.eventTypeHeader && i.eventType ? { [o.eventTypeHeader]: i.eventType } : {}),
      }),
      query: '',
    };
  },
  bearer: (o, i) => {
    const key = i.key ?? (o.secretEnv ? i.secret(o.secretEnv[0]!) : undefined);
    if (!key)
      throw new SignError(
        `this route accepts only consumer keys (${(o.keys ?? []).map((k) => k.consumer).join(', ')}), whose plaintext the config does not hold; pass one with --key rrk_...`,
      );
    return { headers: { authorization: `Bearer ${key}` }, query: '' };
  },
  'google-oidc': async (o, i) => ({ headers: { authorization: `Bearer ${await i.idToken(o.audience[0]!)}` }, query: '' }),
  none: () => ({ headers: {}, query: '' }),
};

/**
 * Signs `input.body` as the sender of a route with `verify` would.
 * Throws {@link SignError} when the route cannot be signed locally, and
 * whatever `input.secret` throws for an unset secret.
 *
 * @example
 * const { headers } = await signRequest({ scheme: 'github', secretEnv: ['S'] }, { body, contentType: 'application/json', now: Date.now(), secret: (n) => env[n]!, idToken });
 */
export async function signRequest(verify: VerifyOptions, input: SignInput): Promise<Signed> {
  const signer = SIGNERS[verify.scheme] as Signer<VerifyOptions['scheme']>;
  return signer(verify as never, input);
}

/** A small body that the route's scheme accepts when the user gives none (Stripe and Slack read fields of it). */
export function sampleBody(verify: VerifyOptions, eventType: string | undefined, now: number): { body: Buffer; contentType: string } {
  const json = (value: unknown) => ({ body: Buffer.from(JSON.stringify(value)), contentType: 'application/json' });
  const at = new Date(now).toISOString();
  switch (verify.scheme) {
    case 'stripe':
      return json({
        id: `evt_${randomUUID().replace(/-/g, '').slice(0, 24)}`,
        object: 'event',
        type: eventType ?? 'run_relay.test',
        created: Math.floor(now / 1000),
        data: { object: { sentBy: 'run-relay send' } },
      });
    case 'slack':
      return json({
        type: 'event_callback',
        event_id: `Ev${randomUUID().replace(/-/g, '').slice(0, 10).toUpperCase()}`,
        event: { type: eventType ?? 'message', text: 'Hello from run-relay send' },
      });
    case 'zoom':
      return json({ event: eventType ?? 'meeting.started', event_ts: now, payload: { sentBy: 'run-relay send' } });
    case 'standard-webhooks':
      return json({ type: eventType ?? 'run_relay.test', timestamp: at, data: { sentBy: 'run-relay send' } });
    default:
      return json({ event: eventType ?? 'test', sentBy: 'run-relay send', at });
  }
}
