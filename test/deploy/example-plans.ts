/** The example configs' plans, built the way `run-relay deploy` builds them, for the deploy tests. */
import { fileURLToPath } from 'node:url';
import { readConfigFile, validateConfig } from '../../shared/config/load.js';
import type { RelayConfig } from '../../shared/config/schema.js';
import { printPlan } from '../../shared/cli/deploy.js';
import { planDeployment, type PlanOptions } from '../../shared/deploy/plan.js';
import type { Plan } from '../../shared/deploy/step.js';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));

export const EXAMPLES = {
  template: { configPath: 'relay.config.yaml', project: 'my-proj', projectNumber: '123456789012', region: 'us-central1' },
  full: { configPath: 'deploy/examples/relay.config.yaml', project: 'shop-prod', projectNumber: '123456789012', region: 'europe-west1' },
} as const;

export function exampleConfig(name: keyof typeof EXAMPLES): RelayConfig {
  const path = `${REPO}${EXAMPLES[name].configPath}`;
  return validateConfig(readConfigFile(path), path);
}

/** A fixed source hash keeps snapshots independent of the checkout. */
export function examplePlan(name: keyof typeof EXAMPLES, extra: Partial<PlanOptions> = {}): Plan {
  return planDeployment(exampleConfig(name), { ...EXAMPLES[name], sourceHash: 'abc123', ...extra });
}

export function printed(plan: Plan, header = 'example'): string {
  const lines: string[] = [];
  printPlan(plan, (line) => lines.push(line), header);
  return lines.join('\n') + '\n';
}
