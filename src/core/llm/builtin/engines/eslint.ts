import { createRequire } from 'node:module';
import type { ESLint, Linter } from 'eslint';

/**
 * ESLint run in memory: the `Linter` class with a flat config built here, no files read, no
 * config lookup, no plugin resolution from the reviewed repository. TypeScript goes through
 * typescript-eslint's parser (syntax only: no type information, no tsconfig); JavaScript through
 * espree, which is several times faster, falling back to the TypeScript parser when espree
 * refuses a file (it rejects some code TypeScript's parser accepts, e.g. redeclared bindings).
 * Loaded lazily, once per process (per worker thread).
 */

export type SourceKind = 'ts' | 'tsx' | 'js' | 'jsx' | 'cjs';

export interface EslintEngine {
  /** Lints one text; parsing failures come back as a fatal message, never as an exception. */
  lint(code: string, kind: SourceKind): Linter.LintMessage[];
}

const FILES = ['**/*.{js,jsx,cjs,ts,tsx}'];

/** Globals the eval rules look up through (`window.setTimeout("…")`); browser and Node code alike. */
const GLOBALS: Linter.Globals = Object.fromEntries(
  ['window', 'self', 'global', 'globalThis', 'setTimeout', 'setInterval', 'execScript', 'require', 'module', 'process', 'Buffer'].map((g) => [g, 'readonly' as const]),
);

/** The reviewed code must not be able to switch its reviewer off with eslint-disable comments. */
const LINTER_OPTIONS: Linter.Config['linterOptions'] = { noInlineConfig: true, reportUnusedDisableDirectives: 'off' };

let loading: Promise<EslintEngine> | null = null;
let ready: EslintEngine | null = null;

async function load(ruleIds: readonly string[]): Promise<EslintEngine> {
  const require = createRequire(import.meta.url);
  const { Linter } = await import('eslint');
  const tsParser = (await import('@typescript-eslint/parser')) as unknown as Linter.Parser;
  // No type declarations ship with the plugin; its shape is ESLint's plugin interface.
  const security = require('eslint-plugin-security') as ESLint.Plugin;
  const rules: Linter.RulesRecord = Object.fromEntries(ruleIds.map((id) => [id, 'warn' as const]));
  const base = { files: FILES, linterOptions: LINTER_OPTIONS, plugins: { security }, rules };
  const tsConfig: Linter.Config[] = [
    {
      ...base,
      languageOptions: {
        parser: tsParser,
        ecmaVersion: 'latest',
        sourceType: 'module',
        globals: GLOBALS,
        parserOptions: { jsDocParsingMode: 'none', warnOnUnsupportedTypeScriptVersion: false },
      },
    },
  ];
  const espree = (sourceType: 'module' | 'commonjs'): Linter.Config[] => [
    { ...base, languageOptions: { ecmaVersion: 'latest', sourceType, globals: GLOBALS, parserOptions: { ecmaFeatures: { jsx: true } } } },
  ];
  const espreeModule = espree('module');
  const espreeCommonJs = espree('commonjs');
  const linter = new Linter({ configType: 'flat' });
  const fatal = (messages: Linter.LintMessage[]) => messages.some((m) => m.fatal);
  return {
    lint(code, kind) {
      if (kind === 'ts' || kind === 'tsx') return linter.verify(code, tsConfig, { filename: `input.${kind}` });
      const first = linter.verify(code, kind === 'cjs' ? espreeCommonJs : espreeModule, { filename: `input.${kind}` });
      if (!fatal(first)) return first;
      // The TypeScript parser reads JavaScript too (JSX when the name says .tsx).
      return linter.verify(code, tsConfig, { filename: kind === 'jsx' ? 'input.tsx' : 'input.ts' });
    },
  };
}

/** Loads ESLint with these rules enabled (once per process; the rule set must not change). */
export async function loadEslint(ruleIds: readonly string[]): Promise<EslintEngine> {
  if (ready) return ready;
  loading ??= load(ruleIds).catch((e: unknown) => {
    loading = null; // a later review may try again
    throw e;
  });
  ready = await loading;
  return ready;
}
