import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from './ports.ts';

/** A Debian `redis-server` of the tests' own, on a free loopback port, nothing written to disk. */
export interface RedisProcess {
  readonly port: number;
  /** `redis://127.0.0.1:<port>/0`. */
  readonly url: string;
  /** The running server's PID (a new one after `restart`). */
  pid(): number;
  /** SIGKILL (a crash: no goodbye to clients), resolved once it has exited. */
  kill(): Promise<void>;
  /** Started again on the same port (empty: nothing was saved). */
  restart(): Promise<void>;
  /** SIGSTOP / SIGCONT: connections stay open and nothing answers (a Redis that hangs). */
  pause(): void;
  resume(): void;
}

/** Starts `redis-server --port P --bind 127.0.0.1 --save '' --appendonly no`; resolves when it accepts connections. */
export async function startRedis(): Promise<RedisProcess> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    try {
      let child = await spawnRedis(port);
      const exited = (proc: ChildProcess) =>
        new Promise<void>((done) => (proc.exitCode !== null || proc.signalCode ? done() : proc.once('exit', () => done())));
      return {
        port,
        url: `redis://127.0.0.1:${port}/0`,
        pid: () => child.pid!,
        async kill() {
          if (child.exitCode === null && !child.signalCode) child.kill('SIGKILL');
          await exited(child);
        },
        async restart() {
          child = await spawnRedis(port);
        },
        pause: () => void child.kill('SIGSTOP'),
        resume: () => void child.kill('SIGCONT'),
      };
    } catch (error) {
      if (attempt >= 3 || !/Address already in use/.test(String(error))) throw error;
    }
  }
}

/** Kills every server started here still running (afterAll), by its PID. */
export async function stopRedis(redis: RedisProcess | undefined): Promise<void> {
  if (!redis) return;
  redis.resume();
  await redis.kill();
}

async function spawnRedis(port: number): Promise<ChildProcess> {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--loglevel', 'notice'];
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const deadline = Date.now() + 10_000;
  while (!output.includes('Ready to accept connections')) {
    if (child.exitCode !== null) throw new Error(`redis-server on port ${port} exited with ${child.exitCode}:\n${output}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`redis-server on port ${port} did not start within 10 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return child;
}
