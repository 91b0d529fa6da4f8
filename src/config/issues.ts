/**
 * Config problems as lines an operator can act on: `sites[0].upsteams: unknown key (did you mean
 * "upstreams"?)`, `sites[0].maxBodySize: expected a number or a string, got a boolean`. zod's own
 * wording for these is "Unrecognized key" and "Invalid input"; the rest of its messages are the
 * schema's (schema.ts words them).
 */
import type { z } from 'zod';

type Issue = z.core.$ZodIssue;
type PathPart = PropertyKey;

/** `sites[0].upstreams.read`, as the README and every message name a field. */
export function fieldPath(path: readonly PathPart[]): string {
  return path.map((part, i) => (typeof part === 'number' ? `[${part}]` : `${i ? '.' : ''}${String(part)}`)).join('');
}

/**
 * Edit distance counting insertions, deletions, substitutions and swaps of two neighbours
 * (optimal string alignment): `heatlh` is one typo away from `health`, as a person sees it.
 */
export function levenshtein(a: string, b: string): number {
  if (a === b) return 0;
  const rows: number[][] = [Array.from({ length: b.length + 1 }, (_, j) => j)];
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(rows[i - 1]![j]! + 1, row[j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, rows[i - 2]![j - 2]! + 1);
      row[j] = best;
    }
    rows.push(row);
  }
  return rows[a.length]![b.length]!;
}

/** The known name closest to `name` (case ignored), if it is close enough to be a typo of it. */
export function nearest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const distance = levenshtein(name.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  // One edit in four, at least one and at most three: `upsteams` → `upstreams`, `maxBody` → nothing.
  const allowed = Math.min(3, Math.max(1, Math.floor(Math.max(name.length, best?.length ?? 0) / 4)));
  return best !== undefined && bestDistance <= allowed ? best : undefined;
}

/**
 * zod per-parse error map (`safeParse(data, { error: unknownKeyErrorMap })`): an unknown key's issue
 * carries the object schema that raised it (`inst`), whose shape lists the keys known there. They
 * travel in the issue's message as JSON (`formatIssues` turns them into one line per key); every
 * other issue keeps its own message.
 */
export function unknownKeyErrorMap(issue: { code?: string; keys?: readonly string[]; inst?: unknown }): string | undefined {
  if (issue.code !== 'unrecognized_keys') return undefined;
  const shape = (issue.inst as { _zod?: { def?: { shape?: Record<string, unknown> } } } | undefined)?._zod?.def?.shape;
  return JSON.stringify({ [KNOWN_KEYS]: shape ? Object.keys(shape) : [] });
}
const KNOWN_KEYS = 'registry-router:known-keys';

const article = (type: string): string => (/^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`);

/** `expected a number or a string, got a boolean`: what each option of a union wanted. */
function unionText(issue: Extract<Issue, { code: 'invalid_union' }>): string | undefined {
  const expected = new Set<string>();
  let received: string | undefined;
  for (const option of issue.errors) {
    for (const inner of option) {
      if (inner.code === 'invalid_type' && inner.path.length === 0) {
        expected.add(inner.expected === 'object' ? 'object' : String(inner.expected));
        received ??= /received (\w+)/.exec(inner.message)?.[1];
      } else if (inner.code === 'invalid_value' && inner.path.length === 0) {
        for (const value of inner.values) expected.add(JSON.stringify(value));
      }
    }
  }
  if (!expected.size) return undefined;
  const names = [...expected].map((type) => (/^[a-z]+$/.test(type) ? article(type) : type));
  const list = names.length > 1 ? `${names.slice(0, -1).join(', ')} or ${names.at(-1)}` : names[0]!;
  return `expected ${list}${received ? `, got ${article(received)}` : ''}`;
}

/** Issues of one option that are not just "this option wants another type". */
const deeper = (option: readonly Issue[]): boolean =>
  option.some((inner) => !(inner.path.length === 0 && (inner.code === 'invalid_type' || inner.code === 'invalid_value')));

/** Every problem as `path: message`, one per line, in the order zod found them. */
export function formatIssues(issues: readonly Issue[], prefix: readonly PathPart[] = []): string[] {
  const lines: string[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      let known: string[] = [];
      try {
        known = (JSON.parse(issue.message) as Record<string, string[]>)[KNOWN_KEYS] ?? [];
      } catch {
        // zod's own message (parsed without unknownKeyErrorMap): no shape known
      }
      for (const key of issue.keys) {
        const guess = nearest(key, known);
        const hint = guess ? `did you mean "${guess}"?` : known.length ? `known here: ${known.join(', ')}` : '';
        lines.push(`${fieldPath([...path, key]) || '(top level)'}: unknown key${hint ? ` (${hint})` : ''}`);
      }
      continue;
    }
    if (issue.code === 'invalid_union') {
      // The input has the type one option wants and fails inside it: that option's problems say more.
      const inside = issue.errors.filter(deeper);
      if (inside.length === 1) {
        lines.push(...formatIssues(inside[0]!, path));
        continue;
      }
      const own = issue.message && issue.message !== 'Invalid input' ? issue.message : undefined;
      lines.push(`${fieldPath(path) || '(top level)'}: ${own ?? unionText(issue) ?? 'not any of the accepted forms'}`);
      continue;
    }
    lines.push(`${fieldPath(path) || '(top level)'}: ${plainMessage(issue)}`);
  }
  return lines;
}

/** The type of a value as a person names it: `a string`, `a list`, `null`. */
function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return article(typeof value);
}

/**
 * zod's own wording, made plainer where it is generic: "expected a number, got a string" instead
 * of "Invalid input: expected number, received string"; a wrong enum value with the nearest
 * allowed one. Messages the schema words itself (schema.ts) are kept as they are.
 */
function plainMessage(issue: Issue): string {
  const input = (issue as { input?: unknown }).input;
  if (issue.code === 'invalid_type' && /^Invalid input/.test(issue.message)) {
    const expected = issue.expected === 'array' ? 'a list' : article(String(issue.expected));
    return input === undefined ? `missing: ${expected} is needed` : `expected ${expected}, got ${typeOf(input)}`;
  }
  if (issue.code === 'invalid_value' && /^Invalid (option|input)/.test(issue.message)) {
    const allowed = issue.values.map((value) => JSON.stringify(value));
    const guess =
      typeof input === 'string'
        ? nearest(
            input,
            issue.values.filter((value): value is string => typeof value === 'string'),
          )
        : undefined;
    const choices = allowed.length > 1 ? `one of ${allowed.join(', ')}` : allowed[0];
    const got = input !== undefined ? `, got ${JSON.stringify(input)}` : '';
    return `must be ${choices}${got}${guess ? ` (did you mean "${guess}"?)` : ''}`;
  }
  return issue.message.replace(/^Invalid input: /, '');
}
