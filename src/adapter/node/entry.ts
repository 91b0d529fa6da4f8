/**
 * The Node adapter's entry (src/node.ts; also `bun run src/node.ts` and `deno run … src/node.ts`):
 * the command line (src/cli/program.ts) with this process, the undici client and Node's servers.
 * Under Bun, `serve` chooses between Bun.serve and Bun's node:http (on-bun.ts).
 */
import { runCli } from '../../cli/program.ts';
import { nodeClient } from './client.ts';
import { serveOnBun } from './on-bun.ts';
import { processHost } from './process.ts';
import { serveNode } from './serve.ts';

/** Runs one command line: `argv` (this process's by default); `serve` lives on until a signal. */
export async function main(argv: readonly string[] = processHost.argv): Promise<void> {
  await runCli({
    ...processHost,
    argv,
    runtime: process.versions.bun ? 'bun-node' : 'node',
    client: nodeClient,
    serve: process.versions.bun ? serveOnBun : serveNode,
  });
}
