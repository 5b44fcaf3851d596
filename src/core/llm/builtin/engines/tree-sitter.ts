import { createRequire } from 'node:module';
import path from 'node:path';
import type { Language, Parser } from 'web-tree-sitter';

/**
 * tree-sitter for languages the TypeScript parser cannot read. web-tree-sitter is WebAssembly (no
 * native build, no install script) and the grammars are the prebuilt .wasm files shipped in the
 * @repomix/tree-sitter-wasms package (built with tree-sitter-cli 0.26, the ABI web-tree-sitter
 * 0.26+ loads; the older tree-sitter-wasms package is built with 0.20 and no longer loads).
 * Nothing is downloaded: runtime and grammars load from node_modules, lazily, once per process
 * (per worker thread), and only for the languages a review contains.
 */

export type Grammar = 'python' | 'go' | 'java' | 'ruby';

/** By extension, not by source.ts's Language: Kotlin and Scala are "java" there, but not to a Java parser. */
const GRAMMAR_BY_EXTENSION: Record<string, Grammar> = { py: 'python', pyi: 'python', go: 'go', java: 'java', rb: 'ruby' };

export function grammarFor(filePath: string): Grammar | null {
  const base = filePath.slice(filePath.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  return dot < 0 ? null : (GRAMMAR_BY_EXTENSION[base.slice(dot + 1).toLowerCase()] ?? null);
}

const require = createRequire(import.meta.url);

function grammarPath(g: Grammar): string {
  return path.join(path.dirname(require.resolve('@repomix/tree-sitter-wasms/package.json')), 'out', `tree-sitter-${g}.wasm`);
}

let runtime: Promise<typeof import('web-tree-sitter')> | null = null;
const loading = new Map<Grammar, Promise<Parser>>();
const ready = new Map<Grammar, Parser>();

async function loadRuntime(): Promise<typeof import('web-tree-sitter')> {
  const mod = await import('web-tree-sitter');
  await mod.Parser.init();
  return mod;
}

async function loadParser(g: Grammar): Promise<Parser> {
  runtime ??= loadRuntime();
  let mod: typeof import('web-tree-sitter');
  try {
    mod = await runtime;
  } catch (e) {
    runtime = null; // let a later review try again rather than fail forever
    throw e;
  }
  const language: Language = await mod.Language.load(grammarPath(g));
  const parser = new mod.Parser();
  parser.setLanguage(language);
  return parser;
}

/** Loads the grammars for these languages (each once per process); the parsers are then available synchronously. */
export async function loadGrammars(grammars: Iterable<Grammar>): Promise<void> {
  await Promise.all(
    [...new Set(grammars)].map(async (g) => {
      if (ready.has(g)) return;
      let p = loading.get(g);
      if (!p) {
        p = loadParser(g);
        loading.set(g, p);
        p.catch(() => loading.delete(g));
      }
      ready.set(g, await p);
    }),
  );
}

/** The loaded parser for a grammar; loadGrammars must have been awaited for it. */
export function parserFor(g: Grammar): Parser {
  const p = ready.get(g);
  if (!p) throw new Error(`tree-sitter grammar ${g} is not loaded`);
  return p;
}
