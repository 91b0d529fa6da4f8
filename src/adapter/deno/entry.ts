/**
 * The Deno adapter's entry (src/deno.ts): the command line with Deno's runtime name, the Deno
 * client and `serve` on Deno.serve (serve.ts).
 */
import { runCli } from '../../cli/program.ts';
import { denoClient } from './client.ts';
import { denoHost } from './process.ts';
import { serveDeno } from './serve.ts';

/** Runs this process's command line; `serve` lives on until a signal. */
export async function main(): Promise<void> {
  await runCli({ ...denoHost, runtime: 'deno', client: denoClient, serve: serveDeno });
}
