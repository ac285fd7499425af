/**
 * Config for durable de-duplication (issue 13): `dedupe:` on a route or a
 * target, and the top-level `dedupeStore:` naming the Firestore database.
 */
import * as z from 'zod';
import { perCall } from './parse-once.js';

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** `90s`, `30m`, `24h`, `7d` → ms. */
const duration = () =>
  z
    .string()
    .regex(/^[1-9][0-9]*[smhd]$/, 'expected a duration such as 90s, 30m, 24h or 7d')
    .transform((v) => Number(v.slice(0, -1)) * UNIT_MS[v.at(-1) as keyof typeof UNIT_MS])
    .refine((ms) => ms >= 60_000 && ms <= 30 * 86_400_000, { message: 'expected a window between 1m and 30d' });

/**
 * `dedupe:` on a route (sender's delivery id) or a target (per-target delivery key). Built by the config
 * schema (schema.ts), once for both places, and dropped with it; like every config schema it is needed only
 * while the config is checked.
 */
export const buildDedupeSchema = () =>
  z
    .object({
      store: z.literal('firestore', { error: 'expected `store: firestore` (the only durable store)' }),
      /** How long a delivered key is remembered. */
      window: duration().default(86_400_000),
      /** When the store cannot be reached: `deliver` (default: a duplicate is better than a loss) or `refuse` (503 / nack until it is back). */
      onStoreError: z.enum(['deliver', 'refuse']).default('deliver'),
    })
    .strict()
    .transform(({ window, ...rest }) => ({ ...rest, windowMs: window }));

/** A `dedupe:` block's parse, for tools and tests (see {@link perCall}). */
export const dedupeSchema = perCall(buildDedupeSchema);

/** `dedupeStore:` where the keys live. */
export const buildDedupeStoreSchema = () =>
  z
    .object({
      /** A Firestore database of its own (`run-relay deploy` creates it). */
      database: z
        .string()
        .regex(
          /^[a-z][a-z0-9-]{3,61}[a-z0-9]$/,
          'expected a Firestore database id (4-63 lower-case letters, digits or "-", starting with a letter)',
        )
        .default('run-relay-dedupe'),
      /** Firestore location for `run-relay deploy`; default the deploy region. */
      location: z
        .string()
        .regex(/^[a-z0-9-]+$/, 'expected a Firestore location such as europe-west1 or eur3')
        .optional(),
      collection: z
        .string()
        .regex(/^[A-Za-z0-9_-]{1,100}$/, 'expected a collection id of letters, digits, "_" or "-"')
        .default('deliveries'),
    })
    .strict();

export type DedupeConfig = z.output<ReturnType<typeof buildDedupeSchema>>;
export type DedupeStoreConfig = z.output<ReturnType<typeof buildDedupeStoreSchema>>;

/** True when a route or a target opts in to the Firestore store. */
export function usesDedupeStore(config: {
  routes: Record<string, { dedupe?: DedupeConfig }>;
  targets: Record<string, { dedupe?: DedupeConfig }>;
}): boolean {
  return [...Object.values(config.routes), ...Object.values(config.targets)].some((x) => x.dedupe?.store === 'firestore');
}
