/**
 * The relay envelope: a versioned Pub/Sub message that asks the `pubsub`
 * function to call private targets. Published by async routes, schedules,
 * fan-out and replay, or by any system that wants a private service called.
 *
 * Message data is the envelope as JSON; the attribute `relay-envelope: "1"`
 * marks it (the delivery topic's messages are read as envelopes either way).
 */
import * as z from 'zod';

export const ENVELOPE_VERSION = 1;
export const ENVELOPE_ATTRIBUTE = 'relay-envelope';

/** What node:http (RFC 9110 field-value octets) accepts in a header value: tab, visible ASCII, space, obs-text (Latin-1). */
export const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** True when `value` can be sent as an HTTP header value. */
export function isHeaderValue(value: string): boolean {
  return HEADER_VALUE.test(value);
}

const ORIGIN_KINDS = ['webhook', 'schedule', 'topic', 'fanout', 'replay', 'external'] as const;

const buildEnvelopeSchema = () => {
  const headerValue = z.string().regex(HEADER_VALUE, 'expected a valid HTTP header value (tab, printable ASCII or Latin-1 only)');
  return z
    .object({
      v: z.literal(ENVELOPE_VERSION, { error: `expected "v": ${ENVELOPE_VERSION} (the envelope version)` }),
      /** A route whose forward list names the targets (and their default path and method). */
      route: z.string().min(1).optional(),
      /** One target by name. */
      target: z.string().min(1).optional(),
      /** Several targets by name: one delivery each. */
      targets: z.array(z.string().min(1)).min(1).optional(),
      /** A schedule whose route or forward list names the targets (what Cloud Scheduler jobs publish). */
      schedule: z.string().min(1).optional(),
      method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']).optional(),
      /** Path (and query) on the target; default: the route entry's path, else "/". */
      path: z.string().startsWith('/', 'expected a path starting with "/"').optional(),
      headers: z
        .record(z.string().regex(/^[a-z0-9-]+$/), headerValue, {
          error: (issue) => (issue.code === 'invalid_key' ? 'expected lower-case header names' : 'expected an object of header strings'),
        })
        .default({}),
      /** Body as text, or `bodyBase64` for exact bytes; at most one. */
      body: z.string().optional(),
      bodyBase64: z.base64().optional(),
      /** Key the target can de-duplicate on; default: the Pub/Sub message id. Per-target keys are derived from it. */
      idempotencyKey: z
        .string()
        .min(1)
        .max(512)
        .regex(HEADER_VALUE, 'expected a valid HTTP header value (tab, printable ASCII or Latin-1 only)')
        .optional(),
      origin: z
        .object({
          kind: z.enum(ORIGIN_KINDS),
          /** Route, schedule or topic name. */
          name: z.string().optional(),
          /** When the event was accepted (ISO 8601). */
          at: z.string().optional(),
        })
        .default({ kind: 'external' }),
    })
    .strict()
    .refine((e) => [e.route, e.target, e.targets, e.schedule].filter((x) => x !== undefined).length === 1, {
      message: 'expected exactly one of `route`, `target`, `targets` or `schedule`',
    })
    .refine((e) => e.body === undefined || e.bodyBase64 === undefined, { message: 'expected at most one of `body` or `bodyBase64`' });
};

let built: ReturnType<typeof buildEnvelopeSchema> | undefined;

/**
 * The envelope's schema, built on first use and kept: the `pubsub` function parses every message with it, while
 * an instance that only publishes envelopes (the webhook function, schedules) never builds it.
 */
export const envelopeSchema = () => (built ??= buildEnvelopeSchema());

export type Envelope = z.output<ReturnType<typeof buildEnvelopeSchema>>;
export type EnvelopeInput = z.input<ReturnType<typeof buildEnvelopeSchema>>;

/** Why a message is not a usable envelope, in one line. */
export class EnvelopeError extends Error {
  override name = 'EnvelopeError';
}

/** Parses message data as an envelope; throws {@link EnvelopeError} naming each bad field. */
export function parseEnvelope(data: Buffer): Envelope {
  let json: unknown;
  try {
    json = JSON.parse(data.toString('utf8'));
  } catch {
    throw new EnvelopeError('message data is not JSON (expected a relay envelope)');
  }
  const result = envelopeSchema().safeParse(json);
  if (!result.success) {
    throw new EnvelopeError(result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; '));
  }
  return result.data;
}

/** The body bytes an envelope carries. */
export function envelopeBody(envelope: Envelope): Buffer | undefined {
  if (envelope.bodyBase64 !== undefined) return Buffer.from(envelope.bodyBase64, 'base64');
  if (envelope.body !== undefined) return Buffer.from(envelope.body, 'utf8');
  return undefined;
}

/**
 * The idempotency key for one target of an event: the event key and the
 * target name, so each target de-duplicates on its own and a redelivered or
 * replayed event always carries the same key to the same target.
 */
export function deriveKey(eventKey: string, target: string): string {
  return `${eventKey}:${target}`;
}

/** Serialises an envelope with the attributes the relay puts on every envelope it publishes. */
export function envelopeMessage(envelope: EnvelopeInput): { data: Buffer; attributes: Record<string, string> } {
  const attributes: Record<string, string> = { [ENVELOPE_ATTRIBUTE]: String(ENVELOPE_VERSION) };
  if (envelope.target) attributes['relay-target'] = envelope.target;
  if (envelope.route) attributes['relay-route'] = envelope.route;
  if (envelope.idempotencyKey) attributes['relay-idempotency-key'] = envelope.idempotencyKey;
  return { data: Buffer.from(JSON.stringify(envelope)), attributes };
}
