import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');

/**
 * Runs the router's `certs` command (src/certs.ts under tsx) on `config`, writing to `out`, with
 * `extra` flags (`--force`, …); returns its stdout. Throws with its stderr when it exits non-zero.
 */
export function runCertsCommand(config: string, out: string, ...extra: string[]): string {
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/certs.ts', '--config', config, '--out', out, ...extra], { cwd: ROOT, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`certs failed: ${result.stderr}`);
  return result.stdout;
}
