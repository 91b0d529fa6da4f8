/**
 * Node adapter (also runs as `bun run src/node.ts`): reads the config, starts @hono/node-server,
 * injects the upstream client, and drains transfers in flight on SIGTERM/SIGINT.
 */
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import { jsonLinesLog, quietLog } from './access-log.ts';
import { createApp } from './app.ts';
import { configFromArgs } from './config/cli.ts';
import { fetchClient } from './forward/fetch-client.ts';
import { undiciClient } from './forward/undici-client.ts';

let start;
try {
  start = configFromArgs(process.argv.slice(2), (name) => process.env[name], (path) => readFileSync(path, 'utf8'));
} catch (error) {
  console.error(String((error as Error).message));
  process.exit(2);
}
const { config, source } = start;

// Bun's node:http emulation has no undici underneath; its own fetch passes bytes through with `decompress: false`.
const client = process.versions.bun
  ? fetchClient(config.timeouts, { init: { decompress: false } })
  : undiciClient(config.timeouts);

const app = createApp(config, {
  client,
  log: config.accessLog ? jsonLinesLog : quietLog,
  clientAddress: (c) => getConnInfo(c).remote.address,
});

const server = serve(
  {
    fetch: app.fetch,
    hostname: config.listen.host,
    port: config.listen.port,
    // Node's 300 s request timeout would cut long layer uploads; idle timeouts guard instead.
    serverOptions: { requestTimeout: 0, headersTimeout: 60_000, keepAliveTimeout: 65_000 },
  },
  (info) => console.error(`registry-router listening on ${info.address}:${info.port} (${source})`),
) as Server;

function shutdown(signal: string): void {
  console.error(`registry-router: ${signal}, finishing transfers in flight (up to ${config.timeouts.shutdownGrace} s)`);
  server.close(() => process.exit(0));
  // Keep-alive connections go idle one by one as their last response ends; close each then.
  setInterval(() => server.closeIdleConnections(), 100).unref();
  setTimeout(() => {
    server.closeAllConnections();
    process.exit(0);
  }, config.timeouts.shutdownGrace * 1000).unref();
}
process.once('SIGTERM', () => shutdown('SIGTERM'));
process.once('SIGINT', () => shutdown('SIGINT'));
