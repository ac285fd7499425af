/**
 * `run-relay deploy` against an in-memory Google Cloud (test/support/fake-cloud.ts):
 * apply, re-apply, drift, failures, destroy and the CLI's modes, with the
 * full example config (deploy/examples/relay.config.yaml).
 */
import { parseArgs } from 'node:util';
import { describe, expect, it, vi } from 'vitest';
import { deployCommand } from '../../shared/cli/deploy.js';
import { renderCommand } from '../../shared/deploy/command.js';
import type { PlanOptions } from '../../shared/deploy/plan.js';
import { applyPlan, checkPlan, destroyPlan, destroySteps } from '../../shared/deploy/run.js';
import type { Plan, Step } from '../../shared/deploy/step.js';
import { FakeCloud } from '../support/fake-cloud.js';
import { EXAMPLES, examplePlan as planOf, REPO } from './example-plans.js';

const EXAMPLE = EXAMPLES.full.configPath;
const RUNTIME = 'serviceAccount:shop-relay@shop-prod.iam.gserviceaccount.com';
const PUSH = 'serviceAccount:shop-relay-push@shop-prod.iam.gserviceaccount.com';
const LEDGER_CALLER = 'serviceAccount:ledger-caller@finance-prod.iam.gserviceaccount.com';
/** The full example (shop-prod, europe-west1, source hash abc123). */
const examplePlan = (extra: Partial<PlanOptions> = {}): Plan => planOf('full', extra);
/** The step the webhook's own deploy already satisfies: `functions deploy --allow-unauthenticated` grants allUsers itself. */
const PUBLIC = 'public shop-relay-webhook';
/**
 * A first apply of the full example: created are the 12 things that did not exist; the APIs step and the 14 grants
 * read an existing list or policy and add to it, so they count as updated; the public grant is already in place.
 */
const FIRST_APPLY = { created: 13, updated: 17, unchanged: 1 };

/** An empty shop-prod (no API enabled unless `apis`) and what the example relies on but does not create: secrets, target services, the impersonated account. */
function emptyCloud(options: { secrets?: [string, string][]; apis?: string[] } = {}): FakeCloud {
  const cloud = new FakeCloud({ 'shop-prod': { number: '123456789012', ...(options.apis ? { apis: options.apis } : {}) } });
  for (const [project, secret] of options.secrets ?? [
    ['shop-prod', 'github-webhook'],
    ['shop-secrets', 'stripe-webhook'],
    ['shop-prod', 'LEGACY_BEARER'],
  ])
    cloud.seedSecret(project, secret);
  cloud.seedRunService('shop-prod', 'europe-west1', 'orders');
  cloud.seedRunService('finance-prod', 'europe-west1', 'billing-api');
  cloud.seedRunService('987654321098', 'us-east1', 'ledger');
  cloud.seedServiceAccount('ledger-caller@finance-prod.iam.gserviceaccount.com');
  return cloud;
}

function recorder() {
  const lines: string[] = [];
  const sleeps: number[] = [];
  return {
    lines,
    sleeps,
    out: (line: string) => void lines.push(line),
    sleep: async (ms: number) => void sleeps.push(ms),
    text: () => lines.join('\n'),
  };
}

async function applied(cloud: FakeCloud, plan: Plan): Promise<void> {
  const summary = await applyPlan(plan, { gcloud: cloud.gcloud, out: () => {}, sleep: async () => {} });
  expect(summary.failed?.message).toBeUndefined();
  cloud.calls.length = 0;
}

const byId = (plan: Plan, id: string): Step => {
  const step = plan.steps.find((s) => s.id === id);
  if (!step) throw new Error(`no step ${id}`);
  return step;
};
const grants = (cloud: FakeCloud) =>
  cloud
    .bindings()
    .map((b) => `${b.resource} ${b.role} ${b.member}`)
    .sort();

describe('run-relay deploy against a fake Google Cloud', () => {
  it('creates every step of the full example on an empty project, in plan order, granting the runtime account nothing unconditioned project-wide', async () => {
    const plan = examplePlan();
    const cloud = emptyCloud();
    const r = recorder();
    const summary = await applyPlan(plan, { gcloud: cloud.gcloud, out: r.out, sleep: r.sleep });

    expect(summary).toEqual(FIRST_APPLY);
    expect(plan.steps.length).toBe(31);
    // Each step read, then created, strictly in the plan's order; no retry, no extra command.
    expect(cloud.calls).toEqual(plan.steps.flatMap((s) => (s.id === PUBLIC ? [s.read] : [s.read, ...s.create])));
    expect(r.sleeps).toEqual([]);
    expect(r.text()).toContain('Done: 13 created, 17 updated, 1 unchanged.');
    expect(r.text()).toContain('Let the runtime account invoke target "legacy"');

    // Least privilege: on the project only Firestore access conditioned on the relay's database; invoker only on the targets and the relay's own functions.
    expect(cloud.get('project:shop-prod').policy).toEqual([
      { role: 'roles/owner', members: ['user:owner@example.com'] },
      {
        role: 'roles/datastore.user',
        members: [RUNTIME],
        condition: { expression: 'resource.name=="projects/shop-prod/databases/run-relay-dedupe"', title: 'run-relay run-relay-dedupe' },
      },
    ]);
    expect(cloud.get('firestore:shop-prod/run-relay-dedupe').json).toMatchObject({
      type: 'FIRESTORE_NATIVE',
      locationId: 'europe-west1',
      ttls: { deliveries: 'expireAt' },
    });
    expect(grants(cloud).filter((g) => g.includes(' roles/run.invoker '))).toEqual([
      `run:987654321098/us-east1/ledger roles/run.invoker ${LEDGER_CALLER}`,
      `run:finance-prod/europe-west1/billing-api roles/run.invoker ${RUNTIME}`,
      `run:shop-prod/europe-west1/orders roles/run.invoker ${RUNTIME}`,
      `run:shop-prod/europe-west1/shop-relay-pubsub roles/run.invoker ${PUSH}`,
      'run:shop-prod/europe-west1/shop-relay-webhook roles/run.invoker allUsers',
    ]);
    expect(grants(cloud).filter((g) => g.endsWith(` ${RUNTIME}`))).toEqual([
      `account:ledger-caller@finance-prod.iam.gserviceaccount.com roles/iam.serviceAccountOpenIdTokenCreator ${RUNTIME}`,
      `project:shop-prod roles/datastore.user ${RUNTIME}`,
      `run:finance-prod/europe-west1/billing-api roles/run.invoker ${RUNTIME}`,
      `run:shop-prod/europe-west1/orders roles/run.invoker ${RUNTIME}`,
      `secret:shop-prod/LEGACY_BEARER roles/secretmanager.secretAccessor ${RUNTIME}`,
      `secret:shop-prod/github-webhook roles/secretmanager.secretAccessor ${RUNTIME}`,
      `secret:shop-secrets/stripe-webhook roles/secretmanager.secretAccessor ${RUNTIME}`,
      `topic:shop-prod/relay-dead-letters roles/pubsub.publisher ${RUNTIME}`,
      `topic:shop-prod/relay-deliveries roles/pubsub.publisher ${RUNTIME}`,
    ]);

    const webhook = cloud.get('function:shop-prod/europe-west1/shop-relay-webhook').json;
    expect(webhook.labels).toMatchObject({ 'run-relay': 'shop-relay', 'run-relay-source': 'abc123' });
    expect(webhook.serviceConfig).toMatchObject({
      serviceAccountEmail: 'shop-relay@shop-prod.iam.gserviceaccount.com',
      availableMemory: '1Gi',
      minInstanceCount: 1,
      maxInstanceCount: 20,
    });
    const deliveries = cloud.get('subscription:shop-prod/shop-relay-deliveries').json;
    expect(deliveries).toMatchObject({ topic: 'projects/shop-prod/topics/relay-deliveries', ackDeadlineSeconds: 90, expirationPolicy: {} });
    expect(deliveries.deadLetterPolicy).toEqual({
      deadLetterTopic: 'projects/shop-prod/topics/relay-dead-letters',
      maxDeliveryAttempts: 15,
    });
    const job = cloud.get('job:shop-prod/europe-west1/shop-relay-nightly-settlement').json;
    expect(JSON.parse(Buffer.from(job.pubsubTarget.data, 'base64').toString('utf8'))).toMatchObject({
      schedule: 'nightly-settlement',
      body: '{"job":"settle"}',
    });
  });

  it('changes nothing on a second apply: only reads run, and it says "Nothing to change"', async () => {
    const plan = examplePlan();
    const cloud = emptyCloud();
    await applied(cloud, plan);
    const r = recorder();
    const summary = await applyPlan(plan, { gcloud: cloud.gcloud, out: r.out });

    expect(summary).toEqual({ created: 0, updated: 0, unchanged: 31 });
    expect(cloud.calls).toEqual(plan.steps.map((s) => s.read));
    expect(cloud.mutations()).toEqual([]);
    expect(r.text()).toContain('Nothing to change: all 31 steps were already in place.');
  });

  it('lists exactly the drifted steps on check, fixes only those on apply, and checks clean afterwards', async () => {
    const plan = examplePlan();
    const cloud = emptyCloud();
    await applied(cloud, plan);
    cloud.get('account:shop-relay@shop-prod.iam.gserviceaccount.com').json.disabled = true;
    cloud.get('run:shop-prod/europe-west1/orders').policy.length = 0;
    cloud.get('function:shop-prod/europe-west1/shop-relay-webhook').json.serviceConfig.availableMemory = '256Mi';
    // Deployed before the build was told the functions' flags: its code cache would be refused at every start.
    delete cloud.get('function:shop-prod/europe-west1/shop-relay-webhook').json.buildConfig.environmentVariables;
    cloud.get('subscription:shop-prod/shop-relay-deliveries').json.ackDeadlineSeconds = 10;
    cloud.get('job:shop-prod/europe-west1/shop-relay-hourly-sync').json.schedule = '0 */2 * * *';

    const r = recorder();
    const check = await checkPlan(plan, { gcloud: cloud.gcloud, out: r.out });
    expect(check.unreadable).toEqual([]);
    expect(check.differences.map((d) => [d.step.id, d.diffs])).toEqual([
      ['service account shop-relay', ['disabled']],
      ['invoker orders', [`${RUNTIME} does not hold roles/run.invoker`]],
      [
        'function shop-relay-webhook',
        ['memory is 256Mi, want 1Gi', 'build env RELAY_CODE_CACHE_NODE_OPTIONS is (unset), want --max-old-space-size=512'],
      ],
      ['subscription shop-relay-deliveries', ['ack deadline is 10, want 90']],
      ['job shop-relay-hourly-sync', ['schedule is 0 */2 * * *, want 0 * * * *']],
    ]);
    expect(r.text()).toContain('5 of 31 steps differ from the plan');
    expect(cloud.mutations()).toEqual([]);

    const summary = await applyPlan(plan, { gcloud: cloud.gcloud, out: () => {} });
    expect(summary).toEqual({ created: 0, updated: 5, unchanged: 26 });
    expect(cloud.mutations()).toEqual(check.differences.flatMap((d) => d.step.update ?? d.step.create));
    expect(cloud.mutations().map((c) => c.slice(0, 3).join(' '))).toEqual([
      'iam service-accounts enable',
      'run services add-iam-policy-binding',
      'functions deploy shop-relay-webhook',
      'pubsub subscriptions update',
      'scheduler jobs update',
    ]);

    const after = recorder();
    expect((await checkPlan(plan, { gcloud: cloud.gcloud, out: after.out })).differences).toEqual([]);
    expect(after.text()).toContain('No drift: all 31 steps match the plan.');
  });

  it("stops at a failing step without running later ones, shows the command and gcloud's message, and a re-run skips what is in place", async () => {
    const plan = examplePlan();
    const cloud = emptyCloud();
    const failing = byId(plan, 'topic relay-deliveries').create[0]!;
    const message = 'ERROR: (gcloud.pubsub.topics.create) PERMISSION_DENIED: User not authorized to perform this action.';
    cloud.failOn((argv) => JSON.stringify(argv) === JSON.stringify(failing), message);
    const r = recorder();
    const summary = await applyPlan(plan, { gcloud: cloud.gcloud, out: r.out });

    const index = plan.steps.findIndex((s) => s.id === 'topic relay-deliveries');
    expect(summary.failed?.step.id).toBe('topic relay-deliveries');
    expect(summary.failed?.command).toEqual(failing);
    expect(summary.created + summary.updated).toBe(index);
    expect(cloud.calls.at(-1)).toEqual(failing);
    const later = plan.steps.slice(index + 1).flatMap((s) => [s.read, ...s.create].map((c) => JSON.stringify(c)));
    expect(cloud.calls.filter((c) => later.includes(JSON.stringify(c)))).toEqual([]);
    expect(r.text()).toContain(`command: ${renderCommand(failing)}`);
    expect(r.text()).toContain(message);
    expect(r.text()).toContain(`Stopped at step ${index + 1} of 31; steps 1-${index} are in place.`);
    expect(cloud.keys('topic')).toEqual([]);

    cloud.clearFailures();
    cloud.calls.length = 0;
    const again = await applyPlan(plan, { gcloud: cloud.gcloud, out: () => {} });
    expect(again.unchanged).toBe(index + 1);
    expect(again.created + again.updated).toBe(plan.steps.length - index - 1);
    expect(cloud.mutations()).toEqual(
      plan.steps
        .slice(index)
        .filter((s) => s.id !== PUBLIC)
        .flatMap((s) => s.create),
    );
  });

  it('fails the secret step at once with the `gcloud secrets create` hint when a secret does not exist', async () => {
    const plan = examplePlan();
    const cloud = emptyCloud({
      secrets: [
        ['shop-prod', 'github-webhook'],
        ['shop-secrets', 'stripe-webhook'],
      ],
    });
    const r = recorder();
    const summary = await applyPlan(plan, { gcloud: cloud.gcloud, out: r.out, sleep: r.sleep });

    expect(summary.failed?.step.id).toBe('secret shop-prod/LEGACY_BEARER');
    expect(r.text()).toContain('NOT_FOUND: Secret [projects/shop-prod/secrets/LEGACY_BEARER] not found.');
    expect(r.text()).toContain(
      'hint: the secret must exist before deploy grants access to it: printf %s "$VALUE" | gcloud secrets create LEGACY_BEARER --project=shop-prod',
    );
    // Waiting for IAM does not make a secret appear: no retry.
    expect(r.sleeps).toEqual([]);
    expect(cloud.calls.filter((c) => c.includes('add-iam-policy-binding') && c.includes('LEGACY_BEARER'))).toHaveLength(1);
    expect(cloud.keys('topic')).toEqual([]);
  });

  it('destroys what apply created, keeps dead letters, a pre-existing topic, secrets, targets and APIs; --delete-dead-letters removes the dead letters too', async () => {
    const plan = examplePlan();
    const cloud = emptyCloud();
    cloud.seedTopic('shop-prod', 'inventory-changes', { team: 'inventory' });
    const first = await applyPlan(plan, { gcloud: cloud.gcloud, out: () => {} });
    expect(first).toEqual({ ...FIRST_APPLY, created: 12, unchanged: 2 });
    cloud.calls.length = 0;

    const r = recorder();
    const summary = await destroyPlan(plan, { gcloud: cloud.gcloud, out: r.out });
    expect(summary).toEqual({ removed: destroySteps(plan).length - 3, kept: 3 });
    expect(cloud.keys('function')).toEqual([]);
    expect(cloud.keys('job')).toEqual([]);
    expect(cloud.keys('account')).toEqual(['account:ledger-caller@finance-prod.iam.gserviceaccount.com']);
    expect(cloud.keys('subscription')).toEqual(['subscription:shop-prod/relay-dead-letters-inbox']);
    expect(cloud.keys('topic')).toEqual(['topic:shop-prod/inventory-changes', 'topic:shop-prod/relay-dead-letters']);
    expect(cloud.keys('run')).toEqual([
      'run:987654321098/us-east1/ledger',
      'run:finance-prod/europe-west1/billing-api',
      'run:shop-prod/europe-west1/orders',
    ]);
    expect(cloud.keys('secret')).toEqual([
      'secret:shop-prod/LEGACY_BEARER',
      'secret:shop-prod/github-webhook',
      'secret:shop-secrets/stripe-webhook',
    ]);
    expect(grants(cloud)).toEqual(['project:shop-prod roles/owner user:owner@example.com']);
    // Only removals of what the plan made: no API disabled, no secret or target service deleted.
    for (const call of cloud.mutations()) {
      expect(
        call.includes('remove-iam-policy-binding') ||
          (['functions', 'pubsub', 'iam', 'scheduler'].includes(call[0]!) && call.includes('delete')),
      ).toBe(true);
    }
    expect(
      cloud
        .mutations()
        .filter((c) => c[1] === 'topics' && c[2] === 'delete')
        .map((c) => c[3]),
    ).toEqual(['relay-deliveries']);
    expect(r.text()).toContain('= kept: not created by this relay');
    expect(r.text()).toContain('= kept: it holds dead letters');
    expect((await cloud.gcloud(['services', 'list', '--enabled', '--project=shop-prod', '--format=json'])).stdout).toContain(
      'cloudscheduler.googleapis.com',
    );

    cloud.calls.length = 0;
    const again = await destroyPlan(plan, { gcloud: cloud.gcloud, out: () => {}, deleteDeadLetters: true });
    expect(again).toEqual({ removed: 2, kept: 1 });
    expect(cloud.keys('topic')).toEqual(['topic:shop-prod/inventory-changes']);
    expect(cloud.keys('subscription')).toEqual([]);
    expect(cloud.mutations().map((c) => c.slice(0, 4).join(' '))).toEqual([
      'pubsub subscriptions delete relay-dead-letters-inbox',
      'pubsub topics delete relay-dead-letters',
    ]);
  });

  it('with --no-invoker-iam-check, turns the IAM check off on the webhook service instead of granting allUsers', async () => {
    const plan = examplePlan({ webhookAccess: 'no-invoker-iam-check' });
    const cloud = emptyCloud();
    const summary = await applyPlan(plan, { gcloud: cloud.gcloud, out: () => {} });

    expect(summary).toEqual({ created: 13, updated: 18, unchanged: 0 });
    expect(cloud.calls).toContainEqual([
      'run',
      'services',
      'update',
      'shop-relay-webhook',
      '--region=europe-west1',
      '--project=shop-prod',
      '--no-invoker-iam-check',
      '--quiet',
    ]);
    const deploy = cloud.calls.find((c) => c[1] === 'deploy' && c[2] === 'shop-relay-webhook')!;
    expect(deploy).toContain('--no-allow-unauthenticated');
    expect(deploy).not.toContain('--allow-unauthenticated');
    expect(grants(cloud).filter((g) => g.includes('allUsers'))).toEqual([]);
    expect(cloud.get('run:shop-prod/europe-west1/shop-relay-webhook').json.metadata.annotations).toEqual({
      'run.googleapis.com/invoker-iam-disabled': 'true',
    });

    cloud.calls.length = 0;
    expect(await applyPlan(plan, { gcloud: cloud.gcloud, out: () => {} })).toEqual({ created: 0, updated: 0, unchanged: 31 });
    expect(cloud.mutations()).toEqual([]);
  });

  it('reads a webhook service that does not exist yet as missing, not unreadable, with --no-invoker-iam-check', async () => {
    const plan = examplePlan({ webhookAccess: 'no-invoker-iam-check' });
    const enabled = byId(plan, 'apis').create[0]!.filter((w) => w.endsWith('.googleapis.com'));
    const check = await checkPlan(plan, { gcloud: emptyCloud({ apis: enabled }).gcloud, out: () => {} });
    expect(check.unreadable.map((u) => u.step.id)).toEqual([]);
    expect(check.differences.map((d) => d.step.id)).toContain('public shop-relay-webhook');
  });

  it('retries a grant to a just-created account that IAM does not see yet, and succeeds', async () => {
    const plan = examplePlan();
    const cloud = emptyCloud();
    const grant = (argv: readonly string[]) => argv.includes('add-iam-policy-binding') && argv.includes(`--member=${RUNTIME}`);
    cloud.failOn(
      grant,
      `ERROR: (gcloud.run.services.add-iam-policy-binding) INVALID_ARGUMENT: Service account ${RUNTIME.slice(15)} does not exist.`,
      1,
    );
    const r = recorder();
    const summary = await applyPlan(plan, { gcloud: cloud.gcloud, out: r.out, sleep: r.sleep });

    expect(summary).toEqual(FIRST_APPLY);
    expect(r.sleeps).toEqual([10_000]);
    const orders = byId(plan, 'invoker orders').create[0]!;
    expect(cloud.calls.filter((c) => JSON.stringify(c) === JSON.stringify(orders))).toHaveLength(2);
    expect(r.text()).toContain('IAM does not see the new account yet; trying again in 10 s (1/5)');
  });

  it('does not retry that error when the account existed before this run', async () => {
    const plan = examplePlan();
    const cloud = emptyCloud();
    await applied(cloud, plan);
    cloud.get('run:shop-prod/europe-west1/orders').policy.length = 0;
    cloud.failOn(
      (argv) => argv.includes('add-iam-policy-binding'),
      `ERROR: (gcloud.run.services.add-iam-policy-binding) INVALID_ARGUMENT: Service account ${RUNTIME.slice(15)} does not exist.`,
    );
    const r = recorder();
    const summary = await applyPlan(plan, { gcloud: cloud.gcloud, out: r.out, sleep: r.sleep });

    expect(summary.failed?.step.id).toBe('invoker orders');
    expect(r.sleeps).toEqual([]);
    expect(cloud.mutations()).toHaveLength(1);
  });

  it('makes the fake cloud refuse commands and flags it does not know, and gate commands on enabled APIs', async () => {
    const cloud = emptyCloud();
    expect(await cloud.gcloud(['pubsub', 'topics', 'list', '--project=shop-prod'])).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('unrecognized'),
    });
    expect(await cloud.gcloud(['pubsub', 'topics', 'create', 't', '--project=shop-prod', '--label=a=b'])).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('unrecognized argument --label'),
    });
    expect(await cloud.gcloud(['pubsub', 'topics', 'describe', 't', '--project=shop-prod', '--format=json'])).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('PERMISSION_DENIED'),
    });
  });
});

describe('run-relay deploy command line', () => {
  async function cli(cloud: FakeCloud, args: string[]) {
    const r = recorder();
    const command = deployCommand({ gcloud: cloud.gcloud, cwd: REPO, sleep: r.sleep });
    const { values, positionals } = parseArgs({ args, options: command.options, allowPositionals: true, strict: true });
    const code = await command.run({ values, positionals, env: {}, out: r.out });
    return { code, output: r.text() };
  }
  const base = ['--project=shop-prod', '--region=europe-west1', '--project-number=123456789012', `--config=${EXAMPLE}`];

  it('exits 0 on --apply, then 0 on --check with no drift, then 1 on --check after drift', async () => {
    const cloud = emptyCloud();
    const apply = await cli(cloud, [...base, '--apply']);
    expect(apply.code).toBe(0);
    expect(apply.output).toContain('Done: 13 created, 17 updated, 1 unchanged.');

    const check = await cli(cloud, [...base, '--check']);
    expect(check.code).toBe(0);
    expect(check.output).toContain('No drift: all 31 steps match the plan.');

    cloud.get('subscription:shop-prod/shop-relay-deliveries').json.ackDeadlineSeconds = 10;
    const drifted = await cli(cloud, [...base, '--check']);
    expect(drifted.code).toBe(1);
    expect(drifted.output).toContain('ack deadline is 10, want 90');
  });

  it('prints the plan without calling gcloud when --project-number is given', async () => {
    const cloud = emptyCloud();
    const { code, output } = await cli(cloud, base);
    expect(code).toBe(0);
    expect(cloud.calls).toEqual([]);
    expect(output).toContain('$ gcloud functions deploy shop-relay-webhook');
    expect(output).toContain('Nothing was changed.');
  });

  it.each([['--check'], ['--apply'], ['--destroy']])(
    'stops %s after one gcloud call, with one line, when gcloud has no active account',
    async (mode) => {
      const cloud = emptyCloud();
      cloud.activeAccount = undefined;
      const errors: string[] = [];
      const spy = vi.spyOn(console, 'error').mockImplementation((line: unknown) => void errors.push(String(line)));
      const started = Date.now();
      try {
        const { code, output } = await cli(cloud, [...base, mode]);
        expect(code).toBe(1);
        expect(output).toBe('');
      } finally {
        spy.mockRestore();
      }
      expect(Date.now() - started).toBeLessThan(2000);
      expect(cloud.calls).toEqual([['auth', 'list', '--filter=status:ACTIVE', '--format=value(account)']]);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toBe(
        'run-relay deploy: gcloud has no active account: run `gcloud auth login` (or `gcloud auth activate-service-account --key-file=KEY.json`), then try again.',
      );
      expect(errors[0]!.split('\n')).toHaveLength(1);
    },
  );

  it('asks for the login before the project number, so --apply without a login makes one call', async () => {
    const cloud = emptyCloud();
    cloud.activeAccount = undefined;
    const spy = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      expect((await cli(cloud, ['--project=shop-prod', '--region=europe-west1', `--config=${EXAMPLE}`, '--apply'])).code).toBe(1);
    } finally {
      spy.mockRestore();
    }
    expect(cloud.calls.map((c) => c.slice(0, 2).join(' '))).toEqual(['auth list']);
  });

  it('asks gcloud only for the project number when --project-number is not given', async () => {
    const cloud = emptyCloud();
    const { code, output } = await cli(cloud, ['--project=shop-prod', '--region=europe-west1', `--config=${EXAMPLE}`]);
    expect(code).toBe(0);
    expect(cloud.calls).toEqual([['projects', 'describe', 'shop-prod', '--format=value(projectNumber)']]);
    expect(output).toContain('project shop-prod (number 123456789012)');
  });
});
