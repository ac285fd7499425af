/**
 * Config read only by `run-relay deploy`: the `deploy:` block (names, sizes,
 * secrets, delivery policy) and each target's `cloudRun:` (which Cloud Run
 * service it is, when its URL does not say). The functions ignore both.
 */
import * as z from 'zod';

const resourceId = (what: string) =>
  z.string().regex(/^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$/, `expected a ${what}: lower-case letters, digits and "-", starting with a letter`);

// Builders, not schemas: the config schema (config/schema.ts) builds each once while the config is checked, and drops them.

/** `targets.<name>.cloudRun`: the Cloud Run service behind a target, or `manual`. */
export const buildCloudRunSchema = () =>
  z.union(
    [
      z.literal('manual'),
      z
        .object({
          service: resourceId('Cloud Run service name'),
          region: z.string().regex(/^[a-z]+-[a-z]+\d+$/, 'expected a region such as europe-west1'),
          /** Project id or number; default: the project deployed to. */
          project: z
            .string()
            .regex(/^(?:[a-z][-a-z0-9]{4,28}[a-z0-9]|\d+)$/, 'expected a project id or number')
            .optional(),
        })
        .strict(),
    ],
    { error: 'expected `manual` or { service, region, project? }' },
  );

const memory = () => z.string().regex(/^\d+(?:Mi|Gi)$/, 'expected a memory size such as 512Mi or 1Gi');

/** `deploy.webhook` and `deploy.pubsub`: one function's size and scaling. */
const functionSchema = () =>
  z
    .object({
      memory: memory().default('512Mi'),
      /** vCPUs; at least 1 lets an instance serve `concurrency` requests at once. */
      cpu: z
        .union([z.enum(['0.5', '1', '2', '4']), z.union([z.literal(0.5), z.literal(1), z.literal(2), z.literal(4)]).transform(String)], {
          error: 'expected 0.5, 1, 2 or 4 (vCPUs)',
        })
        .default('1'),
      concurrency: z.number().int().min(1).max(1000).default(80),
      /** Request timeout in seconds; default: derived from the route deadlines (webhook) or the ack deadline (pubsub). */
      timeoutSeconds: z.number().int().min(1).max(3600).optional(),
      minInstances: z.number().int().min(0).max(1000).default(0),
      maxInstances: z.number().int().min(1).max(3000).default(100),
    })
    .strict();

/**
 * `deploy.secrets.<ENV>`: the Secret Manager secret mounted as that
 * environment variable: `name`, `name:version` or
 * `projects/P/secrets/name[:version]`. Default: a secret named like the
 * variable, version `latest`.
 */
const secretRef = () =>
  z
    .string({ error: 'expected a secret name such as github-webhook-secret or github-webhook-secret:3' })
    .regex(
      /^(?:projects\/[a-z0-9-]+\/secrets\/)?[A-Za-z0-9_-]{1,255}(?::(?:latest|[1-9]\d*))?$/,
      'expected a secret name (letters, digits, "_" or "-"), optionally projects/P/secrets/ before it and :VERSION (a number or latest) after it',
    );

export const buildDeploySchema = () => {
  const fn = functionSchema();
  return z
    .object({
      /** Prefix of everything deploy creates: functions NAME-webhook and NAME-pubsub, service accounts NAME and NAME-push. */
      name: z
        .string()
        .regex(/^[a-z](?:[-a-z0-9]{4,23}[a-z0-9])$/, 'expected 6-25 lower-case letters, digits or "-", starting with a letter')
        .default('run-relay'),
      // prefault: an absent block is parsed as {}, so it gets every default above.
      webhook: fn.prefault({}),
      pubsub: fn.prefault({}),
      secrets: z.record(z.string(), secretRef()).default({}),
      /** The push subscription's redelivery backoff, in seconds. */
      minRetryDelaySeconds: z.number().int().min(0).max(600).default(10),
      maxRetryDelaySeconds: z.number().int().min(0).max(600).default(600),
      /** Deliveries of one message before Pub/Sub moves it to the dead-letter topic. */
      maxDeliveryAttempts: z.number().int().min(5).max(100).default(10),
    })
    .strict()
    .refine((d) => d.minRetryDelaySeconds <= d.maxRetryDelaySeconds, {
      message: 'expected minRetryDelaySeconds <= maxRetryDelaySeconds',
      path: ['maxRetryDelaySeconds'],
    });
};

export type CloudRunConfig = z.output<ReturnType<typeof buildCloudRunSchema>>;
export type DeployConfig = z.output<ReturnType<typeof buildDeploySchema>>;
export type FunctionSettings = DeployConfig['webhook'];
