/**
 * The Bun adapter's entry (src/bun.ts): the command line with Bun's runtime name, Bun's fetch as
 * the upstream client, and `serve` on Bun.serve (serve.ts, shared with `bun run src/node.ts`).
 * With `"workers"` > 1 this process becomes the primary of that many child processes, each
 * listening with reusePort (src/adapter/node/workers.ts, as under `bun run src/node.ts`).
 */
import { runCli } from '../../cli/program.ts';
import { workerCount } from '../../config/workers.ts';
import { processHost } from '../node/process.ts';
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
    serve: (start) => {
      const count = workerCount(start.config);
      return count > 1 ? servePrimary(start, count) : serveBun(start);
    },
  });
}
