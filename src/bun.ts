/**
 * Bun adapter: `bun run src/bun.ts --config router.json`. The command line with Bun's runtime
 * name, Bun's fetch as the upstream client, and `serve` on Bun.serve (src/bun-serve.ts, shared
 * with `bun run src/node.ts`).
 */
import { readFileSync } from 'node:fs';
import { bunClient, serveBun } from './bun-serve.ts';
import { runCli } from './cli/program.ts';

await runCli({
  runtime: 'bun',
  argv: process.argv.slice(2),
  env: (name) => process.env[name],
  readText: (path) => readFileSync(path, 'utf8'),
  cwd: () => process.cwd(),
  client: bunClient,
  serve: serveBun,
  exit: (code) => process.exit(code),
});
