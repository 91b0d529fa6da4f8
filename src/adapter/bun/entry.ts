/**
 * The Bun adapter's entry (src/bun.ts): the command line with Bun's runtime name, Bun's fetch as
 * the upstream client, and `serve` on Bun.serve (serve.ts, shared with `bun run src/node.ts`).
 */
import { runCli } from '../../cli/program.ts';
import { processHost } from '../node/process.ts';
import { bunClient } from './client.ts';
import { serveBun } from './serve.ts';

/** Runs this process's command line; `serve` lives on until a signal. */
export async function main(): Promise<void> {
  await runCli({ ...processHost, runtime: 'bun', client: bunClient, serve: serveBun });
}
