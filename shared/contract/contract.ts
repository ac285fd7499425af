/**
 * Payload contracts: a route's JSON Schema for its body (and per event type),
 * turned into zod schemas once at start-up with `z.fromJSONSchema`, and
 * checked only after the signature passed.
 */
import * as z from 'zod';
import { perCall } from '../config/parse-once.js';
import { RelayError } from '../errors.js';

/**
 * zod's converter ignores a `required` name that has no `properties` entry
 * (`{required: ["id"]}` accepts `{}`), where JSON Schema demands the key. An
 * empty `{}` property for each such name restores JSON Schema's meaning.
 */
export function withRequiredProperties(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(withRequiredProperties);
  if (schema === null || typeof schema !== 'object') return schema;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) out[key] = key === 'enum' || key === 'const' ? value : withRequiredProperties(value);
  if (Array.isArray(out.required)) {
    const properties = (out.properties && typeof out.properties === 'object' ? out.properties : {}) as Record<string, unknown>;
    out.properties = {
      ...Object.fromEntries(out.required.filter((k): k is string => typeof k === 'string').map((k) => [k, {}])),
      ...properties,
    };
  }
  return out;
}

/** JSON Schema → zod, as the relay means it. */
export function toZod(schema: unknown): z.ZodType {
  return z.fromJSONSchema(withRequiredProperties(schema) as never);
}

/**
 * The route's `contract:` block. Built by the config schema (config/schema.ts) while the config is checked, and
 * dropped with it; the zod schemas a contract is compiled to ({@link compileContract}) are what stays, per route.
 */
export const buildContractSchema = () => {
  const jsonSchema = z.union([z.boolean(), z.record(z.string(), z.unknown())], {
    error: 'expected a JSON Schema (an object or a boolean)',
  });
  return z
    .object({
      /** Schema every body must fit (when no per-event schema applies). */
      schema: jsonSchema.optional(),
      /** Schemas by event type (`X-GitHub-Event`, Stripe's `type`, ...); used instead of `schema` for that event. */
      events: z.record(z.string().min(1), jsonSchema).default({}),
    })
    .strict()
    .superRefine((contract, ctx) => {
      const check = (schema: unknown, path: (string | number)[]) => {
        try {
          toZod(schema);
        } catch (error) {
          ctx.addIssue({ code: 'custom', path, message: `not a usable JSON Schema: ${(error as Error).message}` });
        }
      };
      if (contract.schema !== undefined) check(contract.schema, ['schema']);
      for (const [event, schema] of Object.entries(contract.events)) check(schema, ['events', event]);
    });
};

/** A `contract:` block's parse, for tools and tests (see {@link perCall}). */
export const contractSchema = perCall(buildContractSchema);

export type ContractConfig = z.output<ReturnType<typeof buildContractSchema>>;

export interface ContractIssue {
  path: string;
  message: string;
}

export interface Contract {
  /** True when some body on this route is held to a schema. */
  readonly applies: (eventType: string | undefined) => boolean;
  /** Throws 422 `contract_violation` listing every issue when `body` does not fit. */
  check(body: unknown, eventType: string | undefined): void;
}

/** "$.a.b[0]"-style path for an issue. */
function formatPath(path: readonly PropertyKey[]): string {
  return '$' + path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
}

/** Compiles a route's contract once. */
export function compileContract(config: ContractConfig | undefined): Contract {
  const base = config?.schema === undefined ? undefined : toZod(config.schema);
  const events = new Map(Object.entries(config?.events ?? {}).map(([name, schema]) => [name, toZod(schema)]));
  const schemaFor = (eventType: string | undefined) => (eventType !== undefined && events.get(eventType)) || base;
  return {
    applies: (eventType) => schemaFor(eventType) !== undefined,
    check(body, eventType) {
      const schema = schemaFor(eventType);
      if (!schema) return;
      const result = schema.safeParse(body);
      if (result.success) return;
      const issues: ContractIssue[] = result.error.issues.slice(0, 50).map((i) => ({ path: formatPath(i.path), message: i.message }));
      throw new RelayError(
        'contract_violation',
        `Body does not fit the contract${eventType ? ` for event "${eventType}"` : ''} (${result.error.issues.length} issue${result.error.issues.length === 1 ? '' : 's'})`,
        {
          expose: { issues },
          details: { eventType, issues },
        },
      );
    },
  };
}
