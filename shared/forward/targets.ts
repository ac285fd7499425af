/**
 * Targets as the relay calls them: the config entry and the audience its ID
 * tokens are minted for, worked out once per config.
 */
import type { TargetConfig } from '../config/schema.js';

export interface ResolvedTarget {
  name: string;
  config: TargetConfig;
  /** The audience ID tokens are minted for. */
  audience: string;
}

/** The audience for a target: its `audience`, else its URL's origin. */
export function audienceOf(config: Pick<TargetConfig, 'url' | 'audience'>): string {
  return config.audience ?? new URL(config.url).origin;
}

/** One target with its audience. */
export function resolveTarget(name: string, config: TargetConfig): ResolvedTarget {
  return { name, config, audience: audienceOf(config) };
}

/** Every target of a config by name; a Map, so a name like `__proto__` finds nothing. */
export function resolveTargets(targets: Readonly<Record<string, TargetConfig>>): ReadonlyMap<string, ResolvedTarget> {
  return new Map(Object.entries(targets).map(([name, t]) => [name, resolveTarget(name, t)]));
}
