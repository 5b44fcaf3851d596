#!/usr/bin/env node
// npm run bench -- <name>   (names: the files bench/<name>.bench.js)
import { readdirSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';

const dir = path.dirname(fileURLToPath(import.meta.url));
const available = readdirSync(dir).filter((f) => f.endsWith('.bench.js')).map((f) => f.replace('.bench.js', ''));
const names = process.argv.slice(2);
if (names.length === 0) {
  console.log(`usage: npm run bench -- <${available.join('|')}>`);
  process.exit(2);
}
for (const n of names) {
  if (!available.includes(n)) {
    console.error(`unknown benchmark "${n}"; available: ${available.join(', ')}`);
    process.exit(2);
  }
  const mod = await import(pathToFileURL(path.join(dir, `${n}.bench.js`)).href);
  await mod.default();
}
