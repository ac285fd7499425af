/**
 * The YAML parser, loaded on the first YAML config it reads: a JSON config
 * (the bench's, or any `.json`) never loads it. Synchronous, because the
 * config is read once at start-up before anything else runs.
 */
import { createRequire } from 'node:module';

type Yaml = typeof import('yaml');
let yaml: Yaml | undefined;

/** `yaml`'s `parse(text)`; throws its errors unchanged. */
export function parseYaml(text: string): unknown {
  yaml ??= createRequire(import.meta.url)('yaml') as Yaml;
  return yaml.parse(text);
}
