import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { ConfigInput } from '../../src/config/schema.ts';
import { freePort } from './ports.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const BIN = join(ROOT, 'node_modules/.bin');

export type Runtime = 'node' | 'bun-node';

/** Every runtime the product claims; suites run once per entry. */
export const RUNTIMES: readonly Runtime[] = ['node', 'bun-node'];

/** How each runtime starts the router on a config file, as a user would type it. */
const COMMANDS: Record<Runtime, (configPath: string) => string[]> = {
  node: (config) => [process.execPath, 'dist/node.mjs', '--config', config],
  'bun-node': (config) => [join(BIN, 'bun'), 'run', 'src/node.ts', '--config', config],
};

export interface RouterProcess {
  url: string;
  port: number;
  child: ChildProcess;
  /** stdout so far: the JSON access log. */
  stdout(): string;
  stderr(): string;
  /** Resident memory of the router process in bytes (Linux /proc). */
  rss(): number;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export async function startRouter(runtime: Runtime, config: ConfigInput, opts: { quiet?: boolean } = {}): Promise<RouterProcess> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'router-'));
  const configPath = join(dir, 'router.json');
  writeFileSync(configPath, JSON.stringify({ ...config, listen: { host: '127.0.0.1', port } }));
  const [command, ...args] = COMMANDS[runtime](configPath);
  if (opts.quiet) args.push('--quiet');
  const child = spawn(command!, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PORT: '' } });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk) => (stdout += chunk));
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));

  const deadline = Date.now() + 20_000;
  while (!/listening on/.test(stderr)) {
    if (child.exitCode !== null) throw new Error(`${runtime} router exited with ${child.exitCode}:\n${stderr}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${runtime} router did not start within 20 s:\n${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    rss() {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
