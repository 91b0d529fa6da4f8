/**
 * Summarises a V8 .cpuprofile (node --cpu-prof): top functions by self time, by inclusive time,
 * and self time per package/area.
 *
 *   npx tsx bench/cpuprofile-top.ts FILE.cpuprofile [--top 25]
 *   npx tsx bench/cpuprofile-top.ts FILE.cpuprofile --callers '^AbortError$' [--depth 4]
 */
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** Where a frame's code lives: a package, node core, our bundle, or V8 itself. */
export function area(url: string, name: string): string {
  if (!url) return name.startsWith('(') ? name : '(native/V8)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/').slice(0, 2).join('/')}`;
  if (url.includes('/dist/')) return 'router (dist/node.mjs)';
  if (url.includes('/src/')) return 'router (src)';
  return url;
}

const where = (f: CallFrame) => (f.url ? `${f.url.replace(/^.*\/(node_modules|dist|src)\//, '$1/').replace(/^file:\/\//, '')}:${f.lineNumber + 1}` : '');

export function summarise(profile: Profile, top = 25): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const key = (n: ProfileNode) => `${n.callFrame.functionName || '(anonymous)'}  ${where(n.callFrame)}`;

  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const areas = new Map<string, number>();
  let total = 0;
  let idle = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    const node = byId.get(id)!;
    total += dt;
    if (node.callFrame.functionName === '(idle)') idle += dt;
    self.set(key(node), (self.get(key(node)) ?? 0) + dt);
    const a = area(node.callFrame.url, node.callFrame.functionName);
    areas.set(a, (areas.get(a) ?? 0) + dt);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const k = key(byId.get(cur)!);
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + dt);
    }
  });
  const busy = total - idle;
  const pct = (v: number, of: number) => `${((100 * v) / of).toFixed(1).padStart(5)}%`;
  const list = (m: Map<string, number>, n: number, skip: (k: string) => boolean = () => false) =>
    [...m.entries()]
      .filter(([k]) => !skip(k))
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, v]) => `  ${pct(v, busy)}  ${(v / 1000).toFixed(0).padStart(6)} ms  ${k}`);
  const structural = (k: string) => /^\((root|program|idle)\)/.test(k) || /^\(anonymous\) {2}$/.test(k);
  return [
    `profile: ${(total / 1e6).toFixed(1)} s sampled, ${(busy / 1e6).toFixed(1)} s busy (${pct(busy, total).trim()}); percentages are of busy time`,
    '',
    'self time by area:',
    ...list(areas, 20),
    '',
    `top ${top} functions by self time:`,
    ...list(self, top, (k) => k.startsWith('(idle)')),
    '',
    `top ${top} functions by inclusive time (excluding the event-loop roots):`,
    ...list(inclusive, top, structural),
  ].join('\n');
}

/** Who calls frames named like `pattern`: the time under each matching frame, by its caller chain (`depth` frames up). */
export function callers(profile: Profile, pattern: RegExp, depth = 4, top = 12): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const name = (n: ProfileNode) => `${n.callFrame.functionName || '(anonymous)'}${n.callFrame.url ? ` ${where(n.callFrame)}` : ''}`;
  const chains = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const node = byId.get(cur)!;
      if (!pattern.test(node.callFrame.functionName)) continue;
      const chain = [name(node)];
      for (let up = parent.get(cur), k = 0; up !== undefined && k < depth; up = parent.get(up), k++) chain.push(name(byId.get(up)!));
      const key = chain.join('\n      ← ');
      chains.set(key, (chains.get(key) ?? 0) + dt);
      total += dt;
      break;
    }
  });
  return [
    `time under /${pattern.source}/: ${(total / 1000).toFixed(0)} ms`,
    ...[...chains.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, v]) => `  ${(v / 1000).toFixed(0).padStart(6)} ms  ${k}`),
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: cpuprofile-top.ts FILE.cpuprofile [--top N]');
    process.exit(2);
  }
  const flag = (name: string) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const pattern = flag('--callers');
  if (pattern) console.log(callers(profile, new RegExp(pattern), Number(flag('--depth') ?? 4)));
  else console.log(summarise(profile, Number(flag('--top') ?? 25)));
}
