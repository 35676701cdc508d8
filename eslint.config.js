import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'dist/',
      'packages/*/dist/',
      'node_modules/',
      '.keyward/',
      '.tap/',
      'scratch/',
      'test-artifacts/',
      'coverage/',
      'clients/typescript/keyward.d.ts',
      // A verbatim copy of postgres.js (plus one guard): kept byte-equal to the release, not restyled.
      'packages/postgres-guarded/*.js',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['src/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'error' },
  },
  {
    // The dashboard's browser modules (plain JavaScript, no build step).
    files: ['src/dashboard/public/**/*.js'],
    languageOptions: {
      sourceType: 'module',
      globals: Object.fromEntries(
        [
          'window',
          'document',
          'location',
          'localStorage',
          'navigator',
          'fetch',
          'setTimeout',
          'clearTimeout',
          'setInterval',
          'clearInterval',
          'URL',
          'URLSearchParams',
          'Intl',
          'CSS',
          'Node',
          'HTMLElement',
          'console',
        ].map((name) => [name, 'readonly']),
      ),
    },
  },
  {
    // Plain Node.js scripts (CI).
    files: ['scripts/**/*.mjs', '.ci/**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
);
