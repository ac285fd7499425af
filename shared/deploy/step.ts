/**
 * One step of a deployment plan: what it wants to exist, how to read what
 * does, how to create, update and remove it. Every step is create-or-update:
 * `compare` decides whether anything needs doing at all.
 */
import type { Command } from './command.js';
import type { DeployNames } from './names.js';

export type Section =
  'APIs' | 'Identity' | 'Target access' | 'Secrets' | 'Topics' | 'Functions' | 'Delivery' | 'De-duplication' | 'Schedules';

export interface Step {
  /** Stable and unique within a plan, e.g. `topic relay-deliveries`. */
  id: string;
  section: Section;
  /** What exists once the step has run, e.g. "Topic relay-deliveries". */
  title: string;
  /** Why the relay needs it (who can do what). */
  why: string;
  /** Reads the current state as JSON. A "not found" answer means the thing is missing. */
  read: Command;
  /**
   * What differs between the current state (`undefined`: missing) and the
   * plan; an empty list means the step has nothing to do.
   */
  compare(current: unknown): string[];
  /** Run when the thing is missing. */
  create: Command[];
  /** Run when it exists but differs; default `create` (for commands that are updates anyway). */
  update?: Command[];
  /** Printed with a failure of this step: the usual cause and its fix. */
  hint?: string;
  /** Differences `update` cannot fix: the operator must act (the message says how). */
  blocking?(current: unknown): string | undefined;
  /** Removes what `create` made. Absent: `--destroy` leaves it (APIs, things the relay did not create). */
  destroy?: {
    commands: Command[];
    /** When given, only a current state this accepts is removed (e.g. topics labelled as the relay's). */
    owned?(current: unknown): boolean;
    /** What a state `owned` refuses means: `kept` (someone else's, left alone; default) or `gone` (nothing to remove). */
    notOwned?: 'kept' | 'gone';
    /** Say what a removal loses, in the printed destroy plan. */
    warning?: string;
    /** Kept unless `--destroy` is also given `--delete-dead-letters`: parked messages live here. */
    deadLetters?: boolean;
  };
}

/** What every part of a plan shares: where it deploys, the names, and the members it grants to. */
export interface PlanContext {
  project: string;
  projectNumber: string;
  region: string;
  names: DeployNames;
  /** The owner label, `run-relay=<deploy.name>`. */
  label: string;
  /** `serviceAccount:<runtime account>`. */
  runtimeMember: string;
  /** `serviceAccount:` Pub/Sub's service agent of the project. */
  pubsubServiceAgent: string;
  /** Ack deadline of the push subscriptions, in seconds. */
  ackDeadline: number;
}

/** Something the plan cannot do for the operator: printed, never run. */
export interface ManualStep {
  id: string;
  title: string;
  why: string;
  command: Command;
}

export interface Plan {
  project: string;
  projectNumber: string;
  region: string;
  steps: Step[];
  manual: ManualStep[];
  /** Lines printed above the plan: derived settings worth knowing. */
  notes: string[];
}

/** gcloud's JSON output, read defensively by each step's compare. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = Record<string, any>;

/** True for a resource carrying the owner label `label` (`run-relay=<name>`): what `--destroy` may remove. */
export function ownedBy(label: string): (current: unknown) => boolean {
  const [key, value] = label.split('=') as [string, string];
  return (current) => (((current as Json | undefined)?.labels ?? {}) as Record<string, string>)[key] === value;
}

/** An IAM policy as `get-iam-policy --format=json` prints it. */
interface Policy {
  bindings?: { role?: string; members?: string[]; condition?: unknown }[];
}

/** True when `policy` grants `role` to `member` without a condition. */
export function hasBinding(policy: unknown, role: string, member: string): boolean {
  const bindings = (policy as Policy | undefined)?.bindings ?? [];
  return bindings.some((b) => b.role === role && !b.condition && (b.members ?? []).includes(member));
}

/**
 * A step granting `role` to `member` on one resource. `target` is the
 * resource argument(s) every command shares, e.g.
 * `['pubsub', 'topics', …, 'relay-deliveries', '--project=p']` split as
 * `group` (the command group) and `resource` (positional and scoping flags).
 */
export function bindingStep(options: {
  id: string;
  section: Section;
  title: string;
  why: string;
  group: string[];
  resource: string[];
  role: string;
  member: string;
}): Step {
  const { group, resource, role, member } = options;
  // Pub/Sub's binding commands know no conditions; the others prompt about them unless told.
  const grant = ['--member=' + member, '--role=' + role, ...(group[0] === 'pubsub' ? [] : ['--condition=None'])];
  return {
    id: options.id,
    section: options.section,
    title: options.title,
    why: options.why,
    read: [...group, 'get-iam-policy', ...resource, '--format=json'],
    compare: (current) => (hasBinding(current, role, member) ? [] : [`${member} does not hold ${role}`]),
    create: [[...group, 'add-iam-policy-binding', ...resource, ...grant, '--quiet', '--format=none']],
    destroy: {
      commands: [[...group, 'remove-iam-policy-binding', ...resource, ...grant, '--quiet', '--format=none']],
      owned: (current: unknown) => hasBinding(current, role, member),
      notOwned: 'gone',
    },
  };
}
