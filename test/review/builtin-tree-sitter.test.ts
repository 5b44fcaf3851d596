import { describe, expect, it } from 'vitest';
import { BUILTIN_RULES, runBuiltinReviewer, type FileContents } from '../../src/core/llm/builtin/index.js';
import type { DiffFile } from '../../src/core/review/diff.js';
import { changedFile, newFile } from './diff-builder.js';

async function maintainability(file: DiffFile, contents?: FileContents) {
  return runBuiltinReviewer('maintainability', [file], contents);
}

async function rules(file: DiffFile, contents?: FileContents): Promise<string[]> {
  return (await maintainability(file, contents)).map((f) => f.rule ?? '');
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** One function per language with `n` extra decision points (complexity n + 1). */
const branchy = {
  python: (n: number) => ['def classify(x):', ...range(n).map((i) => `    if x == ${i}:\n        return ${i}`.split('\n')).flat(), '    return -1'],
  go: (n: number) => ['package p', '', 'func classify(x int) int {', ...range(n).map((i) => `\tif x == ${i} {\n\t\treturn ${i}\n\t}`.split('\n')).flat(), '\treturn -1', '}'],
  java: (n: number) => ['class C {', '  int classify(int x) {', ...range(n).map((i) => `    if (x == ${i}) return ${i};`), '    return -1;', '  }', '}'],
  ruby: (n: number) => ['def classify(x)', ...range(n).map((i) => `  return ${i} if x == ${i}`), '  -1', 'end'],
};
const paths = { python: 'app/classify.py', go: 'pkg/classify.go', java: 'src/main/java/C.java', ruby: 'lib/classify.rb' } as const;

describe('tree-sitter function metrics', () => {
  it.each(Object.keys(branchy) as Array<keyof typeof branchy>)('%s: complexity above the limit is reported, at the limit it is not', async (lang) => {
    const over = await maintainability(newFile(paths[lang], branchy[lang](15)));
    const f = over.find((x) => x.rule === 'tree-sitter:complexity');
    expect(f, `got ${over.map((x) => x.rule).join(', ')}`).toBeDefined();
    expect(f?.detail).toBe('`classify` has cyclomatic complexity 16 (limit 15).');
    expect(f?.severity).toBe(3);
    expect(await rules(newFile(paths[lang], branchy[lang](14)))).toEqual([]);
  });

  it('counts every kind of decision point (Python)', async () => {
    // 1 + if + and + elif + for + while + except + conditional + comprehension for + its if + case × 2 = 12, plus 4 ifs = 16
    const lines = [
      'def f(x, ys):',
      '    if x and ys:',
      '        pass',
      '    elif x:',
      '        pass',
      '    for y in ys:',
      '        pass',
      '    while x:',
      '        x -= 1',
      '    try:',
      '        g()',
      '    except ValueError:',
      '        pass',
      '    z = 1 if x else 2',
      '    w = [y for y in ys if y]',
      '    match x:',
      '        case 1:',
      '            pass',
      '        case _:',
      '            pass',
      ...range(4).map((i) => `    if x == ${i}: pass`),
      '    return z',
    ];
    const [f] = await maintainability(newFile('app/f.py', lines));
    expect(f?.detail).toBe('`f` has cyclomatic complexity 16 (limit 15).');
  });

  it('counts && / || chains and switch cases but not default (Go, Java)', async () => {
    const go = ['package p', 'func f(a, b, c bool, n int) int {', ...range(3).map(() => '\tif a && b || c {\n\t}'.split('\n')).flat(), '\tswitch n {', ...range(6).map((i) => `\tcase ${i}:\n\t\treturn ${i}`.split('\n')).flat(), '\tdefault:', '\t\treturn 0', '\t}', '\treturn 1', '}'];
    // 1 + 3 × (if + && + ||) + 6 cases = 16
    expect((await maintainability(newFile('p/f.go', go))).map((f) => f.detail)).toEqual(['`f` has cyclomatic complexity 16 (limit 15).']);
    const java = ['class A {', '  int f(boolean a, boolean b, int n) {', ...range(3).map(() => '    if (a && b || a) {}'), '    switch (n) {', ...range(6).map((i) => `      case ${i}: return ${i};`), '      default: return 0;', '    }', '  }', '}'];
    expect((await maintainability(newFile('src/A.java', java))).map((f) => f.detail)).toEqual(['`f` has cyclomatic complexity 16 (limit 15).']);
  });

  it('measures nested functions on their own', async () => {
    const lines = ['def outer(x):', '    def inner(y):', ...range(15).map((i) => `        if y == ${i}: return ${i}`), '        return 0', '    return inner(x)'];
    const found = await maintainability(newFile('app/n.py', lines));
    expect(found.map((f) => f.detail)).toEqual(['`inner` has cyclomatic complexity 16 (limit 15).']);
  });

  it.each([
    ['python', 'app/long.py', ['def long_one():', ...range(85).map((i) => `    v${i} = ${i}`), '    return 0']],
    ['go', 'pkg/long.go', ['package p', 'func longOne() int {', ...range(85).map((i) => `\tv${i} := ${i}`), '\treturn 0', '}']],
    ['java', 'src/Long.java', ['class L {', '  void longOne() {', ...range(85).map((i) => `    int v${i} = ${i};`), '  }', '}']],
    ['ruby', 'lib/long.rb', ['def long_one', ...range(85).map((i) => `  v${i} = ${i}`), 'end']],
  ])('%s: a function with more than 80 added lines is too long', async (_lang, path, lines) => {
    const found = await maintainability(newFile(path, lines));
    const f = found.find((x) => x.rule === 'tree-sitter:function-length');
    expect(f, `got ${found.map((x) => x.rule).join(', ')}`).toBeDefined();
    expect(f?.detail).toMatch(/^`long_?[oO]ne` has 8[678] added lines \(limit 80\)\.$/);
  });

  it.each([
    ['python', 'app/deep.py', ['def deep(a):', '    for x in a:', '        if x:', '            while x:', '                with open(x) as f:', '                    if f:', '                        if x:', '                            go()']],
    ['go', 'p/deep.go', ['package p', 'func deep(a []int) {', '\tfor _, x := range a {', '\t\tif x > 0 {', '\t\t\tfor x > 1 {', '\t\t\t\tswitch x {', '\t\t\t\tcase 2:', '\t\t\t\t\tif x == 2 {', '\t\t\t\t\t\tgo()', '\t\t\t\t\t}', '\t\t\t\t}', '\t\t\t}', '\t\t}', '\t}', '}']],
    ['java', 'src/Deep.java', ['class D {', '  void deep(int[] a) {', '    for (int x : a) { if (x > 0) { while (x > 1) { try { if (x == 2) { go(); } } finally {} } } }', '  }', '}']],
    ['ruby', 'lib/deep.rb', ['def deep(a)', '  a.each do |x|', '    if x', '      while x', '        case x', '        when 1', '          if x', '            unless y', '              go', '            end', '          end', '        end', '      end', '    end', '  end', 'end']],
  ])('%s: control flow nested past 4 levels is reported once', async (_lang, path, lines) => {
    const found = (await rules(newFile(path, lines))).filter((r) => r === 'tree-sitter:deep-nesting');
    expect(found).toEqual(['tree-sitter:deep-nesting']);
  });

  it('does not count else-if chains as nesting (Go, Java)', async () => {
    const chain = ['package p', 'func f(x int) int {', '\tif x == 0 {', '\t\treturn 0', ...range(6).map((i) => `\t} else if x == ${i + 1} {\n\t\treturn ${i}`.split('\n')).flat(), '\t}', '\treturn 1', '}'];
    expect(await rules(newFile('p/chain.go', chain))).toEqual([]);
    const java = ['class A {', '  int f(int x) {', '    if (x == 0) { return 0; }', ...range(6).map((i) => `    else if (x == ${i + 1}) { return ${i}; }`), '    return 1;', '  }', '}'];
    expect(await rules(newFile('src/A.java', java))).toEqual([]);
  });

  it.each([
    ['app/ok.py', ['def price(n):', '    if n < 0:', '        raise ValueError(n)', '    return n * 2']],
    ['pkg/ok.go', ['package pkg', '', 'func Price(n int) (int, error) {', '\tif n < 0 {', '\t\treturn 0, errNegative', '\t}', '\treturn n * 2, nil', '}']],
    ['src/Ok.java', ['class Ok {', '  int price(int n) {', '    return n < 0 ? 0 : n * 2;', '  }', '}']],
    ['lib/ok.rb', ['def price(n)', '  raise ArgumentError if n.negative?', '  n * 2', 'end']],
  ])('stays quiet on ordinary code: %s', async (path, lines) => {
    expect(await rules(newFile(path, lines))).toEqual([]);
  });

  it('ignores a complex function with no added line', async () => {
    const file = changedFile('app/c.py', 1, branchy.python(20), ['', 'X = 1']);
    expect(await rules(file)).toEqual([]);
  });

  it('measures the whole changed function when the new file is known, not just the hunk', async () => {
    const whole = [...branchy.python(14), ''];
    // One more branch added near the end: the function now has complexity 16, but its `def` is
    // 28 lines above the hunk, which holds only the last lines.
    const added = ['    if x == 99:', '        return 99'];
    const next = [...whole.slice(0, 29), ...added, ...whole.slice(29)];
    const file = changedFile('app/c.py', 27, whole.slice(26, 29), added);
    expect(await rules(file)).toEqual([]);
    const found = await maintainability(file, new Map([['app/c.py', next.join('\n')]]));
    expect(found.map((f) => [f.rule, f.lineStart, f.detail])).toEqual([['tree-sitter:complexity', 1, '`classify` has cyclomatic complexity 16 (limit 15).']]);
  });

  it('parses a Python hunk taken from inside a function body', async () => {
    const nested = ['        for x in xs:', '            if x:', '                while x:', '                    if y:', '                        try:', '                            go()', '                        finally:', '                            pass'];
    const file = changedFile('app/m.py', 40, ['    def handler(self, xs):', '        y = 1'], nested);
    expect(await rules(file)).toContain('tree-sitter:deep-nesting');
  });

  it('does not parse Kotlin or Scala with the Java grammar', async () => {
    expect(await rules(newFile('src/A.kt', branchy.java(20)))).toEqual([]);
  });

  it('catalogues its rules for SARIF, with the JS/TS rules\' severities', () => {
    expect(BUILTIN_RULES.get('tree-sitter:complexity')?.severity).toBe(BUILTIN_RULES.get('maintainability/high-complexity')?.severity);
    expect(BUILTIN_RULES.get('tree-sitter:function-length')?.severity).toBe(BUILTIN_RULES.get('maintainability/long-function')?.severity);
    expect(BUILTIN_RULES.get('tree-sitter:deep-nesting')?.category).toBe('maintainability');
  });

  it('rates very complex functions higher', async () => {
    const [f] = await maintainability(newFile(paths.go, branchy.go(31)));
    expect([f?.rule, f?.severity]).toEqual(['tree-sitter:complexity', 4]);
  });
});
