// @ts-check
// typescript-eslint needs TypeScript's JS API, which TypeScript 7 no longer has: `typescript` is the
// TS 6 package (npm:@typescript/typescript6, API only, for this linter) and `tsc` is TS 7 (npm:typescript@7
// as @typescript/native), the side-by-side setup of the TypeScript 7.0 release notes.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
    { ignores: ['node_modules/', 'dist/', 'out/', '.vite/', 'native/.work/', 'test-results/', 'test/tmp/', 'bench/results/'] },
    js.configs.recommended,
    tseslint.configs.recommendedTypeChecked,
    {
        languageOptions: {
            parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
        },
        linterOptions: { reportUnusedDisableDirectives: 'error' },
        rules: {
            // Interfaces say `name: (…) => …` for callbacks and actions, so passing them around keeps no `this`.
            '@typescript-eslint/method-signature-style': ['error', 'property'],
            // A value that may be missing is checked, not asserted away.
            '@typescript-eslint/no-non-null-assertion': 'error',
            // Handlers implement an async contract; many of them answer at once.
            '@typescript-eslint/require-await': 'off',
            // node:test's describe() and test() return promises the runner awaits itself.
            '@typescript-eslint/no-floating-promises': ['error', { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'test', 'suite', 'it'] }] }],
        },
    },
    { files: ['**/*.js'], extends: [tseslint.configs.disableTypeChecked] },
);
