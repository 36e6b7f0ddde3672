// ESLint (flat config) with typescript-eslint's recommended rules, over the TypeScript sources and
// tests and the JavaScript scripts; formatting is prettier's job (npm run lint runs both).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'testdata/**', 'packages/rados/build/**', 'data/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node, ...globals.jest } },
    rules: {
      // unused arguments named _x are deliberate (callbacks with a fixed shape)
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
      'no-constant-condition': ['error', { checkLoops: false }],
      // IMAP and mail syntax is about control characters: regular expressions name them on purpose
      'no-control-regex': 'off',
      // no source line over 120 characters, whatever it holds (strings, regular expressions, URLs)
      'max-len': ['error', { code: 120 }],
    },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
