/**
 * A strict parser for the Prometheus text exposition format (0.0.4), for tests: it throws on
 * anything a Prometheus server would reject or that the format leaves ambiguous.
 *
 * Checked: line grammar (`# HELP`, `# TYPE`, samples with optional timestamp), metric and label
 * name syntax, label value escapes (`\\`, `\"`, `\n` only), float values (incl. +Inf/-Inf/NaN),
 * TYPE before the family's first sample and at most once, HELP at most once, families not
 * interleaved, no duplicate series, counters not negative, histograms with an `le` on every bucket,
 * cumulative buckets ending in `+Inf` equal to `_count`, and `_sum`/`_count` present.
 */

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: MetricType;
  help?: string;
  samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set<MetricType>(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

export function parsePrometheus(text: string): Map<string, Family> {
  if (text.length && !text.endsWith('\n')) throw new Error('exposition must end with a line feed');
  const families = new Map<string, Family>();
  const closed = new Set<string>();
  const seenSeries = new Set<string>();
  let current: string | undefined;
  const lines = text.split('\n');
  lines.pop();

  const open = (name: string, lineNo: number): Family => {
    if (current !== name) {
      if (closed.has(name)) throw new Error(`line ${lineNo}: family ${name} appears again after another family`);
      if (current) closed.add(current);
      current = name;
    }
    let family = families.get(name);
    if (!family) families.set(name, (family = { name, type: 'untyped', samples: [] }));
    return family;
  };

  lines.forEach((line, i) => {
    const lineNo = i + 1;
    if (line.trim() === '') return;
    if (line.startsWith('#')) {
      const match = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!match) {
        if (/^# (HELP|TYPE)\b/.test(line)) throw new Error(`line ${lineNo}: malformed ${line}`);
        return; // a plain comment
      }
      const [, keyword, name, rest] = match as unknown as [string, string, string, string];
      if (!METRIC_NAME.test(name)) throw new Error(`line ${lineNo}: bad metric name ${name}`);
      const family = open(name, lineNo);
      if (keyword === 'TYPE') {
        if (!TYPES.has(rest as MetricType)) throw new Error(`line ${lineNo}: unknown type ${rest}`);
        if ((family as Family & { typed?: boolean }).typed) throw new Error(`line ${lineNo}: second TYPE for ${name}`);
        if (family.samples.length) throw new Error(`line ${lineNo}: TYPE for ${name} after its samples`);
        family.type = rest as MetricType;
        (family as Family & { typed?: boolean }).typed = true;
      } else {
        if (family.help !== undefined) throw new Error(`line ${lineNo}: second HELP for ${name}`);
        if (/\\(?![\\n])/.test(rest)) throw new Error(`line ${lineNo}: bad escape in HELP`);
        family.help = rest.replace(/\\n/g, '\n').replace(/\\\\/g, '\\');
      }
      return;
    }
    const sample = parseSample(line, lineNo);
    const familyName = familyOf(sample.name, families);
    const family = open(familyName, lineNo);
    const key = `${sample.name}{${Object.entries(sample.labels)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      .join(',')}}`;
    if (seenSeries.has(key)) throw new Error(`line ${lineNo}: duplicate series ${key}`);
    seenSeries.add(key);
    if (family.type === 'counter' && (sample.value < 0 || Number.isNaN(sample.value))) throw new Error(`line ${lineNo}: counter ${key} is ${sample.value}`);
    family.samples.push(sample);
  });

  for (const family of families.values()) if (family.type === 'histogram') checkHistogram(family);
  return families;
}

function parseSample(line: string, lineNo: number): Sample {
  const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)?.[0];
  if (!name) throw new Error(`line ${lineNo}: no metric name in ${JSON.stringify(line)}`);
  let pos = name.length;
  const labels: Record<string, string> = {};
  if (line[pos] === '{') {
    pos++;
    while (line[pos] !== '}') {
      const labelName = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(line.slice(pos))?.[0];
      if (!labelName || !LABEL_NAME.test(labelName)) throw new Error(`line ${lineNo}: bad label name at ${pos}`);
      if (labelName in labels) throw new Error(`line ${lineNo}: label ${labelName} twice`);
      pos += labelName.length;
      if (line.slice(pos, pos + 2) !== '="') throw new Error(`line ${lineNo}: expected =" after ${labelName}`);
      pos += 2;
      let value = '';
      for (;;) {
        const ch = line[pos];
        if (ch === undefined) throw new Error(`line ${lineNo}: unterminated label value`);
        if (ch === '"') break;
        if (ch === '\\') {
          const next = line[pos + 1];
          if (next === '\\') value += '\\';
          else if (next === '"') value += '"';
          else if (next === 'n') value += '\n';
          else throw new Error(`line ${lineNo}: bad escape \\${next}`);
          pos += 2;
          continue;
        }
        value += ch;
        pos++;
      }
      pos++;
      labels[labelName] = value;
      if (line[pos] === ',') pos++;
      else if (line[pos] !== '}') throw new Error(`line ${lineNo}: expected , or } at ${pos}`);
    }
    pos++;
  }
  const rest = line.slice(pos);
  const match = /^ (\S+)(?: (-?\d+))?$/.exec(rest);
  if (!match) throw new Error(`line ${lineNo}: expected " value [timestamp]", got ${JSON.stringify(rest)}`);
  return { name, labels, value: parseValue(match[1]!, lineNo) };
}

function parseValue(text: string, lineNo: number): number {
  if (text === '+Inf' || text === 'Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`line ${lineNo}: bad value ${text}`);
  return Number(text);
}

/** `x_bucket`, `x_sum`, `x_count` belong to histogram/summary `x` when `x` was declared so. */
function familyOf(sampleName: string, families: Map<string, Family>): string {
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!sampleName.endsWith(suffix)) continue;
    const base = sampleName.slice(0, -suffix.length);
    const family = families.get(base);
    if (family && (family.type === 'histogram' || (family.type === 'summary' && suffix !== '_bucket'))) return base;
  }
  return sampleName;
}

function checkHistogram(family: Family): void {
  const groups = new Map<string, { buckets: Array<[number, number]>; sum?: number; count?: number }>();
  for (const sample of family.samples) {
    const { le, ...rest } = sample.labels;
    const key = JSON.stringify(Object.entries(rest).sort(([a], [b]) => a.localeCompare(b)));
    let group = groups.get(key);
    if (!group) groups.set(key, (group = { buckets: [] }));
    if (sample.name === `${family.name}_bucket`) {
      if (le === undefined) throw new Error(`${family.name}: bucket without le`);
      group.buckets.push([parseValue(le, 0), sample.value]);
    } else if (sample.name === `${family.name}_sum`) group.sum = sample.value;
    else if (sample.name === `${family.name}_count`) group.count = sample.value;
    else throw new Error(`${family.name}: unexpected sample ${sample.name} in a histogram`);
  }
  for (const [key, group] of groups) {
    if (group.sum === undefined || group.count === undefined) throw new Error(`${family.name}${key}: _sum or _count missing`);
    const sorted = [...group.buckets].sort((a, b) => a[0] - b[0]);
    if (sorted.at(-1)?.[0] !== Infinity) throw new Error(`${family.name}${key}: no +Inf bucket`);
    for (let i = 1; i < sorted.length; i++) {
      if (sorted[i]![0] === sorted[i - 1]![0]) throw new Error(`${family.name}${key}: bucket le=${sorted[i]![0]} twice`);
      if (sorted[i]![1] < sorted[i - 1]![1]) throw new Error(`${family.name}${key}: buckets are not cumulative`);
    }
    if (sorted.at(-1)![1] !== group.count) throw new Error(`${family.name}${key}: +Inf bucket ${sorted.at(-1)![1]} != _count ${group.count}`);
  }
}

/** The value of the one sample of `name` whose labels include `labels`; 0 when there is none. */
export function sampleValue(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  const family = families.get(name) ?? [...families.values()].find((f) => f.samples.some((s) => s.name === name));
  const matches = (family?.samples ?? []).filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (matches.length > 1) throw new Error(`${name}${JSON.stringify(labels)} matches ${matches.length} series`);
  return matches[0]?.value ?? 0;
}

/** Sum over every sample of `name` whose labels include `labels`. */
export function sumOf(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  const family = families.get(name) ?? [...families.values()].find((f) => f.samples.some((s) => s.name === name));
  return (family?.samples ?? [])
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((total, s) => total + s.value, 0);
}
