/**
 * Parse options for schemas parsed once per instance (the config at cold start, the defaults built at import).
 * zod compiles a fast path (`new Function`) for every object schema on its first JIT parse: worth it for what
 * the relay parses per request (contracts, Pub/Sub envelopes), dearer than the one parse it speeds for the config
 * (the config's first parse took about 21 ms with it and 8 ms without, traced at cold start; docs/bench.md,
 * "Cold start"). The option is per parse, so the per-request schemas keep their fast paths.
 */
export const PARSE_ONCE = { jitless: true } as const;
