/**
 * Diffs for the cluster, load and chaos suites. Built-in reviewers are deterministic: the same diff
 * always gives the same findings, which is how "no duplicated, no lost finding" is checked.
 */

function generatedFile(i: number, lines = 78): string {
  const out = [`import { db } from '../db';`, ''];
  if (i % 10 === 0) {
    out.push(`export function find${i}(name: string) {`, `  return db.query("SELECT id FROM users WHERE name = '" + name + "'");`, '}', '');
  }
  for (let f = 0; out.length < lines; f++) {
    out.push(`export function compute${i}_${f}(a: number, b: number): number {`, `  const s = a * ${f + 1} + b;`, `  return s > ${f} ? s - b : s + a;`, '}', '');
  }
  return out.join('\n') + '\n';
}

/** `files` new TypeScript files (~80 lines each, every tenth with SQL built by concatenation). */
export function generatedDiff(files: number, prefix = 'src/gen', linesPerFile = 78): string {
  const out: string[] = [];
  for (let i = 0; i < files; i++) {
    const body = generatedFile(i, linesPerFile).slice(0, -1).split('\n');
    const f = `${prefix}/m${i}.ts`;
    out.push(`diff --git a/${f} b/${f}`, 'new file mode 100644', '--- /dev/null', `+++ b/${f}`, `@@ -0,0 +1,${body.length} @@`, ...body.map((l) => `+${l}`));
  }
  return out.join('\n') + '\n';
}

/** A review-sized change (a handful of files, a few hundred lines) with known problems; `variant` varies paths. */
export function smallDiff(variant: number, files = 6): string {
  return generatedDiff(files, `src/v${variant}`, 60);
}
