/**
 * Body size caps: 0 (no cap), a byte count, or a number with a unit as people write them: `512m`,
 * `512MB`, `512 MiB`, `1.5g`, `1GiB`, `100k`, `2t`. Units are case-insensitive, may end in `b` or
 * `ib`, and are all 1024-based, as nginx's `client_max_body_size` reads `m` (1024 × 1024): `512MB`
 * is 512 MiB here, not 512 000 000 bytes. A decimal is rounded down to whole bytes.
 */
const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** The forms `parseSize` takes, for error messages. */
export const SIZE_FORMS = '0 (no cap), a byte count, or a size with a unit k, m, g or t (1024-based; "kb"/"kib" alike, any case), e.g. "512m", "1.5g", "1GiB"';

/** Bytes, or undefined when `value` is none of the forms above (negative, fractional bytes, unknown unit). */
export function parseSize(value: number | string): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  const match = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*(?:([kmgt])(?:i?b)?|(b))?\s*$/i.exec(value);
  if (!match) return undefined;
  const unit = UNITS[(match[2] ?? match[3] ?? '').toLowerCase()]!;
  // "1.5" bytes means nothing: a decimal needs a unit.
  if (unit === 1 && match[1]!.includes('.')) return undefined;
  const bytes = Math.floor(Number(match[1]) * unit);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}
