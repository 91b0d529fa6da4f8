/**
 * Running the shipped forms of the router as an operator does: a command with exactly the
 * environment given (`env -i` when empty), to its end, or serving until stopped by its PID.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { ROOT } from './build.ts';

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `command` with only `env` in its environment (nothing inherited), to its end. */
export function runBare(command: readonly string[], options: { env?: Record<string, string>; cwd?: string; timeout?: number } = {}): Promise<Run> {
  return new Promise((done) => {
    execFile(
      command[0]!,
      command.slice(1),
      { cwd: options.cwd ?? ROOT, env: options.env ?? {}, timeout: options.timeout ?? 60_000, maxBuffer: 64 << 20 },
      (error, stdout, stderr) => done({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

export interface Serving {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Sends `signal` to the process (by its PID) and resolves with its exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts `command` (env exactly `env`) and resolves once its stderr has said `ready` `count`
 * times (`listening on` by default); rejects with its output if it exits or takes over 30 s.
 */
export async function startServing(
  command: readonly string[],
  env: Record<string, string>,
  options: { cwd?: string; ready?: RegExp; count?: number } = {},
): Promise<Serving> {
  const child = spawn(command[0]!, command.slice(1), { cwd: options.cwd ?? ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk) => (stdout += chunk));
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  const ready = options.ready ?? /listening on/g;
  const deadline = Date.now() + 30_000;
  while ((`${stderr}${stdout}`.match(new RegExp(ready.source, 'g')) ?? []).length < (options.count ?? 1)) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`${command.join(' ')} exited (${child.exitCode ?? child.signalCode}):\n${stderr}${stdout}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${command.join(' ')} was not ready within 30 s:\n${stderr}${stdout}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, signal);
      const timer = setTimeout(() => child.exitCode === null && child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
