/**
 * What `gcloud functions deploy --source` uploads, and its hash. The hash is
 * kept in a label on each function, so a re-run with the same source and
 * settings skips the (minutes-long) build.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

/** Used when the source has no `.gcloudignore` (gcloud then skips at least these). */
const DEFAULT_IGNORES = ['/.git', '/.gcloudignore', 'node_modules'];

/** One `.gcloudignore` line as a test of a "/"-separated relative path. */
function rule(line: string): (path: string) => boolean {
  const anchored = line.startsWith('/');
  const pattern = line.replace(/^\//, '').replace(/\/$/, '');
  if (pattern.includes('/') || line.startsWith('!'))
    throw new Error(`.gcloudignore: "${line}" is not supported by run-relay deploy (use plain names, /names and * globs)`);
  const glob = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '[^/]*')
      .replace(/\?/g, '[^/]')}$`,
  );
  return (path) => {
    const parts = path.split('/');
    return anchored ? glob.test(parts[0]!) : parts.some((part) => glob.test(part));
  };
}

/** The ignore rules of `root`'s `.gcloudignore` (comments and blank lines skipped). */
export function ignoreRules(root: string): ((path: string) => boolean)[] {
  const file = join(root, '.gcloudignore');
  const lines = existsSync(file) ? readFileSync(file, 'utf8').split('\n') : DEFAULT_IGNORES;
  return lines
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map(rule);
}

/** True when `path` (relative to `root`, "/"-separated) is uploaded. */
export function isShipped(root: string, path: string, rules = ignoreRules(root)): boolean {
  return !rules.some((ignored) => ignored(path));
}

/** The files uploaded from `root`, relative and "/"-separated, sorted. */
export function shippedFiles(root: string): string[] {
  const rules = ignoreRules(root);
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, entry.name);
      const path = relative(root, full).split(sep).join('/');
      if (!isShipped(root, path, rules)) continue;
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile()) files.push(path);
    }
  };
  walk(root);
  return files.sort();
}

/** A short hash of every shipped file's path and bytes: equal sources, equal hashes. */
export function sourceHash(root: string): string {
  const hash = createHash('sha256');
  for (const path of shippedFiles(root)) {
    hash
      .update(path)
      .update('\0')
      .update(readFileSync(join(root, path)))
      .update('\0');
  }
  return hash.digest('hex').slice(0, 16);
}
