/**
 * Steps for durable de-duplication (`dedupe: { store: firestore }`): a
 * Firestore database of the relay's own, the TTL policy that expires its
 * keys, and the runtime account's access to that database only — a
 * project-level binding whose IAM condition names the database, so the
 * account holds no unconditioned project role.
 */
import type { RelayConfig } from '../config/schema.js';
export { usesDedupeStore } from '../config/dedupe-schema.js';
import type { Json, PlanContext, Step } from './step.js';

/** The field Firestore's TTL policy deletes documents by (see shared/dedupe/firestore-store.ts). */
export const TTL_FIELD = 'expireAt';
const ROLE = 'roles/datastore.user';

/** The IAM condition expression that limits a grant to one Firestore database. */
export function databaseCondition(project: string, database: string): string {
  return `resource.name=="projects/${project}/databases/${database}"`;
}

/** The database, its TTL policy and the conditioned grant, in that order. */
export function dedupeSteps(config: RelayConfig, ctx: PlanContext): Step[] {
  const { project, region, runtimeMember } = ctx;
  const { database, collection } = config.dedupeStore;
  const location = config.dedupeStore.location ?? region;
  const p = `--project=${project}`;
  const expression = databaseCondition(project, database);
  const title = `run-relay ${database}`;
  const condition = `--condition=expression=${expression},title=${title}`;
  /** The one conditioned binding, added on create and removed on destroy. */
  const binding = (verb: 'add' | 'remove') => [
    'projects',
    `${verb}-iam-policy-binding`,
    project,
    `--member=${runtimeMember}`,
    `--role=${ROLE}`,
    condition,
    '--quiet',
    '--format=none',
  ];
  const holds = (policy: unknown) =>
    (((policy as Json | undefined)?.bindings ?? []) as Json[]).some(
      (b) => b.role === ROLE && b.condition?.expression === expression && ((b.members ?? []) as string[]).includes(runtimeMember),
    );
  return [
    {
      id: `firestore database ${database}`,
      section: 'De-duplication',
      title: `Firestore database ${database} (${location})`,
      why: `dedupe: { store: firestore } keeps delivery keys here, in a database of the relay's own so its access can be granted on it alone. --destroy leaves it (delete it with \`gcloud firestore databases delete --database=${database}\`).`,
      read: ['firestore', 'databases', 'describe', `--database=${database}`, p, '--format=json'],
      compare: (current) => {
        if (current === undefined) return ['missing'];
        return (current as Json).type && (current as Json).type !== 'FIRESTORE_NATIVE'
          ? [`type is ${(current as Json).type}, want FIRESTORE_NATIVE`]
          : [];
      },
      blocking: (current) =>
        (current as Json | undefined)?.type && (current as Json).type !== 'FIRESTORE_NATIVE'
          ? `Database ${database} is in ${(current as Json).type}; name another one in dedupeStore.database`
          : undefined,
      create: [['firestore', 'databases', 'create', `--database=${database}`, `--location=${location}`, '--type=firestore-native', p]],
      hint: 'Needs firestore.googleapis.com enabled and a location Firestore offers (dedupeStore.location).',
    },
    {
      id: `firestore ttl ${database}/${collection}`,
      section: 'De-duplication',
      title: `TTL policy on ${collection}.${TTL_FIELD} in ${database}`,
      why: `Firestore deletes a key once its ${TTL_FIELD} passes (the dedupe window), usually within 24 hours; the relay ignores an expired key before then.`,
      read: ['firestore', 'fields', 'ttls', 'list', `--collection-group=${collection}`, `--database=${database}`, p, '--format=json'],
      compare: (current) => {
        const fields = (current as Json[] | undefined) ?? [];
        const field = fields.find((f) => String(f?.name ?? '').endsWith(`/collectionGroups/${collection}/fields/${TTL_FIELD}`));
        const state = field?.ttlConfig?.state;
        return state === 'ACTIVE' || state === 'CREATING' ? [] : [`no TTL policy on ${TTL_FIELD}`];
      },
      create: [
        [
          'firestore',
          'fields',
          'ttls',
          'update',
          TTL_FIELD,
          `--collection-group=${collection}`,
          `--database=${database}`,
          '--enable-ttl',
          '--async',
          p,
        ],
      ],
    },
    {
      id: `firestore access ${database}`,
      section: 'De-duplication',
      title: `The runtime account may read and write database ${database} only`,
      why: `${ROLE} on the project, conditioned on ${expression}: the runtime account reaches no other database.`,
      read: ['projects', 'get-iam-policy', project, '--format=json'],
      compare: (current) => (holds(current) ? [] : [`${runtimeMember} does not hold ${ROLE} on database ${database}`]),
      create: [binding('add')],
      destroy: {
        commands: [binding('remove')],
        owned: holds,
        notOwned: 'gone',
      },
    },
  ];
}
