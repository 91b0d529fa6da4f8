/**
 * Bun entry: `bun run src/bun.ts --config router.json`. The adapter is src/adapter/bun/:
 * Bun.serve, Bun's fetch as the upstream client, the shared lifecycle.
 */
import { useSharedSessions } from './adapter/app.ts';
import { sharedSessionsFor } from './site/redis-sessions.ts';
import { main } from './adapter/bun/entry.ts';

// `"sessions": { "redis": … }` in the config: the shared store (kept out of the worker's bundle).
useSharedSessions(sharedSessionsFor);
await main();
