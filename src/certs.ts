/**
 * `tsx src/certs.ts --config router.json …`: the `certs` command run on its own (its tests start it
 * so). The command line runs the same code as `registry-router certs` (src/cli/program.ts).
 */
import { resolve } from 'node:path';
import { certsCommand, parseArgs, type CertsOptions } from './certs/command.ts';

export { certsCommand, listenSnippet, parseArgs, runCerts, type CertsOptions, type CertsResult } from './certs/command.ts';

async function main(): Promise<void> {
  let options: CertsOptions;
  try {
    options = parseArgs(process.argv.slice(2), (name) => process.env[name]);
  } catch (error) {
    console.error((error as Error).message);
    process.exit(2);
  }
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
  const code = await certsCommand(options, { out: (text) => process.stdout.write(text), err: (text) => process.stderr.write(text) });
  if (code) process.exit(code);
}

if (import.meta.url === `file://${process.argv[1] && resolve(process.argv[1])}`) await main();
