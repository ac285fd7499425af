/**
 * Every verification scheme the relay knows. Adding a scheme is adding its
 * definition to this list; config parsing, start-up checks, the headers
 * `forwardHeaders` may not name and the fuzz test follow from what each
 * definition declares (secrets, signature and signed headers, replay window).
 */
import * as z from 'zod';
import { PARSE_ONCE, perCall } from '../config/parse-once.js';
import { bearer } from './bearer.js';
import { github } from './github.js';
import { googleOidc } from './google-oidc.js';
import { hmacScheme } from './hmac.js';
import { none } from './none.js';
import type { HeaderList, SchemeContext, SchemeDefinition, Verifier } from './scheme.js';
import { shopify } from './shopify.js';
import { slack } from './slack.js';
import { standardWebhooks } from './standard-webhooks.js';
import { stripe } from './stripe.js';
import { DEFAULT_TOLERANCE_SECONDS } from './timestamp.js';
import { twilio } from './twilio.js';
import { zoom } from './zoom.js';

// Each scheme has its own options type; `any` is the element type that admits them all.
export const SCHEMES = [
  github,
  stripe,
  slack,
  shopify,
  standardWebhooks,
  twilio,
  zoom,
  hmacScheme,
  bearer,
  googleOidc,
  none,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
] as const satisfies readonly SchemeDefinition<any>[];

type AnyScheme = (typeof SCHEMES)[number];

export type VerifyOptions = z.output<ReturnType<AnyScheme['options']>>;

const SCHEME_NAMES = SCHEMES.map((s) => s.scheme);

/**
 * Builds the schema of a route's `verify:` block: one of the registered schemes' options. It reads `scheme`
 * first, then parses the block with that scheme's own schema, built on first use by this verify schema and kept
 * only as long as it is (see `defineScheme`): a config builds only the schemas of the schemes it names, each once
 * however many routes name it, and drops them with the config schema. Its issues are those a
 * `z.discriminatedUnion` on `scheme` reports: not an object, no such scheme (the names listed), or the scheme's
 * own, at the same paths and with the same messages.
 */
export function buildVerifySchema() {
  const built = new Map<string, z.ZodType>();
  return z.unknown().transform((input, ctx): VerifyOptions => {
    if (input === null || typeof input !== 'object' || Array.isArray(input)) {
      ctx.addIssue({ code: 'invalid_type', expected: 'object', input });
      return z.NEVER;
    }
    const name = (input as { scheme?: unknown }).scheme;
    const definition = SCHEMES.find((s) => s.scheme === name);
    if (!definition) {
      ctx.addIssue({
        code: 'invalid_union',
        errors: [],
        note: 'No matching discriminator',
        discriminator: 'scheme',
        options: SCHEME_NAMES,
        input,
        path: ['scheme'],
      });
      return z.NEVER;
    }
    let options = built.get(definition.scheme);
    if (!options) built.set(definition.scheme, (options = definition.options()));
    const result = options.safeParse(input, PARSE_ONCE);
    if (result.success) return result.data as VerifyOptions;
    for (const issue of result.error.issues) ctx.addIssue({ ...issue });
    return z.NEVER;
  });
}

/** A `verify:` block's parse, for tools and tests: the schemas are built for each call (see {@link perCall}). */
export const verifySchema = perCall(buildVerifySchema);

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any scheme's definition, as above
function definitionFor(scheme: string): SchemeDefinition<any> {
  const definition = SCHEMES.find((s) => s.scheme === scheme);
  if (!definition) throw new Error(`Unknown verification scheme "${scheme}"`);
  return definition;
}

/** Environment variables that a route's `verify:` block references. */
export function secretEnvsOf(options: VerifyOptions): string[] {
  return definitionFor(options.scheme).secretEnvs(options);
}

/**
 * Every mention of a secret environment variable in the routes, in route
 * order, with the key path naming it (`routes.github.verify.secretEnv`).
 */
export function secretRefsOf(routes: Record<string, { verify: VerifyOptions }>): { env: string; path: string }[] {
  return Object.entries(routes).flatMap(([name, route]) =>
    secretEnvsOf(route.verify).map((env) => {
      // Name the key that references it (secretEnv, publicKeyEnv, ...).
      const key = Object.entries(route.verify).find(([, v]) => v === env || (Array.isArray(v) && v.includes(env)))?.[0] ?? 'secretEnv';
      return { env, path: `routes.${name}.verify.${key}` };
    }),
  );
}

/** Sender headers the scheme passes on to targets. */
export function forwardHeadersOf(options: VerifyOptions): readonly string[] {
  return definitionFor(options.scheme).forwardHeaders;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any scheme's list, as above
function headerList(list: HeaderList<any>, options: VerifyOptions): readonly string[] {
  return typeof list === 'function' ? list(options) : list;
}

/** Headers carrying a route's signature or credential: never forwarded (for `hmac`, the configured header). */
export function signatureHeadersOf(options: VerifyOptions): readonly string[] {
  return headerList(definitionFor(options.scheme).signatureHeaders, options);
}

/** Other headers a route's signature covers (timestamps, delivery ids). */
export function signedHeadersOf(options: VerifyOptions): readonly string[] {
  return headerList(definitionFor(options.scheme).signedHeaders, options);
}

/**
 * Every fixed signature header of every registered scheme, with the scheme
 * that declares it: no route may forward these, whatever its own scheme.
 */
export const SIGNATURE_HEADERS: ReadonlyMap<string, string> = new Map(
  SCHEMES.flatMap((s) =>
    typeof s.signatureHeaders === 'function' ? [] : s.signatureHeaders.map((h): [string, string] => [h, s.scheme]),
  ).reverse(),
);

/** Builds the verifier for a route's `verify:` block. */
export function createVerifier(options: VerifyOptions, context: SchemeContext): Verifier {
  return definitionFor(options.scheme).create(options, context);
}

/** How long a delivery id is remembered: what the scheme declares (its timestamp tolerance), else the default 300 s. */
export function replayWindowSecondsOf(options: VerifyOptions): number {
  return definitionFor(options.scheme).replayWindowSeconds?.(options) ?? DEFAULT_TOLERANCE_SECONDS;
}
