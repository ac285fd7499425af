/**
 * Runs once before the suite: builds the project as `npm run build` does
 * (tsc, then the functions' bundle and its code cache), because the entry-point tests start the
 * Functions Framework on `dist/` exactly as production does.
 */
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildFunctions } from '../../deploy/bundle.js';

export default async function setup(): Promise<void> {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { stdio: 'inherit' });
  await buildFunctions(resolve(dirname(fileURLToPath(import.meta.url)), '../..'));
}
