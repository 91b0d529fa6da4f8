import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';

/** Node runs the router as the built bundle users run (`npm start`), so build it once per test run. */
export default function setup(): void {
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: resolve(import.meta.dirname, '..'), stdio: 'inherit' });
}
