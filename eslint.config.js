// ESLint flat config: the recommended JavaScript and typescript-eslint rule
// sets (syntax only, no type information, so it stays fast), with
// eslint-config-prettier last so no rule argues with the formatter.
// Every linted file is TypeScript, where the compiler (not no-undef) checks
// names, so no globals are declared here.
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig(
  { ignores: ['dist/', 'coverage/', 'node_modules/', 'scratch/'] },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // `_`-prefixed names mark parameters a signature requires but the body ignores.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true },
      ],
      // `import { z }` pulls zod's whole `z` object into the bundle, every locale with it (0.46 MB of
      // the 1.49 MB deploy/bundle.ts wrote); `import * as z from 'zod'` lets esbuild keep what is used.
      'no-restricted-syntax': [
        'error',
        {
          selector: "ImportDeclaration[source.value='zod'][importKind='value'] > ImportSpecifier[imported.name='z'][importKind='value']",
          message: 'Use `import * as z from \'zod\'` (docs/bench.md, "Cold start").',
        },
      ],
    },
  },
  prettier,
);
