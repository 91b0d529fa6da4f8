/**
 * The Deno adapter's entry (src/deno.ts): the command line with Deno's runtime name, the Deno
 * client and `serve` on Deno.serve (serve.ts). With `"workers"` > 1 this process becomes the
 * primary of that many child processes, each listening with reusePort (workers.ts).
 */
import { runCli } from '../../cli/program.ts';
import { workerCount } from '../../config/workers.ts';
import { claimListenAddresses } from '../workers-claim.ts';
import { isWorkerProcess } from '../workers.ts';
import { denoClient } from './client.ts';
import { denoHooks, denoHost } from './process.ts';
import { serveDeno } from './serve.ts';
import { serveAsWorker, servePrimary } from './workers.ts';

/** Runs this process's command line; `serve` lives on until a signal. */
export async function main(): Promise<void> {
  if (isWorkerProcess(denoHost.env)) return serveAsWorker(serveDeno);
  await runCli({
    ...denoHost,
    runtime: 'deno',
    client: denoClient,
    serve: async (start) => {
      const count = workerCount(start.config);
      if (count > 1) return servePrimary(start, count);
      // A TLS listener binds with reusePort (replaced on SIGHUP), and Bun.serve in production mode sets SO_REUSEPORT
      // unasked (Bun 1.4.5), Deno.serve lets reusePort sockets join it: bound once alone first, to join no other router.
      await claimListenAddresses(start.config.listen, denoHooks);
      return serveDeno(start);
    },
  });
}
