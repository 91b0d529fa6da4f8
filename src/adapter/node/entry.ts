/**
 * The Node adapter's entry (src/node.ts; also `bun run src/node.ts` and `deno run … src/node.ts`):
 * the command line (src/cli/program.ts) with this process, the undici client and Node's servers.
 * Under Bun, `serve` chooses between Bun.serve and Bun's node:http (on-bun.ts). With `"workers"`
 * > 1 this process becomes the primary of that many workers (workers.ts); a process started as a
 * worker (`REGISTRY_ROUTER_WORKER`) skips the command line and serves what the primary sends it.
 */
import { runCli } from '../../cli/program.ts';
import { workerCount } from '../../config/workers.ts';
import { isWorkerProcess } from '../workers.ts';
import { claimListenAddresses } from '../workers-claim.ts';
import { nodeClient } from './client.ts';
import { serveOnBun } from './on-bun.ts';
import { processHooks, processHost } from './process.ts';
import { serveNode } from './serve.ts';
import { serveAsWorker, servePrimary } from './workers.ts';

/** Runs one command line: `argv` (this process's by default); `serve` lives on until a signal. */
export async function main(argv: readonly string[] = processHost.argv): Promise<void> {
  const serve = process.versions.bun ? serveOnBun : serveNode;
  if (isWorkerProcess(processHost.env)) return serveAsWorker(serve);
  await runCli({
    ...processHost,
    argv,
    runtime: process.versions.bun ? 'bun-node' : 'node',
    client: nodeClient,
    serve: async (start) => {
      const count = workerCount(start.config);
      if (count > 1) return servePrimary(start, count);
      // Bun.serve in production mode sets SO_REUSEPORT unasked (Bun 1.4.5): bound once alone first, to join no other router.
      if (process.versions.bun) await claimListenAddresses(start.config.listen, processHooks);
      return serve(start);
    },
  });
}
