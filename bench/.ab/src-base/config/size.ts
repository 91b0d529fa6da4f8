/** Body size caps as nginx writes them: 0 (no cap), a byte count, or "512m" / "1g" / "100k". */
const UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

export function parseSize(value: number | string): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 ? value : undefined;
  const match = /^\s*(\d+)\s*([kmg]?)b?\s*$/i.exec(value);
  if (!match) return undefined;
  return Number(match[1]) * UNITS[match[2]!.toLowerCase()]!;
}
