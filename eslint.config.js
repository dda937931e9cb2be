// Lint rules: typescript-eslint's recommended type-aware set, kept strict on floating promises
// because an unawaited promise in a server is a lost error.
import tseslint from 'typescript-eslint';
import { layersPlugin } from './eslint.layers.js';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'data/**', 'coverage/**', '**/*.js'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
    },
  },
  // Functions short enough to hold in one's head, as TigerBeetle keeps them; an exception is
  // marked where it stands, with the reason.
  {
    files: ['src/**/*.ts', 'bench/**/*.ts'],
    plugins: { ecom: layersPlugin },
    rules: {
      'ecom/layers': 'error',
      'max-lines-per-function': ['error', { max: 70, skipBlankLines: true, skipComments: true }],
      'ecom/indexed-non-null': 'error',
    },
  },
  // The Raft core is a pure state machine: no clock, no disk, no network, no environment. Its
  // effects leave through Ready and its randomness comes in through its options.
  {
    files: ['src/raft/core/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['node:*'], message: 'src/raft/core is pure: do I/O in the replica and pass results in (docs/architecture.md).' }] }],
      'no-restricted-globals': ['error', { name: 'process', message: 'src/raft/core is pure: take configuration through RaftOptions.' }],
    },
  },
  // The Raft driver runs in the replica and in the deterministic simulator alike: it does its I/O
  // and timing only through the parts plugged into it, so a seed replays exactly.
  {
    files: ['src/raft/driver/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['node:*'], message: 'src/raft/driver does I/O only through its interfaces (src/raft/driver/interfaces.ts).' }] }],
      'no-restricted-globals': [
        'error',
        ...['process', 'setTimeout', 'setInterval', 'setImmediate', 'queueMicrotask', 'Date'].map((name) => ({
          name,
          message: 'src/raft/driver schedules and reads time only through its Scheduler, so the simulator can run it deterministically.',
        })),
      ],
    },
  },
);
