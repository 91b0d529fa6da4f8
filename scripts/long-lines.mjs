#!/usr/bin/env node
/**
 * `npm run lint`'s second half: every line of the project's code (TypeScript and JavaScript under src/, test/, bench/,
 * scripts/) is at most 160 characters. Biome's formatter wraps code at that width but leaves long strings and comments
 * as they are; this names each one as `file:line (length)`. Exit 1 when any is found, 0 otherwise.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const MAX = 160;
const files = execFileSync('git', ['ls-files', '-z', '--', 'src', 'test', 'bench', 'scripts', '*.ts', '*.mjs'], { encoding: 'utf8' })
  .split('\0')
  .filter((file) => /\.(ts|mjs|js)$/.test(file) && !file.startsWith('test/import/fixtures/'));
const long = [];
for (const file of new Set(files)) {
  readFileSync(file, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      // Characters, not UTF-16 units: "→" is one.
      const length = [...line].length;
      if (length > MAX) long.push(`${file}:${i + 1} (${length})`);
    });
}
if (long.length) {
  console.error(`${long.length} line(s) over ${MAX} characters:\n${long.join('\n')}`);
  process.exit(1);
}
console.log(`no line over ${MAX} characters in ${files.length} files`);
