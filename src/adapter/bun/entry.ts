/**
 * The Bun adapter's entry (src/bun.ts): the command line with Bun's runtime name, Bun's fetch as
 * the upstream client, and `serve` on Bun.serve (serve.ts, shared with `bun run src/node.ts`).
 * With `"workers"` > 1 this process becomes the primary of that many child processes, each
 * listening with reusePort (src/adapter/node/workers.ts, as under `bun run src/node.ts`).
 */
import { runCli } from '../../cli/program.ts';
import { workerCount } from '../../config/workers.ts';
import { claimListenAddresses } from '../workers-claim.ts';
import { processHooks, processHost } from '../node/process.ts';
import { serveAsWorker, servePrimary } from '../node/workers.ts';
import { isWorkerProcess } from '../workers.ts';
import { bunClient } from './client.ts';
import { serveBun } from './serve.ts';

/** Runs this process's command line; `serve` lives on until a signal. */
export async function main(): Promise<void> {
  if (isWorkerProcess(processHost.env)) return serveAsWorker(serveBun);
  await runCli({
    ...processHost,
    runtime: 'bun',
    client: bunClient,
    serve: async (start) => {
      const count = workerCount(start.config);
      if (count > 1) return servePrimary(start, count);
      // A TLS listener binds with reusePort (replaced on SIGHUP), and Bun.serve in production mode sets SO_REUSEPORT
      // unasked (Bun 1.4.5), Deno.serve lets reusePort sockets join it: bound once alone first, to join no other router.
      await claimListenAddresses(start.config.listen, processHooks);
      return serveBun(start);
    },
  });
}
