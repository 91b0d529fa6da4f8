#!/usr/bin/env node
/**
 * Node entry and the command line's (also `bun run src/node.ts`, `deno run … src/node.ts`, and
 * bundled as dist/node.mjs, the package's `registry-router` bin). The adapter is src/adapter/node/:
 * `serve` on @hono/node-server (under Bun: Bun.serve, or Bun's node:http where reason phrases
 * matter, see on-bun.ts); the other commands (`check`, `route`, `certs`, …) are src/cli/program.ts.
 */
import { useSharedSessions } from './adapter/app.ts';
import { sharedSessionsFor } from './site/redis-sessions.ts';
import { main } from './adapter/node/entry.ts';

export { bunServerFor } from './adapter/node/on-bun.ts';

// `"sessions": { "redis": … }` in the config: the shared store (kept out of the worker's bundle).
useSharedSessions(sharedSessionsFor);
await main();
