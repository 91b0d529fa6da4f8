/**
 * Deno entry: `deno run --allow-net --allow-read --allow-env src/deno.ts --config router.json`.
 * The adapter is src/adapter/deno/: Deno.serve, the Deno client (src/forward/deno-client.ts), the
 * shared lifecycle. The repo's deno.json (found from this file's folder up) turns on the unstable
 * `net` (reusePort for TLS reload) and `no-legacy-abort`; started elsewhere, pass
 * `--unstable-net --unstable-no-legacy-abort` (see src/adapter/deno/serve.ts).
 */
import { useSharedSessions } from './adapter/app.ts';
import { sharedSessionsFor } from './site/redis-sessions.ts';
import { main } from './adapter/deno/entry.ts';

// `"sessions": { "redis": … }` in the config: the shared store (kept out of the worker's bundle).
useSharedSessions(sharedSessionsFor);
await main();
