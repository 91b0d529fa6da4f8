/**
 * Listeners shared with reusePort (Bun, Deno: a router's workers, and a TLS listener that is
 * replaced on SIGHUP) would let a second router on the same port join them, silently taking a
 * share of the connections: Linux lets any socket with SO_REUSEPORT (same user) bind beside
 * others that have it. So before such listeners start, each address is bound once without
 * reusePort and let go: that bind fails (EADDRINUSE) while anyone else listens there, with or
 * without reusePort, as a lone Node router's bind does.
 */
import { createServer } from 'node:net';
import type { ListenEntry } from '../config/serving.ts';
import { addressInUseHint } from './listeners.ts';
import type { ProcessHooks } from './lifecycle.ts';

/** Binds `host:port` exclusively and closes it again; resolves with the bind's error, or undefined when it was free. */
export function tryBind(host: string, port: number): Promise<Error | undefined> {
  return new Promise((done) => {
    const server = createServer();
    server.once('error', (error) => done(error));
    server.listen({ host, port, exclusive: true }, () => server.close(() => done(undefined)));
  });
}

/**
 * Whether every entry's address is free (entries on port 0 get a fresh port anyway). When one is
 * not, logs the line a lone router logs for a busy port (`cannot listen on …; another process
 * already listens on …`) and ends the process with exit 1 (the README's code for a busy port).
 */
export async function claimListenAddresses(entries: readonly ListenEntry[], hooks: ProcessHooks): Promise<void> {
  for (const [i, entry] of entries.entries()) {
    if (entry.port === 0) continue;
    const error = await tryBind(entry.host, entry.port);
    if (!error) continue;
    const where = `${entry.host.includes(':') ? `[${entry.host}]` : entry.host}:${entry.port}`;
    hooks.log(`registry-router: cannot listen on ${where}: ${error.message}${addressInUseHint(error, where, `listen[${i}]`)}`);
    hooks.exit(1);
  }
}
