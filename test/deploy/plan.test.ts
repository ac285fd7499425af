import { describe, expect, it } from 'vitest';
import { renderCommand, type Command } from '../../shared/deploy/command.js';
import { allCommands } from '../../shared/deploy/plan.js';
import type { Plan } from '../../shared/deploy/step.js';
import { examplePlan, printed } from './example-plans.js';

/** Every add-iam-policy-binding in a plan's create commands, as {group, resource, member, role}. */
function grants(plan: Plan) {
  return plan.steps.flatMap((step) =>
    step.create
      .filter((c) => c.includes('add-iam-policy-binding'))
      .map((c: Command) => {
        const at = c.indexOf('add-iam-policy-binding');
        return {
          group: c.slice(0, at).join(' '),
          resource: c[at + 1]!,
          member: c.find((w) => w.startsWith('--member='))!.slice('--member='.length),
          role: c.find((w) => w.startsWith('--role='))!.slice('--role='.length),
          condition: c.find((w) => w.startsWith('--condition='))?.slice('--condition='.length),
        };
      }),
  );
}

const RUNTIME = 'serviceAccount:shop-relay@shop-prod.iam.gserviceaccount.com';

describe('the plan for the full example config', () => {
  const plan = examplePlan('full');

  it('prints as recorded, step by step (snapshot)', async () => {
    await expect(printed(plan)).toMatchFileSnapshot('__snapshots__/full.plan.txt');
  });

  it("grants no unconditioned role on the project, to anyone: the one project binding is limited to the relay's Firestore database", () => {
    for (const command of allCommands(plan)) {
      if (command[0] === 'projects' && command[1] === 'get-iam-policy') continue;
      if (command[0] === 'projects' && /-iam-policy-binding$/.test(command[1]!)) {
        expect(command, renderCommand(command)).toContain(
          '--condition=expression=resource.name=="projects/shop-prod/databases/run-relay-dedupe",title=run-relay run-relay-dedupe',
        );
        continue;
      }
      expect(command.slice(0, 2).join(' '), renderCommand(command)).not.toMatch(/^(projects|organizations|resource-manager)/);
    }
    expect(grants(plan).filter((g) => g.group === 'projects')).toEqual([
      {
        group: 'projects',
        resource: 'shop-prod',
        member: RUNTIME,
        role: 'roles/datastore.user',
        condition: 'expression=resource.name=="projects/shop-prod/databases/run-relay-dedupe",title=run-relay run-relay-dedupe',
      },
    ]);
    expect(grants(plan).length).toBeGreaterThan(10);
  });

  it('prints the deployment-wide bound of a per-instance maxConcurrency', () => {
    expect(plan.notes).toContain(
      'Target orders: maxConcurrency 20 per instance; at most 600 calls in flight in all (webhook 20 × 20 instances + pubsub 20 × 10 instances)',
    );
  });

  it('gives the runtime account the invoker role only on the target services, and nothing else beyond secrets, its topics and the impersonated account', () => {
    const runtime = grants(plan).filter((g) => g.member === RUNTIME);
    expect(
      runtime
        .filter((g) => g.role === 'roles/run.invoker')
        .map((g) => g.resource)
        .sort(),
    ).toEqual([
      'projects/123456789012/locations/europe-west1/services/orders',
      'projects/finance-prod/locations/europe-west1/services/billing-api',
    ]);
    expect(
      runtime
        .filter((g) => g.role !== 'roles/run.invoker')
        .map((g) => `${g.group} ${g.resource} ${g.role}`)
        .sort(),
    ).toEqual([
      'iam service-accounts ledger-caller@finance-prod.iam.gserviceaccount.com roles/iam.serviceAccountOpenIdTokenCreator',
      'projects shop-prod roles/datastore.user',
      'pubsub topics relay-dead-letters roles/pubsub.publisher',
      'pubsub topics relay-deliveries roles/pubsub.publisher',
      'secrets LEGACY_BEARER roles/secretmanager.secretAccessor',
      'secrets github-webhook roles/secretmanager.secretAccessor',
      'secrets stripe-webhook roles/secretmanager.secretAccessor',
    ]);
  });

  it('lets exactly these callers invoke Cloud Run services: the runtime account its targets, the impersonated account its target, the push account the pubsub function, anyone the webhook', () => {
    const invokers = grants(plan)
      .filter((g) => g.role === 'roles/run.invoker')
      .map((g) => `${g.member} -> ${g.resource}`)
      .sort();
    expect(invokers).toEqual([
      'allUsers -> shop-relay-webhook',
      'serviceAccount:ledger-caller@finance-prod.iam.gserviceaccount.com -> projects/987654321098/locations/us-east1/services/ledger',
      'serviceAccount:shop-relay-push@shop-prod.iam.gserviceaccount.com -> shop-relay-pubsub',
      `${RUNTIME} -> projects/123456789012/locations/europe-west1/services/orders`,
      `${RUNTIME} -> projects/finance-prod/locations/europe-west1/services/billing-api`,
    ]);
  });

  it('leaves the target it cannot identify to the operator, with the one command to run', () => {
    expect(plan.manual).toHaveLength(1);
    expect(renderCommand(plan.manual[0]!.command)).toBe(
      'gcloud run services add-iam-policy-binding projects/PROJECT/locations/REGION/services/SERVICE --member=serviceAccount:shop-relay@shop-prod.iam.gserviceaccount.com --role=roles/run.invoker',
    );
    expect(plan.manual[0]!.title).toContain('legacy');
  });

  it('orders the steps so each one finds what it needs: APIs, accounts, grants, topics and the inbox before functions, push subscriptions after their function, schedules last', () => {
    const ids = plan.steps.map((s) => s.id);
    const at = (id: string) => {
      const index = ids.indexOf(id);
      expect(index, `step ${id}`).toBeGreaterThanOrEqual(0);
      return index;
    };
    expect(at('apis')).toBe(0);
    expect(at('service account shop-relay')).toBe(1);
    expect(at('subscription relay-dead-letters-inbox')).toBeLessThan(at('function shop-relay-webhook'));
    expect(at('topic relay-deliveries')).toBeLessThan(at('subscription shop-relay-deliveries'));
    expect(at('function shop-relay-pubsub')).toBeLessThan(at('subscription shop-relay-deliveries'));
    expect(at('invoker shop-relay-pubsub')).toBeLessThan(at('subscription shop-relay-deliveries'));
    expect(plan.steps.at(-1)!.section).toBe('Schedules');
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('deploys both functions as gen2 nodejs22 with the config shipped in the source; only the webhook is public', () => {
    const deploys = plan.steps.flatMap((s) => s.create).filter((c) => c[0] === 'functions' && c[1] === 'deploy');
    expect(deploys.map((c) => c[2])).toEqual(['shop-relay-webhook', 'shop-relay-pubsub']);
    for (const c of deploys) {
      expect(c).toEqual(
        expect.arrayContaining([
          '--gen2',
          '--runtime=nodejs22',
          '--trigger-http',
          '--source=.',
          '--service-account=shop-relay@shop-prod.iam.gserviceaccount.com',
          '--ingress-settings=all',
        ]),
      );
      expect(c.find((w) => w.startsWith('--set-env-vars='))).toContain('RELAY_CONFIG=deploy/examples/relay.config.yaml');
      expect(c.find((w) => w.startsWith('--set-secrets='))).toBe(
        '--set-secrets=GITHUB_WEBHOOK_SECRET=github-webhook:latest,GITHUB_WEBHOOK_SECRET_PREVIOUS=github-webhook:4,STRIPE_WEBHOOK_SECRET=projects/shop-secrets/secrets/stripe-webhook:latest,LEGACY_BEARER=LEGACY_BEARER:latest',
      );
      expect(c).not.toContain('--trigger-topic');
    }
    expect(deploys[0]).toEqual(
      expect.arrayContaining([
        '--allow-unauthenticated',
        '--entry-point=webhook',
        '--memory=1Gi',
        '--min-instances=1',
        '--max-instances=20',
      ]),
    );
    expect(deploys[1]).toEqual(
      expect.arrayContaining(['--no-allow-unauthenticated', '--entry-point=pubsub', '--memory=512Mi', '--max-instances=10']),
    );
    // Half the memory for V8's heap.
    expect(deploys[0]!.find((w) => w.startsWith('--set-env-vars='))).toContain('NODE_OPTIONS=--max-old-space-size=512');
  });

  it('pushes to the pubsub function through subscriptions the relay owns, with its retry, ack deadline and dead-letter policy, that never expire', () => {
    const subscriptions = plan.steps
      .flatMap((s) => s.create)
      .filter((c) => c[0] === 'pubsub' && c[1] === 'subscriptions' && c[2] === 'create');
    const push = subscriptions.filter((c) => c.some((w) => w.startsWith('--push-endpoint=')));
    expect(push.map((c) => c[3])).toEqual(['shop-relay-deliveries', 'shop-relay-topic-inventory-changes']);
    for (const c of push) {
      expect(c).toEqual(
        expect.arrayContaining([
          '--push-auth-service-account=shop-relay-push@shop-prod.iam.gserviceaccount.com',
          '--push-auth-token-audience=https://shop-relay-pubsub-123456789012.europe-west1.run.app',
          '--ack-deadline=90',
          '--min-retry-delay=10s',
          '--max-retry-delay=600s',
          '--dead-letter-topic=relay-dead-letters',
          '--max-delivery-attempts=15',
          '--expiration-period=never',
        ]),
      );
    }
    const inbox = subscriptions.find((c) => c[3] === 'relay-dead-letters-inbox')!;
    expect(inbox).toEqual(
      expect.arrayContaining(['--topic=relay-dead-letters', '--expiration-period=never', '--message-retention-duration=7d']),
    );
    expect(inbox.some((w) => w.startsWith('--push-endpoint='))).toBe(false);
    const agent = 'serviceAccount:service-123456789012@gcp-sa-pubsub.iam.gserviceaccount.com';
    expect(
      grants(plan)
        .filter((g) => g.member === agent)
        .map((g) => `${g.group} ${g.resource} ${g.role}`)
        .sort(),
    ).toEqual([
      'iam service-accounts shop-relay-push@shop-prod.iam.gserviceaccount.com roles/iam.serviceAccountTokenCreator',
      'pubsub subscriptions shop-relay-deliveries roles/pubsub.subscriber',
      'pubsub subscriptions shop-relay-topic-inventory-changes roles/pubsub.subscriber',
      'pubsub topics relay-dead-letters roles/pubsub.publisher',
    ]);
  });

  it('makes one Cloud Scheduler job per schedule, publishing the envelope that names it', () => {
    const jobs = plan.steps.flatMap((s) => s.create).filter((c) => c[0] === 'scheduler');
    expect(jobs.map((c) => c[4])).toEqual(['shop-relay-nightly-settlement', 'shop-relay-hourly-sync']);
    const nightly = jobs[0]!;
    expect(nightly).toEqual(
      expect.arrayContaining([
        '--schedule=30 2 * * *',
        '--time-zone=Europe/Paris',
        '--topic=relay-deliveries',
        '--attributes=relay-envelope=1',
      ]),
    );
    const body = JSON.parse(nightly.find((w) => w.startsWith('--message-body='))!.slice('--message-body='.length));
    expect(body).toMatchObject({ v: 1, schedule: 'nightly-settlement', body: '{"job":"settle"}' });
  });
});

describe('the plan for the template config (one sync route)', () => {
  const plan = examplePlan('template');

  it('prints as recorded (snapshot)', async () => {
    await expect(printed(plan)).toMatchFileSnapshot('__snapshots__/template.plan.txt');
  });

  it('has no Pub/Sub parts: nothing in it travels over Pub/Sub', () => {
    expect(plan.steps.map((s) => s.section)).not.toContain('Topics');
    expect(plan.steps.some((s) => s.id === 'function run-relay-pubsub')).toBe(false);
    expect(plan.steps[0]!.create[0]).not.toContain('pubsub.googleapis.com');
  });

  it('grants invoker on the service its deterministic URL names, and reads the secret its route names', () => {
    expect(grants(plan).map((g) => `${g.member} ${g.role} ${g.resource}`)).toEqual([
      'serviceAccount:run-relay@my-proj.iam.gserviceaccount.com roles/run.invoker projects/123456789012/locations/us-central1/services/orders',
      'serviceAccount:run-relay@my-proj.iam.gserviceaccount.com roles/secretmanager.secretAccessor GITHUB_WEBHOOK_SECRET',
      'allUsers roles/run.invoker run-relay-webhook',
    ]);
  });
});

describe('organizations that forbid allUsers', () => {
  it("deploy the webhook without public access and turn off Cloud Run's invoker check instead", () => {
    const plan = examplePlan('template', { webhookAccess: 'no-invoker-iam-check' });
    const commands = allCommands(plan).map(renderCommand);
    expect(commands.join('\n')).not.toContain('allUsers');
    expect(commands).toContain(
      'gcloud run services update run-relay-webhook --region=us-central1 --project=my-proj --no-invoker-iam-check --quiet',
    );
    const deploy = plan.steps.find((s) => s.id === 'function run-relay-webhook')!.create[0]!;
    expect(deploy).toContain('--no-allow-unauthenticated');
  });
});
