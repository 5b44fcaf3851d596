#!/usr/bin/env node
// npm run bench -- <name>   (names: the files bench/<name>.bench.js)
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';

// The benchmarks run the API and workers in this process, so it runs with the V8 settings that
// `npm start` gives the server (package.json): a larger young generation (see README, Tuning).
const SERVER_NODE_FLAGS = ['--max-semi-space-size=64'];
const has = (flag) => [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].some((a) => a.startsWith(flag.split('=')[0]));
if (!SERVER_NODE_FLAGS.every(has)) {
  const r = spawnSync(process.execPath, [...process.execArgv, ...SERVER_NODE_FLAGS.filter((f) => !has(f)), ...process.argv.slice(1)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

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
