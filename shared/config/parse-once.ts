import type * as z from 'zod';

/**
 * Parse options for schemas parsed once per instance (the config at cold start).
 * zod compiles a fast path (`new Function`) for every object schema on its first JIT parse: worth it for what
 * the relay parses per request (contracts, Pub/Sub envelopes), dearer than the one parse it speeds for the config
 * (the config's first parse took about 21 ms with it and 8 ms without, traced at cold start; docs/bench.md,
 * "Cold start"). The option is per parse, so the per-request schemas keep their fast paths.
 */
export const PARSE_ONCE = { jitless: true } as const;

/** The parse methods {@link perCall} offers. */
export interface PerCall<S extends z.ZodType> {
  parse(input: unknown, params?: z.core.ParseContext<z.core.$ZodIssue>): z.output<S>;
  safeParse(input: unknown, params?: z.core.ParseContext<z.core.$ZodIssue>): z.ZodSafeParseResult<z.output<S>>;
}

/**
 * `parse` and `safeParse` of a schema built for each call and dropped after it, for callers outside config loading
 * (tools, tests): nothing stays at module level. Config schemas are needed once per process, and kept they would
 * stay in the heap for its life (each schema instance is a few KiB; V8 lets the old generation grow to a multiple
 * of the live heap before a full GC, so peak RSS pays several times that). What parses many values builds the
 * schema itself, once, and uses it for them all (config/check.ts).
 */
export function perCall<S extends z.ZodType>(build: () => S): PerCall<S> {
  return {
    parse: (input, params) => build().parse(input, params),
    safeParse: (input, params) => build().safeParse(input, params),
  };
}
