import * as z from 'zod';
import { hmac as mac } from './compare.js';
import { defineScheme } from './scheme.js';
import { secretEnvList } from './secrets.js';
import { anyMatch, decodeSignature, malformedHeader, missingHeader, signatureMismatch } from './signature.js';
import { checkTimestamp, toleranceSeconds } from './timestamp.js';
import { RelayError } from '../errors.js';

const headerNameSchema = () =>
  z
    .string()
    .regex(/^[A-Za-z0-9-]+$/, 'expected a header name')
    .transform((h) => h.toLowerCase());
const PLACEHOLDER = /\{(body|timestamp|id)\}/g;

/**
 * A generic HMAC scheme for senders not listed: the signature in `header`
 * (after an optional `prefix`, e.g. "sha256="), `algorithm` sha1|sha256|sha512
 * (default sha256), `encoding` hex|base64 (default hex), over `template`
 * (default "{body}", or "{timestamp}.{body}" when `timestampHeader` is set).
 * Placeholders: {body}, {timestamp}, {id} (the `deliveryIdHeader` value).
 */
export const hmacScheme = defineScheme({
  scheme: 'hmac',
  options: () => {
    const headerName = headerNameSchema();
    return z
      .object({
        scheme: z.literal('hmac'),
        secretEnv: secretEnvList(),
        header: headerName,
        algorithm: z.enum(['sha1', 'sha256', 'sha512']).default('sha256'),
        encoding: z.enum(['hex', 'base64']).default('hex'),
        prefix: z.string().default(''),
        timestampHeader: headerName.optional(),
        toleranceSeconds: toleranceSeconds(),
        template: z.string().optional(),
        deliveryIdHeader: headerName.optional(),
        eventTypeHeader: headerName.optional(),
      })
      .strict()
      .superRefine((o, ctx) => {
        const template = o.template ?? (o.timestampHeader ? '{timestamp}.{body}' : '{body}');
        if (template.split('{body}').length !== 2)
          ctx.addIssue({ code: 'custom', path: ['template'], message: 'expected the template to contain {body} exactly once' });
        if (template.includes('{timestamp}') !== Boolean(o.timestampHeader))
          ctx.addIssue({
            code: 'custom',
            path: ['template'],
            message: 'expected {timestamp} in the template exactly when timestampHeader is set',
          });
        if (template.includes('{id}') && !o.deliveryIdHeader)
          ctx.addIssue({ code: 'custom', path: ['template'], message: 'expected deliveryIdHeader when the template uses {id}' });
      });
  },
  secretEnvs: (options) => options.secretEnv,
  forwardHeaders: [],
  signatureHeaders: (options) => [options.header],
  signedHeaders: (options) => {
    const template = options.template ?? (options.timestampHeader ? '{timestamp}.{body}' : '{body}');
    return [options.timestampHeader, template.includes('{id}') ? options.deliveryIdHeader : undefined].filter(
      (h): h is string => h !== undefined,
    );
  },
  replayWindowSeconds: (options) => options.toleranceSeconds,
  create(options, context) {
    const secrets = options.secretEnv.map((name) => context.secret(name));
    const template = options.template ?? (options.timestampHeader ? '{timestamp}.{body}' : '{body}');
    const [before, after] = template.split('{body}') as [string, string];
    return {
      verify({ headers, rawBody, now }) {
        const header = headers[options.header];
        if (!header) throw missingHeader(options.header);
        if (!header.startsWith(options.prefix)) throw malformedHeader(options.header);
        const given = decodeSignature(header.slice(options.prefix.length), options.encoding);
        if (!given) throw malformedHeader(options.header);
        const timestamp = options.timestampHeader ? headers[options.timestampHeader] : undefined;
        if (options.timestampHeader && (!timestamp || !/^\d{1,12}$/.test(timestamp)))
          throw new RelayError('unauthorized', `Missing or malformed ${options.timestampHeader} header`, {
            details: { reason: 'timestamp_malformed' },
          });
        const id = options.deliveryIdHeader ? headers[options.deliveryIdHeader] : undefined;
        const fill = (part: string) =>
          part.replace(PLACEHOLDER, (_, name: string) => (name === 'timestamp' ? (timestamp ?? '') : name === 'id' ? (id ?? '') : ''));
        const expected = secrets.map((s) => mac(options.algorithm, s, fill(before), rawBody, fill(after)));
        if (!anyMatch(expected, [given])) throw signatureMismatch();
        if (options.timestampHeader) checkTimestamp(timestamp, now, options.toleranceSeconds, options.timestampHeader);
        return { deliveryId: id, eventType: options.eventTypeHeader ? headers[options.eventTypeHeader] : undefined };
      },
    };
  },
});
