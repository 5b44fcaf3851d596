import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeFileAtomic, writeFilesAtomicSync } from '../../src/core/review/review-files.js';

const root = await fs.mkdtemp(path.join(os.tmpdir(), 'quorum-review-files-'));
afterAll(() => fs.rm(root, { recursive: true, force: true }));

describe('report files', () => {
  it('writeFilesAtomicSync makes missing directories, replaces files whole and leaves no temp file', async () => {
    const dir = path.join(root, 'a', 'reviews');
    const files = [
      { path: path.join(dir, 'r1.md'), content: '# one\n' },
      { path: path.join(root, 'a', 'REVIEW-web-T.md'), content: '# latest ✓\n' },
    ];
    writeFilesAtomicSync(files);
    expect(await fs.readFile(files[0]!.path, 'utf8')).toBe('# one\n');
    expect(await fs.readFile(files[1]!.path, 'utf8')).toBe('# latest ✓\n');
    writeFilesAtomicSync([{ path: files[0]!.path, content: '# replaced\n' }]);
    expect(await fs.readFile(files[0]!.path, 'utf8')).toBe('# replaced\n');
    // A directory removed after it was made (and remembered) is made again.
    await fs.rm(dir, { recursive: true });
    writeFilesAtomicSync([{ path: files[0]!.path, content: '# again\n' }]);
    expect(await fs.readFile(files[0]!.path, 'utf8')).toBe('# again\n');
    expect((await fs.readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(((await fs.stat(files[0]!.path)).mode & 0o777).toString(8)).toBe('640');
  });

  it('a failed write throws and leaves neither the temp file nor a partial target', async () => {
    const dir = path.join(root, 'b');
    await fs.mkdir(dir);
    const target = path.join(dir, 'x.md');
    await fs.mkdir(target); // rename onto a directory fails
    expect(() => writeFilesAtomicSync([{ path: target, content: 'x' }])).toThrow();
    expect(await fs.readdir(dir)).toEqual(['x.md']);
    expect((await fs.stat(target)).isDirectory()).toBe(true);
  });

  it('writes the same bytes as writeFileAtomic', async () => {
    const text = `# report\n${'ünïcødé · '.repeat(2000)}\n`;
    const a = path.join(root, 'c', 'sync.md');
    const b = path.join(root, 'c', 'async.md');
    writeFilesAtomicSync([{ path: a, content: text }]);
    await writeFileAtomic(b, text);
    expect(Buffer.compare(await fs.readFile(a), await fs.readFile(b))).toBe(0);
  });
});
