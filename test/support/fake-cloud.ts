/**
 * An in-memory Google Cloud for `run-relay deploy` tests. It interprets the
 * gcloud argv shapes the deploy plan produces, keeps state (APIs, accounts,
 * IAM policies, secrets, topics, subscriptions, functions and their Cloud Run
 * services, scheduler jobs, Firestore databases and TTL policies) and answers with JSON shaped like real gcloud's.
 * Anything else (an unknown command or flag) answers exit 2 "unrecognized",
 * so a test fails loudly instead of passing against a command it never ran.
 */
import type { Command } from '../../shared/deploy/command.js';
import type { Gcloud, GcloudResult } from '../../shared/deploy/gcloud.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = Record<string, any>;
export interface Binding {
  role: string;
  members: string[];
  condition?: { expression: string; title: string };
}
/** What a resource describes as, and its IAM policy (empty for those that have none). */
export interface Resource {
  json: Json;
  policy: Binding[];
}
type Flags = Record<string, string | true>;

class Answer {
  constructor(
    readonly code: number,
    readonly stderr: string,
    readonly stdout = '',
  ) {}
}

/** The APIs a command group needs enabled in a project the fake gates (see the constructor). */
const NEEDS: Record<string, string[]> = {
  iam: ['iam'],
  run: ['run'],
  secrets: ['secretmanager'],
  pubsub: ['pubsub'],
  scheduler: ['cloudscheduler'],
  firestore: ['firestore'],
  functions: ['cloudfunctions', 'cloudbuild', 'artifactregistry', 'run'],
};
const IAM_GROUPS = ['projects', 'iam service-accounts', 'run services', 'secrets', 'pubsub topics', 'pubsub subscriptions'];
const IAM_VERBS = ['get-iam-policy', 'add-iam-policy-binding', 'remove-iam-policy-binding'];
const SUB =
  'push-endpoint push-auth-service-account push-auth-token-audience ack-deadline min-retry-delay max-retry-delay dead-letter-topic max-delivery-attempts expiration-period message-retention-duration';
/** Each command's flags besides --project, --format and --quiet. */
const FLAGS: Record<string, string> = {
  'auth list': 'filter',
  'services list': 'enabled',
  'services enable': '',
  'projects describe': '',
  'iam service-accounts describe': '',
  'iam service-accounts create': 'display-name description',
  'iam service-accounts enable': '',
  'iam service-accounts delete': '',
  'run services describe': 'region',
  'run services update': 'region no-invoker-iam-check',
  'pubsub topics describe': '',
  'pubsub topics create': 'labels',
  'pubsub topics delete': '',
  'pubsub subscriptions describe': '',
  'pubsub subscriptions delete': '',
  'pubsub subscriptions create': `topic labels ${SUB}`,
  'pubsub subscriptions update': SUB,
  'functions describe': 'gen2 region',
  'functions delete': 'gen2 region',
  'functions deploy':
    'gen2 region runtime source entry-point trigger-http allow-unauthenticated no-allow-unauthenticated service-account memory cpu concurrency timeout min-instances max-instances ingress-settings set-env-vars set-build-env-vars clear-build-env-vars set-secrets clear-secrets update-labels',
  'scheduler jobs describe': 'location',
  'scheduler jobs delete': 'location',
  'scheduler jobs create pubsub': 'location schedule time-zone topic message-body attributes description',
  'scheduler jobs update pubsub': 'location schedule time-zone topic message-body update-attributes description',
  'firestore databases describe': 'database',
  'firestore databases create': 'database location type',
  'firestore fields ttls list': 'collection-group database',
  'firestore fields ttls update': 'collection-group database enable-ttl async',
};
/** Commands that take no positional argument. */
const NO_ARGS = new Set(['services list', 'firestore databases describe', 'firestore databases create', 'firestore fields ttls list']);
for (const group of IAM_GROUPS)
  for (const verb of IAM_VERBS) FLAGS[`${group} ${verb}`] = group.startsWith('pubsub') ? 'member role' : 'member role condition region';

const INVOKER = 'roles/run.invoker';
const map = (value: string | true | undefined) =>
  Object.fromEntries(
    typeof value === 'string' && value !== ''
      ? value.split(',').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])
      : [],
  );
const SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };
/** `10s`, `7d`, ... as the API prints durations (`604800s`). */
const duration = (value: string) => {
  const [, n, unit] = /^(\d+)([smhd])$/.exec(value) ?? [];
  if (!n || !unit) throw new Answer(2, `ERROR: (gcloud) unrecognized duration ${value}`);
  return `${Number(n) * SECONDS[unit]!}s`;
};

/** True for commands that only read (describe, get-iam-policy, list). */
export function isRead(argv: Command): boolean {
  return argv.some((w) => w === 'describe' || w === 'get-iam-policy' || w === 'list');
}

export class FakeCloud {
  /** Every call, in order. */
  readonly calls: string[][] = [];
  /** Keyed `kind:path`: `project:P`, `account:EMAIL`, `secret:P/S`, `topic:P/T`, `subscription:P/S`, `run:P/R/S`, `function:P/R/F`, `job:P/L/J`. */
  readonly resources = new Map<string, Resource>();
  /** What `gcloud auth list --filter=status:ACTIVE` reports; undefined is a machine with no gcloud login. */
  activeAccount: string | undefined = 'deployer@example.com';
  private readonly apis = new Map<string, Set<string>>();
  private readonly failures: { match: (argv: Command) => boolean; stderr: string; times: number }[] = [];

  /** Projects listed here exist (with an owner binding) and gate their commands on enabled APIs; others are someone else's, fully enabled. */
  constructor(projects: Record<string, { number: string; apis?: string[] }> = {}) {
    for (const [id, { number, apis = [] }] of Object.entries(projects)) {
      this.resources.set(`project:${id}`, {
        json: { projectId: id, projectNumber: number, lifecycleState: 'ACTIVE' },
        policy: [{ role: 'roles/owner', members: ['user:owner@example.com'] }],
      });
      this.apis.set(id, new Set(apis));
    }
  }

  seedSecret(project: string, name: string): void {
    this.resources.set(`secret:${this.pid(project)}/${name}`, { json: { name: `projects/${project}/secrets/${name}` }, policy: [] });
  }
  seedServiceAccount(email: string): void {
    this.resources.set(`account:${email}`, { json: { email, name: `projects/-/serviceAccounts/${email}` }, policy: [] });
  }
  seedRunService(project: string, region: string, name: string): void {
    this.resources.set(`run:${this.pid(project)}/${region}/${name}`, {
      json: { kind: 'Service', metadata: { name, annotations: {} } },
      policy: [],
    });
  }
  seedTopic(project: string, name: string, labels: Record<string, string> = {}): void {
    this.resources.set(`topic:${this.pid(project)}/${name}`, { json: { name: `projects/${project}/topics/${name}`, labels }, policy: [] });
  }

  /** The resource at `key`; throws when there is none. */
  get(key: string): Resource {
    const resource = this.resources.get(key);
    if (!resource) throw new Error(`fake cloud: no ${key}`);
    return resource;
  }
  keys(kind: string): string[] {
    return [...this.resources.keys()].filter((k) => k.startsWith(`${kind}:`)).sort();
  }
  /** Every (resource, role, member) grant, sorted. */
  bindings(): { resource: string; role: string; member: string }[] {
    return [...this.resources]
      .flatMap(([resource, r]) => r.policy.flatMap((b) => b.members.map((member) => ({ resource, role: b.role, member }))))
      .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
  }
  /** Calls that are not reads. */
  mutations(): string[][] {
    return this.calls.filter((c) => !isRead(c));
  }
  /** Makes the next `times` calls `match` accepts fail with exit 1 and `stderr`. */
  failOn(match: (argv: Command) => boolean, stderr: string, times = Infinity): void {
    this.failures.push({ match, stderr, times });
  }
  clearFailures(): void {
    this.failures.length = 0;
  }

  readonly gcloud: Gcloud = async (argv) => {
    this.calls.push([...argv]);
    const failure = this.failures.find((f) => f.times > 0 && f.match(argv));
    if (failure) {
      failure.times--;
      return { code: 1, stdout: '', stderr: failure.stderr };
    }
    try {
      const answer = this.run(argv);
      return { code: 0, stdout: typeof answer === 'string' ? answer : '', stderr: '' } satisfies GcloudResult;
    } catch (error) {
      if (error instanceof Answer) return { code: error.code, stdout: error.stdout, stderr: error.stderr };
      throw error;
    }
  };

  private run(argv: Command): string | void {
    const words: string[] = [];
    const f: Flags = {};
    for (const arg of argv) {
      if (!arg.startsWith('--')) words.push(arg);
      else if (arg.includes('=')) f[arg.slice(2, arg.indexOf('='))] = arg.slice(arg.indexOf('=') + 1);
      else f[arg.slice(2)] = true;
    }
    const n = [4, 3, 2, 1].find((i) => FLAGS[words.slice(0, i).join(' ')] !== undefined);
    const unknown = (what: string) => new Answer(2, `ERROR: (gcloud) unrecognized ${what} (fake cloud): gcloud ${argv.join(' ')}`);
    if (n === undefined) throw unknown('command');
    const command = words.slice(0, n).join(' ');
    const args = words.slice(n);
    const allowed = new Set(['project', 'format', 'quiet', ...FLAGS[command]!.split(' ')]);
    const bad = Object.keys(f).find((k) => !allowed.has(k));
    if (bad) throw unknown(`argument --${bad}`);
    const name = `gcloud.${command.replace(/ /g, '.')}`;
    const fail = (message: string) => new Answer(1, `ERROR: (${name}) ${message}`);
    const print = (value: unknown) =>
      f.format === 'json'
        ? `${JSON.stringify(value, null, 2)}\n`
        : f.format === 'none' || value === undefined
          ? ''
          : `${Object.entries(value as Json)
              .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
              .join('\n')}\n`;
    const project = (): string => {
      if (typeof f.project !== 'string')
        throw new Answer(2, `ERROR: (${name}) The required property [project] is not currently set (fake cloud: pass --project).`);
      return this.pid(f.project);
    };
    const flag = (key: string): string => {
      if (typeof f[key] !== 'string' || f[key] === '') throw new Answer(2, `ERROR: (${name}) argument --${key}: expected one argument`);
      return f[key] as string;
    };
    const need = (key: string, message: string): Resource => {
      const found = this.resources.get(key);
      if (!found) throw fail(message);
      return found;
    };
    const absent = (key: string, message: string) => {
      if (this.resources.has(key)) throw fail(`ALREADY_EXISTS: ${message}`);
    };
    const [group, verb] = [command.split(' ').slice(0, -1).join(' '), command.split(' ').at(-1)!];
    const gated = (p: string, apis = NEEDS[command.split(' ')[0]!] ?? []) => {
      const off = apis.filter((a) => this.apis.has(p) && !this.apis.get(p)!.has(`${a}.googleapis.com`));
      if (off.length > 0)
        throw fail(`PERMISSION_DENIED: ${off[0]}.googleapis.com has not been used in project ${p} before or it is disabled.`);
    };
    const arg = args[0] ?? '';
    if (command === 'auth list') {
      if (f.filter !== 'status:ACTIVE') throw unknown('filter');
      return this.activeAccount ? `${this.activeAccount}\n` : undefined;
    }
    // `services enable` takes one or more APIs, `services list` none, everything else exactly one resource.
    if (command === 'services enable' ? args.length === 0 : args.length !== (NO_ARGS.has(command) ? 0 : 1)) throw unknown('arguments');

    if (IAM_VERBS.includes(verb)) {
      const [key, missing] = this.iamTarget(group, arg, f, project, flag);
      gated(key.startsWith('account:') ? key.split('@')[1]!.split('.')[0]! : key.slice(key.indexOf(':') + 1).split('/')[0]!);
      const resource = need(key, missing);
      if (verb === 'get-iam-policy')
        return print({ ...(resource.policy.length ? { bindings: resource.policy } : {}), etag: 'BwYfake=', version: 1 });
      const member = flag('member');
      const role = flag('role');
      // A condition (`expression=...,title=...`) is accepted on project bindings, the only ones the plan conditions.
      const conditioned = group === 'projects' && typeof f.condition === 'string' && f.condition !== 'None';
      if (!group.startsWith('pubsub') && f.condition !== 'None' && !conditioned)
        throw new Answer(
          2,
          `ERROR: (${name}) Adding a binding without specifying a condition to a policy containing conditions is prohibited in non-interactive mode (fake cloud: pass --condition=None).`,
        );
      const condition = conditioned ? (map(f.condition) as { expression: string; title: string }) : undefined;
      if (condition && (!condition.expression || !condition.title))
        throw new Answer(2, `ERROR: (${name}) --condition needs expression and title`);
      const binding = resource.policy.find((b) => b.role === role && b.condition?.expression === condition?.expression);
      if (verb === 'remove-iam-policy-binding') {
        if (!binding?.members.includes(member)) throw fail('Policy binding with the specified principal, role, and condition not found!');
        binding.members = binding.members.filter((m) => m !== member);
        if (binding.members.length === 0) resource.policy.splice(resource.policy.indexOf(binding), 1);
        return print({ bindings: resource.policy });
      }
      const email = member.replace(/^serviceAccount:/, '');
      if (
        member.startsWith('serviceAccount:') &&
        email.endsWith('.iam.gserviceaccount.com') &&
        !email.includes('@gcp-sa-') &&
        !this.resources.has(`account:${email}`)
      ) {
        throw fail(`INVALID_ARGUMENT: Service account ${email} does not exist.`);
      }
      if (!binding) resource.policy.push({ role, members: [member], ...(condition ? { condition } : {}) });
      else if (!binding.members.includes(member)) binding.members.push(member);
      return print({ bindings: resource.policy });
    }

    switch (command) {
      case 'services list': {
        if (f.enabled !== true) throw unknown('services list without --enabled');
        const p = project();
        const number = this.resources.get(`project:${p}`)?.json.projectNumber ?? p;
        return print(
          [...(this.apis.get(p) ?? [])].map((a) => ({
            config: { name: a },
            name: `projects/${number}/services/${a}`,
            parent: `projects/${number}`,
            state: 'ENABLED',
          })),
        );
      }
      case 'services enable':
        if (args.some((a) => !a.endsWith('.googleapis.com'))) throw unknown('service');
        for (const a of args) this.apis.get(project())?.add(a);
        return;
      case 'projects describe': {
        const p = need(`project:${this.pid(arg)}`, `NOT_FOUND: Project ${arg} not found or permission denied.`).json;
        return f.format === 'value(projectNumber)' ? `${p.projectNumber}\n` : print(p);
      }
      case 'iam service-accounts create': {
        const p = project();
        gated(p);
        const email = `${arg}@${p}.iam.gserviceaccount.com`;
        if (this.resources.has(`account:${email}`))
          throw fail(
            `Resource in projects [${p}] is the subject of a conflict: Service account ${arg} already exists within project projects/${p}.`,
          );
        const json = {
          email,
          name: `projects/${p}/serviceAccounts/${email}`,
          projectId: p,
          uniqueId: String(100000 + this.resources.size),
          displayName: f['display-name'],
          description: f.description,
        };
        this.resources.set(`account:${email}`, { json, policy: [] });
        return print(json);
      }
    }
    if (command.startsWith('iam service-accounts')) {
      gated(project());
      const account = need(`account:${arg}`, 'NOT_FOUND: Unknown service account.');
      if (verb === 'describe') return print(account.json);
      if (verb === 'enable') delete account.json.disabled;
      else this.resources.delete(`account:${arg}`);
      return;
    }
    if (group === 'pubsub topics') {
      const p = project();
      gated(p);
      const key = `topic:${p}/${arg}`;
      if (verb === 'create') {
        absent(key, `Resource already exists in the project (resource=${arg}).`);
        this.resources.set(key, { json: { name: `projects/${p}/topics/${arg}`, labels: map(f.labels) }, policy: [] });
        return;
      }
      const topic = need(key, `NOT_FOUND: Resource not found (resource=${arg}).`);
      if (verb === 'describe') return print(topic.json);
      this.resources.delete(key);
      return;
    }
    if (group === 'pubsub subscriptions') {
      const p = project();
      gated(p);
      const key = `subscription:${p}/${arg}`;
      if (verb === 'create') {
        absent(key, `Resource already exists in the project (resource=${arg}).`);
        const topic = flag('topic');
        need(`topic:${p}/${topic}`, `NOT_FOUND: Resource not found (resource=${topic}).`);
        const json: Json = {
          name: `projects/${p}/subscriptions/${arg}`,
          topic: `projects/${p}/topics/${topic}`,
          pushConfig: {},
          ackDeadlineSeconds: 10,
          messageRetentionDuration: '604800s',
          expirationPolicy: { ttl: '2678400s' },
          labels: map(f.labels),
          state: 'ACTIVE',
        };
        this.resources.set(key, { json: this.subscriptionSettings(json, f, p, fail), policy: [] });
        return;
      }
      const subscription = need(key, `NOT_FOUND: Resource not found (resource=${arg}).`);
      if (verb === 'describe') return print(subscription.json);
      if (verb === 'update') this.subscriptionSettings(subscription.json, f, p, fail);
      else this.resources.delete(key);
      return;
    }
    if (group === 'run services') {
      const [key] = this.iamTarget(group, arg, f, project, flag);
      gated(key.slice(4).split('/')[0]!);
      const service = need(key, `Cannot find service [${arg}]`);
      if (verb === 'describe') return print(service.json);
      if (f['no-invoker-iam-check'] !== true) throw unknown('run services update without --no-invoker-iam-check');
      service.json.metadata.annotations['run.googleapis.com/invoker-iam-disabled'] = 'true';
      return;
    }
    if (group === 'functions') return this.functions(verb, arg, f, project(), flag, need, fail, gated, print);
    if (command.startsWith('firestore ')) {
      const p = project();
      gated(p);
      const database = flag('database');
      const key = `firestore:${p}/${database}`;
      const missing = `NOT_FOUND: Project '${p}' or database '${database}' does not exist.`;
      if (command === 'firestore databases describe') return print(need(key, missing).json);
      if (command === 'firestore databases create') {
        absent(key, `Database already exists: projects/${p}/databases/${database}`);
        const json = {
          name: `projects/${p}/databases/${database}`,
          locationId: flag('location'),
          type: f.type === 'datastore-mode' ? 'DATASTORE_MODE' : 'FIRESTORE_NATIVE',
          ttls: {} as Json,
        };
        this.resources.set(key, { json, policy: [] });
        return;
      }
      const db = need(key, missing).json;
      const group = flag('collection-group');
      if (command === 'firestore fields ttls list') {
        return print(
          Object.entries(db.ttls as Json)
            .filter(([g]) => g === group)
            .map(([g, field]) => ({
              name: `projects/${p}/databases/${database}/collectionGroups/${g}/fields/${field}`,
              ttlConfig: { state: 'ACTIVE' },
            })),
        );
      }
      if (f['enable-ttl'] !== true) throw unknown('ttls update without --enable-ttl');
      (db.ttls as Json)[group] = arg;
      return;
    }
    if (group.startsWith('scheduler jobs')) {
      const p = project();
      gated(p);
      const location = flag('location');
      const key = `job:${p}/${location}/${arg}`;
      if (command === 'scheduler jobs create pubsub') absent(key, `Job projects/${p}/locations/${location}/jobs/${arg} already exists.`);
      const job =
        command === 'scheduler jobs create pubsub'
          ? { json: { name: `projects/${p}/locations/${location}/jobs/${arg}`, state: 'ENABLED', pubsubTarget: {} } as Json, policy: [] }
          : need(key, 'NOT_FOUND: Job not found.');
      if (verb === 'describe') return print(job.json);
      if (verb === 'delete') return void this.resources.delete(key);
      const j = job.json;
      if (f.schedule !== undefined) j.schedule = flag('schedule');
      if (f['time-zone'] !== undefined) j.timeZone = flag('time-zone');
      if (f.description !== undefined) j.description = f.description;
      if (f.topic !== undefined) j.pubsubTarget.topicName = `projects/${p}/topics/${flag('topic')}`;
      if (f['message-body'] !== undefined) j.pubsubTarget.data = Buffer.from(flag('message-body')).toString('base64');
      if (f.attributes !== undefined) j.pubsubTarget.attributes = map(f.attributes);
      if (f['update-attributes'] !== undefined)
        j.pubsubTarget.attributes = { ...j.pubsubTarget.attributes, ...map(f['update-attributes']) };
      this.resources.set(key, job);
      return;
    }
    throw unknown('command');
  }

  /** The resource key an IAM command (or a `run services` command) acts on, and what gcloud says when it is missing. */
  private iamTarget(group: string, arg: string, f: Flags, project: () => string, flag: (k: string) => string): [string, string] {
    const full = /^projects\/([^/]+)\/locations\/([^/]+)\/services\/([^/]+)$/.exec(arg);
    switch (group) {
      case 'projects':
        return [`project:${this.pid(arg)}`, `NOT_FOUND: Project ${arg} not found or permission denied.`];
      case 'iam service-accounts':
        return [`account:${arg}`, 'NOT_FOUND: Unknown service account.'];
      case 'secrets':
        return [`secret:${project()}/${arg}`, `NOT_FOUND: Secret [projects/${f.project}/secrets/${arg}] not found.`];
      case 'pubsub topics':
        return [`topic:${project()}/${arg}`, `NOT_FOUND: Resource not found (resource=${arg}).`];
      case 'pubsub subscriptions':
        return [`subscription:${project()}/${arg}`, `NOT_FOUND: Resource not found (resource=${arg}).`];
    }
    const [p, region, service] = full ? [this.pid(full[1]!), full[2]!, full[3]!] : [project(), flag('region'), arg];
    return [
      `run:${p}/${region}/${service}`,
      `NOT_FOUND: Resource '${service}' of kind 'SERVICE' in region '${region}' in project '${p}' does not exist.`,
    ];
  }

  private subscriptionSettings(json: Json, f: Flags, project: string, fail: (m: string) => Answer): Json {
    const s = (k: string) => f[k] as string;
    if (f['ack-deadline'] !== undefined) json.ackDeadlineSeconds = Number(s('ack-deadline'));
    if (f['push-endpoint'] !== undefined)
      json.pushConfig = { ...json.pushConfig, pushEndpoint: s('push-endpoint'), attributes: { 'x-goog-version': 'v1' } };
    if (f['push-auth-service-account'] !== undefined)
      json.pushConfig.oidcToken = { ...json.pushConfig.oidcToken, serviceAccountEmail: s('push-auth-service-account') };
    if (f['push-auth-token-audience'] !== undefined)
      json.pushConfig.oidcToken = { ...json.pushConfig.oidcToken, audience: s('push-auth-token-audience') };
    if (f['min-retry-delay'] !== undefined || f['max-retry-delay'] !== undefined) {
      json.retryPolicy = {
        minimumBackoff: duration(s('min-retry-delay') ?? '10s'),
        maximumBackoff: duration(s('max-retry-delay') ?? '600s'),
      };
    }
    if (f['dead-letter-topic'] !== undefined) {
      if (!this.resources.has(`topic:${project}/${s('dead-letter-topic')}`))
        throw fail(`NOT_FOUND: Resource not found (resource=${s('dead-letter-topic')}).`);
      json.deadLetterPolicy = {
        deadLetterTopic: `projects/${project}/topics/${s('dead-letter-topic')}`,
        maxDeliveryAttempts: Number(s('max-delivery-attempts') ?? 5),
      };
    }
    if (f['expiration-period'] !== undefined)
      json.expirationPolicy = s('expiration-period') === 'never' ? {} : { ttl: duration(s('expiration-period')) };
    if (f['message-retention-duration'] !== undefined) json.messageRetentionDuration = duration(s('message-retention-duration'));
    return json;
  }

  private functions(
    verb: string,
    name: string,
    f: Flags,
    project: string,
    flag: (k: string) => string,
    need: (k: string, m: string) => Resource,
    fail: (m: string) => Answer,
    gated: (p: string) => void,
    print: (v: unknown) => string,
  ): string | void {
    if (f.gen2 !== true) throw new Answer(2, 'ERROR: (gcloud.functions) fake cloud: only --gen2 functions');
    gated(project);
    const region = flag('region');
    const key = `function:${project}/${region}/${name}`;
    const runKey = `run:${project}/${region}/${name}`;
    const missing = `ResponseError: status=[404], code=[Ok], message=[Function ${name} in region ${region} in project ${project} does not exist]`;
    if (verb === 'describe') return print(need(key, missing).json);
    if (verb === 'delete') {
      need(key, missing);
      this.resources.delete(key);
      this.resources.delete(runKey);
      return;
    }
    if (f['trigger-http'] !== true) throw new Answer(2, 'ERROR: (gcloud.functions.deploy) fake cloud: only --trigger-http functions');
    const number = this.resources.get(`project:${project}`)?.json.projectNumber ?? project;
    const account = flag('service-account');
    if (!this.resources.has(`account:${account}`))
      throw fail(`ResponseError: status=[400], code=[Ok], message=[Invalid function service account requested: ${account}]`);
    // gcloud's KEY=VALUE list, split on "," or on the separator a leading "^X^" names.
    const vars = (raw: string) => {
      const [separator, pairs] = raw.startsWith('^') ? [raw[1]!, raw.slice(3)] : [',', raw];
      return Object.fromEntries(
        pairs
          .split(separator)
          .filter(Boolean)
          .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
      );
    };
    const env = vars(flag('set-env-vars'));
    const buildEnv = vars(f['set-build-env-vars'] === undefined ? '' : flag('set-build-env-vars'));
    const secrets = Object.entries(map(f['set-secrets'])).map(([envName, ref]) => {
      const [, secretProject = project, secret, version] = /^(?:projects\/([^/]+)\/secrets\/)?([^:]+):(.+)$/.exec(ref) ?? [];
      const found = this.resources.get(`secret:${this.pid(secretProject)}/${secret}`);
      if (!found?.policy.some((b) => b.role === 'roles/secretmanager.secretAccessor' && b.members.includes(`serviceAccount:${account}`))) {
        throw fail(
          `OperationError: code=3, message=Could not create or update Cloud Run service ${name}, Permission denied on secret: projects/${secretProject}/secrets/${secret}/versions/${version} for Revision service account ${account}. The service account used must be granted the 'Secret Manager Secret Accessor' role (roles/secretmanager.secretAccessor) at the secret, project or higher level.`,
        );
      }
      return { key: envName, projectId: secretProject === project ? number : secretProject, secret, version };
    });
    const old = this.resources.get(key)?.json;
    const min = Number(flag('min-instances'));
    const json = {
      name: `projects/${project}/locations/${region}/functions/${name}`,
      environment: 'GEN_2',
      state: 'ACTIVE',
      labels: { ...old?.labels, 'deployment-tool': 'cli-gcloud', ...map(f['update-labels']) },
      buildConfig: {
        runtime: flag('runtime'),
        entryPoint: flag('entry-point'),
        source: { storageSource: { bucket: `gcf-v2-sources-${number}-${region}` } },
        ...(Object.keys(buildEnv).length > 0 ? { environmentVariables: buildEnv } : {}),
      },
      serviceConfig: {
        service: `projects/${project}/locations/${region}/services/${name}`,
        uri: `https://${name}-${number}.${region}.run.app`,
        serviceAccountEmail: account,
        availableMemory: flag('memory'),
        availableCpu: flag('cpu'),
        maxInstanceRequestConcurrency: Number(flag('concurrency')),
        timeoutSeconds: Number.parseInt(flag('timeout'), 10),
        ...(min > 0 ? { minInstanceCount: min } : {}),
        maxInstanceCount: Number(flag('max-instances')),
        ingressSettings: { all: 'ALLOW_ALL', 'internal-only': 'ALLOW_INTERNAL_ONLY', 'internal-and-gclb': 'ALLOW_INTERNAL_AND_GCLB' }[
          flag('ingress-settings')
        ],
        environmentVariables: { ...env, LOG_EXECUTION_ID: 'true' },
        ...(f['clear-secrets'] === true || secrets.length === 0 ? {} : { secretEnvironmentVariables: secrets }),
        allTrafficOnLatestRevision: true,
      },
      url: `https://${region}-${project}.cloudfunctions.net/${name}`,
    };
    this.resources.set(key, { json, policy: [] });
    const service = this.resources.get(runKey) ?? { json: { kind: 'Service', metadata: { name, annotations: {} } }, policy: [] };
    this.resources.set(runKey, service);
    const invokers = service.policy.find((b) => b.role === INVOKER);
    if (f['allow-unauthenticated'] === true && !invokers?.members.includes('allUsers')) {
      if (invokers) invokers.members.push('allUsers');
      else service.policy.push({ role: INVOKER, members: ['allUsers'] });
    }
    if (f['no-allow-unauthenticated'] === true && invokers) invokers.members = invokers.members.filter((m) => m !== 'allUsers');
    if (invokers && invokers.members.length === 0) service.policy.splice(service.policy.indexOf(invokers), 1);
  }

  /** A project id for a project number the fake knows; anything else as given. */
  private pid(project: string): string {
    for (const [key, r] of this.resources)
      if (key.startsWith('project:') && r.json.projectNumber === project) return r.json.projectId as string;
    return project;
  }
}
