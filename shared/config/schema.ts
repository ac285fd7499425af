/**
 * The shape of `relay.config.yaml`, with every default. Parsed once at cold
 * start; see README "Configuration reference" for the same, in prose.
 *
 * The schemas are built by {@link buildConfigSchema} when a config is checked
 * (config/check.ts) and dropped after: nothing here keeps a zod schema at
 * module level. The relay needs them once, and kept they would stay in the
 * heap for the life of the process (a few KiB per schema instance, several
 * hundred instances), which V8's old generation, grown to a multiple of the
 * live heap before each full GC, pays several times over in peak RSS.
 */
import * as z from 'zod';
import { buildContractSchema } from '../contract/contract.js';
import { buildCloudRunSchema, buildDeploySchema } from '../deploy/deploy-schema.js';
import { buildIdentitySchema } from '../identity/identity-schema.js';
import { CIRCUIT_DEFAULTS, type CircuitOptions } from '../forward/circuit.js';
import { RELAY_OWN_HEADERS } from '../forward/headers.js';
import { buildVerifySchema, SIGNATURE_HEADERS, signatureHeadersOf, type VerifyOptions } from '../verify/registry.js';
import { buildDedupeSchema, buildDedupeStoreSchema } from './dedupe-schema.js';
import { buildDestinationSchema, buildPubsubSchema, buildScheduleSchema, buildTopicSchema, checkDeliveryRefs } from './delivery-schema.js';

/** Encodings a route may opt in to with `acceptEncodings`. */
export const CONTENT_ENCODINGS = ['gzip', 'deflate', 'br'] as const;
export type ContentEncoding = (typeof CONTENT_ENCODINGS)[number];

/** Paths the relay answers itself (health) or refuses (what browsers and crawlers ask for). */
const RESERVED_ROUTE_NAMES = new Set(['healthz', 'favicon.ico', 'robots.txt']);

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/** True for hostnames that can only mean this machine. */
export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname) || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

const millis = (min: number, max: number) => z.number().int().min(min).max(max);

const targetUrl = () =>
  z.url({ protocol: /^https?$/, error: 'expected an https:// URL' }).superRefine((value, ctx) => {
    if (!URL.canParse(value)) return; // z.url() has already reported it
    const url = new URL(value);
    if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
      ctx.addIssue({
        code: 'custom',
        message: `expected https:// (http:// is accepted only for loopback hosts), got ${url.protocol}//${url.host}`,
      });
    }
    if (url.search || url.hash) ctx.addIssue({ code: 'custom', message: 'expected a base URL without query or fragment' });
    if (url.username || url.password) ctx.addIssue({ code: 'custom', message: 'expected a URL without credentials' });
  });

const buildRetrySchema = () =>
  z
    .object({
      /** Retries after the first attempt. */
      retries: z.number().int().min(0).max(20).default(4),
      minDelayMs: millis(0, 600_000).default(200),
      maxDelayMs: millis(0, 600_000).default(5_000),
    })
    .strict()
    .refine((r) => r.minDelayMs <= r.maxDelayMs, { message: 'expected minDelayMs <= maxDelayMs', path: ['maxDelayMs'] });

/** `targets.<name>.circuit`: `true` or `{}` for the defaults, or any of the keys (see shared/forward/circuit.ts). */
const buildCircuitSchema = () =>
  z
    .union([
      z.literal(true),
      z
        .object({
          failureRate: z.number().gt(0).max(1).default(CIRCUIT_DEFAULTS.failureRate),
          minimumCalls: z.number().int().min(1).max(100_000).default(CIRCUIT_DEFAULTS.minimumCalls),
          windowMs: millis(1_000, 3_600_000).default(CIRCUIT_DEFAULTS.windowMs),
          coolDownMs: millis(100, 3_600_000).default(CIRCUIT_DEFAULTS.coolDownMs),
          probes: z.number().int().min(1).max(100).default(CIRCUIT_DEFAULTS.probes),
        })
        .strict(),
    ])
    .transform((c): CircuitOptions => (c === true ? { ...CIRCUIT_DEFAULTS } : c));

/** The schemas built once per config schema and used in several places of it. */
interface Shared {
  dedupe: ReturnType<typeof buildDedupeSchema>;
  destination: ReturnType<typeof buildDestinationSchema>;
}

const buildTargetSchema = ({ dedupe }: Shared) =>
  z
    .object({
      url: targetUrl(),
      /** ID token audience; defaults to the URL's origin. */
      audience: z.string().min(1).optional(),
      tokenHeader: z.enum(['authorization', 'x-serverless-authorization']).default('authorization'),
      /** Per-attempt timeout. */
      timeoutMs: millis(1, 3_600_000).default(10_000),
      retry: buildRetrySchema().default({ retries: 4, minDelayMs: 200, maxDelayMs: 5_000 }),
      /** Credential minting this target's ID tokens; default Application Default Credentials. */
      identity: buildIdentitySchema().optional(),
      /** For `run-relay deploy`: the Cloud Run service behind this target, when the URL does not say; or `manual`. */
      cloudRun: buildCloudRunSchema().optional(),
      /** Per-instance circuit breaker; off unless given. */
      circuit: buildCircuitSchema().optional(),
      /** Most calls in flight to this target per instance; default unbounded. */
      maxConcurrency: z.number().int().min(1).max(10_000).optional(),
      /** Durable de-duplication of deliveries to this target (see buildDedupeSchema). */
      dedupe: dedupe.optional(),
    })
    .strict();

/** A route; its forward entries have the same shape as every other delivery destination. */
const buildRouteSchema = (verify: VerifySchema, { dedupe, destination }: Shared) =>
  z
    .object({
      verify,
      forward: z.array(destination).min(1, 'expected at least one forward entry'),
      /** Largest body accepted, in bytes (after decoding, when `acceptEncodings` lets a compressed body in). */
      maxBodyBytes: z
        .number()
        .int()
        .min(1)
        .max(32 * 1024 * 1024)
        .default(1024 * 1024),
      /** `Content-Encoding`s this route decodes; any other encoding is refused with 415. Default: none. */
      acceptEncodings: z.array(z.enum(CONTENT_ENCODINGS)).default([]),
      /** Time budget for the whole relay of one request, retries included. */
      deadlineMs: millis(100, 3_600_000).default(30_000),
      /** Extra sender headers (lower-case names) to pass on, beyond the built-in allowlist. */
      forwardHeaders: z.array(z.string().regex(/^[a-z0-9-]+$/, 'expected a lower-case header name')).default([]),
      /** JSON Schema(s) the body must fit, checked after the signature (see docs/issue3.md). */
      contract: buildContractSchema().optional(),
      /** Event types forwarded; others are answered 200 and dropped with a log line. Default: all. */
      events: z.array(z.string().min(1)).min(1, 'expected at least one event type (omit `events` to forward all)').optional(),
      /** `sync` forwards and answers with the target's answer; `async` publishes to Pub/Sub and answers 202. */
      mode: z.enum(['sync', 'async']).default('sync'),
      /** Durable de-duplication on the sender's delivery id, across instances (see buildDedupeSchema). */
      dedupe: dedupe.optional(),
    })
    .strict()
    .superRefine((route, ctx) => {
      route.forwardHeaders.forEach((name, index) => {
        const why = refusedForwardHeader(name, route.verify);
        if (why) ctx.addIssue({ code: 'custom', path: ['forwardHeaders', index], message: why });
      });
    });

/**
 * Why `name` may not be listed in a route's `forwardHeaders`, or undefined:
 * signatures and credentials (the route's own scheme's, or any registered
 * scheme's, as the registry declares them) never reach a target, and the
 * headers the relay sets itself cannot be a sender's.
 */
export function refusedForwardHeader(name: string, verify: VerifyOptions): string | undefined {
  if (signatureHeadersOf(verify).includes(name)) {
    return `"${name}" carries this route's ${verify.scheme} signature or credential, which is never forwarded; remove it`;
  }
  const scheme = SIGNATURE_HEADERS.get(name);
  if (scheme) return `"${name}" carries the ${scheme} scheme's signature or credential, which is never forwarded; remove it`;
  if (RELAY_OWN_HEADERS.includes(name)) return `"${name}" is set by the relay itself; a sender's value is never forwarded; remove it`;
  return undefined;
}

const routeName = () =>
  z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'expected a route name of letters, digits, ".", "_" or "-"')
    .refine((name) => !RESERVED_ROUTE_NAMES.has(name.toLowerCase()), {
      error: (issue) => `the route name "${String(issue.input)}" is reserved`,
    });

type VerifySchema = ReturnType<typeof buildVerifySchema>;

/**
 * Builds the schema of the whole config, each part once: called by config/check.ts for each config it checks,
 * and dropped after. `verify` is the schema of the routes' `verify:` blocks, which the check reuses when the
 * config's shape is wrong (the scheme schemas it built are then built already).
 */
export function buildConfigSchema(verify: VerifySchema = buildVerifySchema()) {
  const shared: Shared = { dedupe: buildDedupeSchema(), destination: buildDestinationSchema() };
  const name = routeName();
  return z
    .object({
      /** Google Cloud project, used for trace links in logs; defaults to the environment's. */
      projectId: z.string().min(1).optional(),
      targets: z.record(z.string().min(1), buildTargetSchema(shared)),
      routes: z.record(name, buildRouteSchema(verify, shared)).default({}),
      // prefault: an absent block is parsed as {}, so it gets every default of its schema.
      pubsub: buildPubsubSchema().prefault({}),
      topics: z.record(z.string().min(3), buildTopicSchema(shared.destination)).default({}),
      schedules: z.record(name, buildScheduleSchema(shared.destination)).default({}),
      /** Where `dedupe: { store: firestore }` keeps its keys. */
      dedupeStore: buildDedupeStoreSchema().prefault({}),
      /** Read only by `run-relay deploy`: names, sizes, secrets, delivery policy. */
      deploy: buildDeploySchema().prefault({}),
    })
    .strict()
    .superRefine((config, ctx) => {
      checkRouteRefs(config, ctx);
      checkDeliveryRefs(config, ctx);
    });
}

/** Every route's forward entries name a defined target; called from the config schema and, for a config of the wrong shape, config/check.ts. */
export function checkRouteRefs(
  config: { targets: Record<string, unknown>; routes: Record<string, { forward?: readonly { target: string }[] }> },
  ctx: z.RefinementCtx,
): void {
  for (const [name, route] of Object.entries(config.routes)) {
    route.forward?.forEach((entry, index) => {
      if (!Object.hasOwn(config.targets, entry.target)) {
        ctx.addIssue({
          code: 'custom',
          path: ['routes', name, 'forward', index, 'target'],
          message: `unknown target "${entry.target}"; expected one of: ${Object.keys(config.targets).join(', ') || '(no targets defined)'}`,
        });
      }
    });
  }
}

export type RelayConfig = z.output<ReturnType<typeof buildConfigSchema>>;
export type TargetConfig = RelayConfig['targets'][string];
export type RouteConfig = RelayConfig['routes'][string];
export type RetryPolicy = TargetConfig['retry'];

/** A route without `verify:` needs a message of its own: zod would only say "invalid input". */
export const MISSING_VERIFY_MESSAGE =
  'expected a verify block; to accept unauthenticated requests say `verify: { scheme: none }` explicitly';
