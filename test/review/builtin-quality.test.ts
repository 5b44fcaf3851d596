import { describe, expect, it } from 'vitest';
import { BUILTIN_PERSONA_NAMES, BUILTIN_RULES, runBuiltinPanel, runBuiltinReviewer } from '../../src/core/llm/builtin/index.js';
import type { DiffFile } from '../../src/core/review/diff.js';
import { RawFindingSchema } from '../../src/core/review/finding.schemas.js';
import type { Persona } from '../../src/core/review/types.js';
import { changedFile, newFile } from './diff-builder.js';

async function rules(persona: Persona, ...files: DiffFile[]): Promise<string[]> {
  return (await runBuiltinReviewer(persona, files)).map((f) => f.rule ?? '');
}

describe('correctness', () => {
  it.each([
    ['correctness/empty-catch', ['try {', '  run();', '} catch (e) {}']],
    ['correctness/empty-catch', ['load().catch(() => {});']],
    ['correctness/floating-promise', ['fetchUser(id).then((u) => render(u));']],
    ['correctness/floating-promise', ['async function save() { await db.write(); }', 'function onClick() {', '  save();', '}']],
    ['correctness/return-without-await-in-try', ['async function get() {', '  try {', '    return fetch(url);', '  } catch (e) {', '    return null;', '  }', '}']],
    ['correctness/assignment-in-condition', ['if (user = findUser(id)) {', '  greet(user);', '}']],
    ['correctness/unreachable-code', ['function f() {', '  return 1;', '  cleanup();', '}']],
    ['correctness/nan-comparison', ['if (value === NaN) reset();']],
    ['correctness/invalid-typeof', ["if (typeof cb === 'fucntion') cb();"]],
    ['correctness/loose-equality', ["if (count == 0) return;"]],
  ])('%s', async (rule, lines) => {
    expect(await rules('correctness', newFile('src/a.ts', lines))).toContain(rule);
  });

  it.each([
    [['try {', '  run();', '} catch {', '  // best effort: the cache is optional', '}']],
    [['fetchUser(id).then(render).catch(report);']],
    [['await fetchUser(id).then(render);']],
    [['if ((m = re.exec(s))) use(m);']],
    [['function f() {', '  return g();', '  function g() { return 1; }', '}']],
    [['if (value == null) return;']],
    [["if (typeof cb === 'function') cb();"]],
    [['async function get() {', '  try {', '    return await fetch(url);', '  } catch {', '    return null;', '  }', '}']],
  ])('stays quiet on %j', async (lines) => {
    expect(await rules('correctness', newFile('src/a.ts', lines))).toEqual([]);
  });

  it('only reports added lines of a modified file, with the right line numbers', async () => {
    const file = changedFile('src/a.ts', 40, ['function f() {', '  try { a(); } catch (e) {}'], ['  if (x = 1) g();', '}']);
    const findings = await runBuiltinReviewer('correctness', [file]);
    expect(findings.map((f) => [f.rule, f.lineStart])).toEqual([['correctness/assignment-in-condition', 42]]);
  });

  it('parses hunks inside a class body', async () => {
    const file = changedFile('src/a.ts', 10, ['export class A {'], ['  private run(): void {', '    try { go(); } catch (e) {}', '  }']);
    expect(await rules('correctness', file)).toEqual(['correctness/empty-catch']);
  });

  it('checks Python too', async () => {
    const file = newFile('app/a.py', ['def f(items=[]):', '    try:', '        go()', '    except Exception:', '        pass']);
    expect(await rules('correctness', file)).toEqual(['correctness/py-mutable-default', 'correctness/py-swallowed-exception']);
  });
});

describe('performance', () => {
  it.each([
    ['performance/await-in-loop', ['for (const id of ids) {', '  await load(id);', '}']],
    ['performance/sync-io-in-handler', ["app.get('/x', (req, res) => {", "  res.send(fs.readFileSync('x.html', 'utf8'));", '});']],
    ['performance/nested-loop-same-collection', ['for (const a of users) {', '  for (const b of users) {', '    if (a.email === b.email) dup(a);', '  }', '}']],
    ['performance/nested-loop-same-collection', ['users.forEach((a) => {', '  users.forEach((b) => cmp(a, b));', '});']],
    ['performance/select-star', ['const q = "SELECT * FROM orders WHERE id = $1";']],
    ['performance/regex-in-loop', ['for (const w of words) {', "  if (new RegExp(w, 'i').test(text)) hit();", '}']],
  ])('%s', async (rule, lines) => {
    expect(await rules('performance', newFile('src/a.ts', lines))).toContain(rule);
  });

  it.each([
    [['for await (const chunk of stream) {', '  await write(chunk);', '}']],
    [['for (const x of await loadAll()) {', '  use(x);', '}']],
    [['await Promise.all(ids.map(async (id) => await load(id)));']],
    [["const config = readFileSync('config.json', 'utf8');"]],
    [['for (const a of users) {', '  for (const b of orders) pair(a, b);', '}']],
    [['for (const m of migrations) {', '  await client.query(m.sql);', '  await sql`insert into t values (${m.id})`.execute(tx);', '}']],
    [['for (let i = 0; i < lines.length; i++) {', '  for (let j = i + 1; j < lines.length; j++) scan(j);', '}']],
  ])('stays quiet on %j', async (lines) => {
    expect(await rules('performance', newFile('src/a.ts', lines))).toEqual([]);
  });

  it('does not judge test code', async () => {
    expect(await rules('performance', newFile('test/a.test.ts', ['for (const id of ids) {', '  await load(id);', '}']))).toEqual([]);
  });
});

describe('maintainability', () => {
  const branches = Array.from({ length: 16 }, (_, i) => `  if (x === ${i}) return ${i};`);

  it('flags long and complex functions, deep nesting, long lines and TODOs', async () => {
    const longBody = Array.from({ length: 85 }, (_, i) => `  const v${i} = ${i};`);
    const found = await rules(
      'maintainability',
      newFile('src/a.ts', [
        'function big() {',
        ...longBody,
        '}',
        'function branchy(x: number) {',
        ...branches,
        '  return -1;',
        '}',
        'function nested(a: boolean[]) {',
        '  if (a[0]) { if (a[1]) { for (const x of a) { while (x) { if (a[2]) { go(); } } } } }',
        '}',
        `const s = ${'1 + '.repeat(50)}1;`,
        '// TODO: remove after the migration',
      ]),
    );
    expect(found).toEqual(
      expect.arrayContaining(['maintainability/long-function', 'maintainability/high-complexity', 'maintainability/deep-nesting', 'maintainability/long-line', 'maintainability/todo-added']),
    );
    expect(found.filter((r) => r === 'maintainability/deep-nesting')).toHaveLength(1);
  });

  it('stays quiet on ordinary code, and on TODO inside a string', async () => {
    expect(await rules('maintainability', newFile('src/a.ts', ['function f(x: number) {', '  if (x > 1) return 2;', '  return 3;', '}', 'const s = "TODO list";']))).toEqual([]);
  });

  it('ignores a complex function with no added line', async () => {
    const file = changedFile('src/a.ts', 1, ['function branchy(x: number) {', ...branches, '  return -1;', '}'], ['export const y = 1;']);
    expect(await rules('maintainability', file)).toEqual([]);
  });
});

describe('tests persona', () => {
  const src = newFile('src/core/pricing.ts', ['export function price(n: number): number {', '  if (n < 0) throw new RangeError("n");', '  return n * 2;', '}']);

  it('flags a source change with no matching test', async () => {
    const [f] = await runBuiltinReviewer('tests', [src]);
    expect([f?.rule, f?.severity, f?.file]).toEqual(['tests/missing-test', 4, 'src/core/pricing.ts']);
  });

  it.each(['test/core/pricing.test.ts', 'src/core/__tests__/pricing.ts', 'src/core/pricing.spec.ts'])('accepts %s as the matching test', async (testPath) => {
    expect(await rules('tests', src, newFile(testPath, ['it("doubles", () => {', '  expect(price(2)).toBe(4);', '});']))).toEqual([]);
  });

  it('accepts python test_x.py for x.py', async () => {
    const py = newFile('app/pricing.py', ['def price(n):', '    if n < 0:', '        raise ValueError(n)', '    return n * 2']);
    expect(await rules('tests', py)).toEqual(['tests/missing-test']);
    expect(await rules('tests', py, newFile('tests/test_pricing.py', ['def test_price():', '    assert price(2) == 4']))).toEqual([]);
  });

  it('does not ask tests for config, types or tiny changes', async () => {
    expect(await rules('tests', newFile('vitest.config.ts', ['export default {', '  a: 1,', '  b: 2,', '};']))).toEqual([]);
    expect(await rules('tests', newFile('src/types.d.ts', ['declare const a: number;', 'declare const b: number;', 'declare const c: number;']))).toEqual([]);
    expect(await rules('tests', changedFile('src/core/pricing.ts', 1, ['x'], ['// a comment', 'const a = 1;']))).toEqual([]);
  });

  it('flags .only, skips and tests without assertions', async () => {
    const file = newFile('test/a.test.ts', ['it.only("a", () => {', '  expect(1).toBe(1);', '});', 'it.skip("b", () => {', '  expect(1).toBe(1);', '});', 'it("c", () => {', '  run();', '});']);
    expect(await rules('tests', file)).toEqual(['tests/focused-test', 'tests/skipped-test', 'tests/no-assertion']);
  });

  it('flags a python test without assert', async () => {
    expect(await rules('tests', newFile('tests/test_a.py', ['def test_a():', '    run()', '', 'def test_b():', '    assert run()']))).toEqual(['tests/no-assertion']);
  });
});

describe('runBuiltinReviewer', () => {
  it('rejects an unknown persona', async () => {
    await expect(runBuiltinReviewer('style' as Persona, [])).rejects.toThrow(RangeError);
  });

  it('emits findings that pass the RawFinding schema, each with a catalogued rule of its own category', async () => {
    const files = [newFile('src/a.ts', ['eval(req.body.x);', 'try { a(); } catch (e) {}', 'for (const x of xs) { await f(x); }', '// FIXME'])];
    const all = await runBuiltinPanel(files);
    expect(new Set(all.map((f) => f.reviewer))).toEqual(new Set(['security', 'correctness', 'performance', 'maintainability', 'tests']));
    for (const f of all) {
      expect(RawFindingSchema.safeParse(f).success).toBe(true);
      expect(BUILTIN_RULES.get(f.rule ?? '')?.category).toBe(f.category);
      expect(f.reviewer).toBe(f.category);
    }
    expect(BUILTIN_PERSONA_NAMES).toHaveLength(5);
  });

  it('is deterministic', async () => {
    const files = [newFile('src/a.ts', ['eval(x + y);', 'if (a = b) c();'])];
    expect(await runBuiltinPanel(files)).toEqual(await runBuiltinPanel(files));
  });
});
