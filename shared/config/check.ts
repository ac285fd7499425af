/**
 * Every problem of a config at once: its shape, then what the shape check
 * cannot see while the shape is wrong (references between blocks, cron
 * expressions, time zones) and the secrets it names that `env` lacks. What
 * `run-relay validate`, `npm start` and cold start report, in one list.
 */
import type { z } from 'zod';
import { buildVerifySchema, secretRefsOf, type VerifyOptions } from '../verify/registry.js';
import { checkDeliveryRefs, type ScheduleConfig } from './delivery-schema.js';
import { buildConfigSchema, checkRouteRefs, MISSING_VERIFY_MESSAGE, type RelayConfig } from './schema.js';
import { PARSE_ONCE } from './parse-once.js';

/** One problem: the key path (`routes.github.verify.secretEnv`, "" for the root) and what was expected. */
export interface Issue {
  path: string;
  message: string;
}

/** `['routes', 'a', 'forward', 0]` → `routes.a.forward[0]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join('');
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let node: unknown = input;
  for (const key of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node;
}

function describeIssue(issue: z.core.$ZodIssue, input: unknown): string {
  if (issue.code === 'invalid_key') {
    // zod reports "Invalid key in record"; the nested issue says what a key must look like.
    return issue.issues.map((inner) => inner.message).join('; ') || issue.message;
  }
  if (
    issue.code === 'invalid_type' &&
    issue.path.at(-1) === 'verify' &&
    issue.path[0] === 'routes' &&
    valueAt(input, issue.path) === undefined
  ) {
    return MISSING_VERIFY_MESSAGE;
  }
  return issue.message;
}

const record = (value: unknown): Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
const list = (value: unknown): unknown[] | undefined => (Array.isArray(value) ? value : undefined);

/**
 * The cross-block checks, over a config whose shape failed (zod skips its
 * refinements then): whatever parts are readable are checked, the rest was
 * already reported by the shape check.
 */
function looseRefIssues(input: unknown): Issue[] {
  const raw = record(input);
  const targets = record(raw.targets);
  const routes = record(raw.routes);
  const issues: Issue[] = [];
  const ctx = {
    addIssue: (i: { path?: PropertyKey[]; message?: string }) => issues.push({ path: formatPath(i.path ?? []), message: i.message ?? '' }),
  } as unknown as z.RefinementCtx;
  const destinations = (value: unknown) =>
    list(value)?.filter((d) => typeof record(d).target === 'string') as { target: string; path: string; method: 'POST' }[] | undefined;
  checkRouteRefs(
    { targets, routes: Object.fromEntries(Object.entries(routes).map(([n, r]) => [n, { forward: destinations(record(r).forward) }])) },
    ctx,
  );
  const topics = Object.fromEntries(
    Object.entries(record(raw.topics)).map(([n, t]) => [
      n,
      { forward: destinations(record(t).forward) ?? [], attributeHeaders: [], subscriptions: [] },
    ]),
  );
  const schedules: Record<string, ScheduleConfig> = {};
  for (const [n, value] of Object.entries(record(raw.schedules))) {
    const s = record(value);
    if (typeof s.cron !== 'string') continue;
    schedules[n] = {
      cron: s.cron,
      timeZone: typeof s.timeZone === 'string' ? s.timeZone : 'UTC',
      route: typeof s.route === 'string' ? s.route : undefined,
      forward: destinations(s.forward),
      body: '',
      contentType: '',
    };
  }
  checkDeliveryRefs({ targets, routes, topics, schedules }, ctx);
  return issues;
}

/** Secrets named by the routes' `verify:` blocks that `env` does not set. */
export function missingSecretIssues(routes: Record<string, { verify: VerifyOptions }>, env: NodeJS.ProcessEnv): Issue[] {
  return secretRefsOf(routes)
    .filter(({ env: name }) => env[name] === undefined || env[name] === '')
    .map(({ env: name, path }) => ({
      path,
      message: `environment variable ${name} is not set (secrets are read from the environment; on Cloud Functions mount the Secret Manager secret as ${name})`,
    }));
}

export interface CheckResult {
  /** The parsed config, when its shape and references are sound (secrets may still be missing). */
  config?: RelayConfig;
  issues: Issue[];
}

/**
 * Checks a parsed (not yet validated) config file and, unless `env` is
 * null, the secrets it references. Never throws for a bad config.
 *
 * @example
 * const { issues } = checkConfig(readConfigFile('relay.config.yaml'), process.env);
 */
export function checkConfig(input: unknown, env: NodeJS.ProcessEnv | null): CheckResult {
  // Built for this check and dropped with it: nothing after the check needs a config schema.
  const verifySchema = buildVerifySchema();
  const result = buildConfigSchema(verifySchema).safeParse(input, PARSE_ONCE);
  if (result.success) return { config: result.data, issues: env ? missingSecretIssues(result.data.routes, env) : [] };
  const issues: Issue[] = result.error.issues.map((issue) => ({ path: formatPath(issue.path), message: describeIssue(issue, input) }));
  issues.push(...looseRefIssues(input));
  if (env) {
    // Secrets of the routes whose verify block itself is sound.
    const routes: Record<string, { verify: VerifyOptions }> = {};
    for (const [name, route] of Object.entries(record(record(input).routes))) {
      const verify = verifySchema.safeParse(record(route).verify, PARSE_ONCE);
      if (verify.success) routes[name] = { verify: verify.data };
    }
    issues.push(...missingSecretIssues(routes, env));
  }
  const seen = new Set<string>();
  return { issues: issues.filter((i) => !seen.has(`${i.path}\0${i.message}`) && seen.add(`${i.path}\0${i.message}`)) };
}
