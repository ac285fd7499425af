/**
 * Who may call and read what: `roles/run.invoker` on each target's Cloud Run
 * service (for the runtime account, or the account it impersonates), the
 * by-hand grants deploy cannot make, and `secretAccessor` on each secret.
 */
import type { RelayConfig } from '../config/schema.js';
import { bindingStep, type ManualStep, type PlanContext, type Step } from './step.js';
import { manualInvokerGrant, serviceResource, targetService } from './target-service.js';
import { secretEnvs } from './validate.js';

const INVOKER = 'roles/run.invoker';

/** The project of `name@PROJECT.iam.gserviceaccount.com`; other accounts (default compute, ...) are looked up in `fallback`. */
function accountProject(email: string, fallback: string): string {
  return /^[^@]+@([a-z][-a-z0-9]+)\.iam\.gserviceaccount\.com$/.exec(email)?.[1] ?? fallback;
}

/** Invoker grants on the target services, impersonation grants, and the grants left to the operator (`cloudRun: manual`). */
export function targetAccessSteps(config: RelayConfig, ctx: PlanContext): { steps: Step[]; manual: ManualStep[] } {
  const { project, names, runtimeMember } = ctx;
  const steps: Step[] = [];
  const manual: ManualStep[] = [];
  // Invoker on each target service only; through an impersonated account, that account calls the target.
  for (const [name, target] of Object.entries(config.targets)) {
    const found = targetService(target, project);
    const caller = target.identity?.impersonate;
    const member = `serviceAccount:${caller ?? names.runtimeAccount}`;
    if (caller) {
      steps.push(
        bindingStep({
          id: `impersonate ${caller} for ${name}`,
          section: 'Target access',
          title: `The runtime account may mint ID tokens as ${caller}`,
          why: `targets.${name}.identity.impersonate: the relay asks IAM Credentials for ${caller}'s ID tokens (iam.serviceAccounts.getOpenIdToken on that account only).`,
          group: ['iam', 'service-accounts'],
          resource: [caller, `--project=${accountProject(caller, project)}`],
          role: 'roles/iam.serviceAccountOpenIdTokenCreator',
          member: runtimeMember,
        }),
      );
    }
    if (found.kind === 'manual') {
      manual.push({
        id: `invoker ${name}`,
        title: `Let ${caller ?? 'the runtime account'} invoke target "${name}" (${target.url})`,
        why: `targets.${name}.cloudRun is manual: deploy does not know which Cloud Run service this is. Fill in PROJECT (id or number), REGION and SERVICE.`,
        command: manualInvokerGrant(caller ?? names.runtimeAccount),
      });
      continue;
    }
    if (found.kind !== 'service') continue; // checkDeployable has refused it
    const s = found.service;
    steps.push(
      bindingStep({
        id: `invoker ${name}`,
        section: 'Target access',
        title: `${caller ?? 'The runtime account'} may invoke Cloud Run service ${s.service} (target "${name}")`,
        why: `The relay calls ${target.url} with an ID token for ${caller ?? 'its runtime account'}; Cloud Run lets it in only with ${INVOKER} on this service (${s.from === 'url' ? 'service, region and project read from the URL' : `targets.${name}.cloudRun`}).`,
        group: ['run', 'services'],
        resource: [serviceResource(s)],
        role: INVOKER,
        member,
      }),
    );
  }

  return { steps, manual };
}

/** One accessor grant per secret the routes read, and the `--set-secrets` entries mounting them. */
export function secretSteps(config: RelayConfig, ctx: PlanContext): { steps: Step[]; flags: string[] } {
  const { project, runtimeMember } = ctx;
  const steps: Step[] = [];
  const flags: string[] = [];
  // One grant per secret, however many variables mount versions of it.
  const bySecret = new Map<string, { secret: string; secretProject: string; uses: string[] }>();
  for (const [env, path] of secretEnvs(config)) {
    const ref = config.deploy.secrets[env] ?? env;
    const [id, version = 'latest'] = ref.split(':') as [string, string?];
    const match = /^projects\/([^/]+)\/secrets\/(.+)$/.exec(id);
    const secretProject = match ? match[1]! : project;
    const secret = match ? match[2]! : id;
    flags.push(`${env}=${match ? id : secret}:${version}`);
    const key = `${secretProject}/${secret}`;
    const entry = bySecret.get(key) ?? { secret, secretProject, uses: [] };
    entry.uses.push(`${env} (${path}, version ${version})`);
    bySecret.set(key, entry);
  }
  for (const { secret, secretProject, uses } of bySecret.values()) {
    steps.push({
      ...bindingStep({
        id: `secret ${secretProject}/${secret}`,
        section: 'Secrets',
        title: `The runtime account may read secret ${secret}${secretProject === project ? '' : ` in ${secretProject}`}`,
        why: `Mounted in both functions as ${uses.join(', ')}. The secret's value is yours to set: deploy never reads or writes it.`,
        group: ['secrets'],
        resource: [secret, `--project=${secretProject}`],
        role: 'roles/secretmanager.secretAccessor',
        member: runtimeMember,
      }),
      hint: `the secret must exist before deploy grants access to it: printf %s "$VALUE" | gcloud secrets create ${secret} --project=${secretProject} --replication-policy=automatic --data-file=-`,
    });
  }

  return { steps, flags };
}
