import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { AccessEntry } from '../../src/access-log.ts';
import type { ConfigInput } from '../../src/config/schema.ts';
import { freePort } from './ports.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const BIN = join(ROOT, 'node_modules/.bin');

/** `deno-node` (the Node adapter on Deno's node:http) is startable but not in RUNTIMES: see src/deno.ts. */
export type Runtime = 'node' | 'bun-node' | 'bun' | 'deno' | 'deno-node' | 'workerd';

/** Every runtime the product claims; suites run once per entry. */
export const RUNTIMES: readonly Runtime[] = ['node', 'bun-node', 'bun', 'deno', 'workerd'];

/**
 * What a runtime cannot do, as documented in the README's "Run it on…" table. Suites assert this
 * documented behaviour instead of skipping: if a runtime starts doing better (or worse), they fail.
 */
export interface RuntimeLimits {
  /** How an absolute-form target (`GET http://host/path`) is routed. */
  absoluteForm: 'authority' | 'host-header' | 'refused';
  /** Whether the upstream request can carry the client's Host (workers' Host follows the URL). */
  sendsHost: boolean;
  /** Router RSS budget while streaming 1 GiB each way, and why it is above 150 MiB where it is. */
  rssBudgetMiB: number;
  rssWhy?: string;
  /**
   * Bad requests (test/hardening/support.ts BAD_REQUESTS, by name) that the runtime answers itself,
   * before the router's code runs, with something else than a 4xx (or 501): that status; or lets
   * through with an obs-fold replaced by spaces ('unfolded', which RFC 9112 §5.2 allows). Every
   * other bad request gets a 4xx/501 and reaches no upstream (test/hardening/requests.test.ts).
   */
  parserAnswers: Readonly<Record<string, number | 'unfolded'>>;
  /**
   * How long a client may take over its request headers before the runtime closes its connection:
   * `timeouts.header` ('config'), a fixed figure in seconds the runtime imposes, or 'none'.
   */
  headerTimeout: 'config' | number | 'none';
  /** The Content-Type the runtime's server puts on an answer with a body that came without one; `undefined`: none. */
  typesUntypedBodies?: string;
  /**
   * How a streamed answer (over SMALL_BODY, 64 KiB) whose upstream declared a Content-Length goes
   * out: with that length ('kept', the default), or 'chunked' where the runtime's server drops it.
   * Either way a body that ends short breaks the transfer (test/e2e/streaming-answers.test.ts).
   */
  streamedLength?: 'kept' | 'chunked';
}

/** workerd's own HTTP parser (kj) fails these before the worker runs: 500 "Internal Server Error", connection closed. */
const WORKERD_500 = [
  'two Host fields (different)',
  'two Host fields (same)',
  'Host with a comma list',
  'Host with a path',
  'Host with userinfo',
  'Host with "?"',
  'Host with "#"',
  'Host with a space',
  'two different Content-Lengths',
  'Content-Length list "1, 2"',
  'Content-Length "+1"',
  'Transfer-Encoding: xchunked',
  'Transfer-Encoding: chunked, identity',
  'Transfer-Encoding: identity',
  'Transfer-Encoding: gzip, chunked',
  'two Transfer-Encoding fields',
  'Transfer-Encoding:<VT>chunked',
  'absolute-form naming another host',
  'CONNECT',
];

/**
 * Bun.serve, under both Bun entries. It builds request.url from Host and drops the request line's
 * authority. Its parser answers a control character in the target with 505; its header timeout
 * is uWS's fixed 10 s (connections close 10–14 s after they open, whatever idleTimeout says).
 */
const BUN_SERVE: RuntimeLimits = {
  absoluteForm: 'host-header',
  sendsHost: true,
  // The ceiling every runtime keeps (issue 20: none above 160 MB). Measured 104–126 MiB (12 runs, both entries, some under
  // load) with the Bun client's memory guard (src/adapter/bun/client.ts); 121–148 without it, 173 once in CI under load.
  rssBudgetMiB: 160,
  parserAnswers: { 'NUL in the target': 505, 'CTL (0x01) in the target': 505 },
  headerTimeout: 10,
  // Bun.serve types a byte body that has no Content-Type (an empty body, sent as none, stays untyped).
  typesUntypedBodies: 'application/octet-stream',
  // Bun.serve (1.4.5) strips a Content-Length set on a body made in JavaScript, and the core taps
  // every streamed body in one; only fetch()'s own Response, returned as is, keeps it (oven-sh/bun#10507).
  streamedLength: 'chunked',
};

export const LIMITS: Record<Runtime, RuntimeLimits> = {
  node: { absoluteForm: 'authority', sendsHost: true, rssBudgetMiB: 150, parserAnswers: {}, headerTimeout: 'config' },
  // `bun run src/node.ts` serves through Bun.serve as src/bun.ts does (src/adapter/bun/serve.ts).
  'bun-node': BUN_SERVE,
  bun: BUN_SERVE,
  // Deno.serve (hyper) has no header timeout and no option for one: a client trickling its headers keeps its connection.
  // Peak RSS for 1 GiB each way: 160–170 MiB before the client's ExternalMemoryGuard (dead body chunks piling up between V8 collections), 105–120 after.
  deno: { absoluteForm: 'authority', sendsHost: true, rssBudgetMiB: 150, parserAnswers: {}, headerTimeout: 'none' },
  // Not in RUNTIMES, so not asserted; checked by hand: every bad request refused with a 4xx/501, timeouts.header honoured (2 s → closed at 4 s).
  'deno-node': { absoluteForm: 'authority', sendsHost: true, rssBudgetMiB: 256, rssWhy: 'Deno node:http', parserAnswers: {}, headerTimeout: 'config' },
  // workerd answers 500 ("invalid URL") before the worker runs. Its parser (kj) also fails duplicate
  // Host/Content-Length and any Transfer-Encoding but chunked with 500, replaces obs-fold with spaces,
  // and closes connections whose headers are not in after its fixed 15 s (kj's headerTimeout).
  workerd: {
    absoluteForm: 'refused',
    sendsHost: false,
    // Measured: ~65 MiB idle, ~150 MiB once streaming, then flat (2 GiB more each way: +2–9 MiB).
    rssBudgetMiB: 200,
    rssWhy: 'workerd settles at ~155 MiB while streaming',
    parserAnswers: {
      ...Object.fromEntries(WORKERD_500.map((name) => [name, 500])),
      'obs-fold (a line starting with a space)': 'unfolded',
      'obs-fold hiding Transfer-Encoding': 'unfolded',
    },
    headerTimeout: 15,
  },
};

/** How each runtime starts the router on a config file, as a user would type it. */
const COMMANDS: Record<Runtime, (configPath: string) => string[]> = {
  node: (config) => [process.execPath, 'dist/node.mjs', '--config', config],
  'bun-node': (config) => [join(BIN, 'bun'), 'run', 'src/node.ts', '--config', config],
  bun: (config) => [join(BIN, 'bun'), 'run', 'src/bun.ts', '--config', config],
  deno: (config) => [join(BIN, 'deno'), 'run', '--allow-net', '--allow-read', '--allow-env', 'src/deno.ts', '--config', config],
  'deno-node': (config) => [join(BIN, 'deno'), 'run', '--allow-net', '--allow-read', '--allow-env', '--allow-sys', 'src/node.ts', '--config', config],
  // src/worker.ts bundled and run by workerd through miniflare on the config's port (`wrangler dev` does the same).
  workerd: (config) => [process.execPath, '--import', 'tsx', 'test/support/miniflare-server.ts', '--config', config],
};

/** A listener for `startRouter`'s `listen` option: plain (`{}`) or TLS (cert/key paths). Ports are picked free. */
export interface ListenerSpec {
  cert?: string;
  key?: string;
  certs?: Array<{ cert: string; key: string }>;
  /** Connections start with a PROXY protocol header (src/adapter/proxy-protocol.ts). */
  proxyProtocol?: boolean;
}

export interface RouterProcess {
  /** The first listener's URL and port. */
  url: string;
  port: number;
  /** Every listener, in `listen` order (`https://` for TLS ones). */
  urls: string[];
  ports: number[];
  configPath: string;
  child: ChildProcess;
  /** stdout so far: the JSON access log. */
  stdout(): string;
  /** The access log so far, one entry a line (lines that are not JSON objects skipped). */
  accessLog(): AccessEntry[];
  stderr(): string;
  /** Resident memory of the router in bytes (Linux /proc): the process tree; for workerd, workerd alone. */
  rss(): number;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export async function startRouter(runtime: Runtime, config: ConfigInput, opts: { quiet?: boolean; listen?: ListenerSpec[] } = {}): Promise<RouterProcess> {
  const specs = opts.listen ?? [{}];
  const ports: number[] = [];
  for (const _spec of specs) ports.push(await freePort());
  const port = ports[0]!;
  const entries = specs.map((spec, i) => ({ host: '127.0.0.1', port: ports[i]!, ...spec }));
  const urls = entries.map((entry) => `${entry.cert || entry.certs ? 'https' : 'http'}://127.0.0.1:${entry.port}`);
  const dir = mkdtempSync(join(tmpdir(), 'router-'));
  const configPath = join(dir, 'router.json');
  writeFileSync(configPath, JSON.stringify({ ...config, listen: opts.listen ? entries : entries[0] }));
  const [command, ...args] = COMMANDS[runtime](configPath);
  if (opts.quiet) args.push('--quiet');
  // Deno starts worker processes only with --allow-run (src/adapter/deno/workers.ts).
  if ((runtime === 'deno' || runtime === 'deno-node') && config.workers !== undefined && config.workers !== 1) args.splice(1, 0, '--allow-run');
  const child = spawn(command!, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PORT: '' } });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk) => (stdout += chunk));
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));

  const deadline = Date.now() + 20_000;
  while ((stderr.match(/listening on/g) ?? []).length < specs.length) {
    if (child.exitCode !== null) throw new Error(`${runtime} router exited with ${child.exitCode}:\n${stderr}`);
    if (Date.now() > deadline) {
      killTree(child.pid!);
      throw new Error(`${runtime} router did not start within 20 s:\n${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: urls[0]!,
    port,
    urls,
    ports,
    configPath,
    child,
    stdout: () => stdout,
    accessLog: () =>
      stdout
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as AccessEntry),
    stderr: () => stderr,
    rss: () => treeRss(child.pid!, runtime === 'workerd' ? 'workerd' : undefined),
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null) child.kill(signal);
      // The whole tree: workerd outlives a SIGKILLed miniflare wrapper otherwise.
      const timer = setTimeout(() => killTree(child.pid!), 10_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** The process `root` and its descendants, with their command names (Linux /proc). */
function processTree(root: number): Array<{ pid: number; name: string }> {
  const procs = new Map<number, { parent: number; name: string }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      procs.set(Number(entry), { parent: Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]), name });
    } catch {
      // exited meanwhile
    }
  }
  const inTree = (pid: number): boolean => pid === root || (pid > 1 && procs.has(pid) && inTree(procs.get(pid)!.parent));
  return [...procs].filter(([pid]) => inTree(pid)).map(([pid, { name }]) => ({ pid, name }));
}

function killTree(root: number): void {
  for (const { pid } of processTree(root)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
}

/**
 * VmRSS in bytes of the processes that serve the router: the child and its descendants, or only
 * those named `only` (workerd: miniflare's node wrapper and esbuild are test scaffolding that
 * `wrangler deploy` does not ship).
 */
function treeRss(root: number, only?: string): number {
  let total = 0;
  for (const { pid, name } of processTree(root)) {
    if (only && name !== only) continue;
    try {
      total += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
    } catch {
      // exited meanwhile
    }
  }
  return total;
}
