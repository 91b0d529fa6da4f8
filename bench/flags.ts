/**
 * The bench scripts' command lines, read with node:util's parseArgs (strict: an unknown flag or a
 * missing value throws with the flag's name) plus the two checks they share: a number with a
 * lower bound, and a comma-separated list of known names.
 */
import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';

/**
 * Parses `argv` (without node and the script) against `options`; `--help`/`-h` prints the script's
 * leading doc comment (`script`: its `import.meta.url`) and exits 0. Throws on an unknown flag.
 */
export function readFlags<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T, script: string) {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(readFileSync(new URL(script), 'utf8').split('*/')[0]);
    process.exit(0);
  }
  return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
}

/** `value` as a number ≥ `min` (rounded unless `round` is false), or `fallback` when absent; throws naming `--name`. */
export function numberFlag(name: string, value: unknown, fallback: number, min: number, round = true): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < min) throw new Error(`--${name} must be a number ≥ ${min}`);
  return round ? Math.round(n) : n;
}

/** `value` (`a,b,c`) as a list of names each in `known`, or all of `known` when absent; throws naming the unknown ones. */
export function listFlag<K extends string>(name: string, value: unknown, known: readonly K[]): K[] {
  if (value === undefined) return [...known];
  const list = String(value)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = list.filter((item) => !(known as readonly string[]).includes(item));
  if (unknown.length) throw new Error(`--${name}: unknown ${unknown.join(', ')}; known: ${known.join(', ')}`);
  return list as K[];
}
