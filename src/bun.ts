/**
 * Bun entry: `bun run src/bun.ts --config router.json`. The adapter is src/adapter/bun/:
 * Bun.serve, Bun's fetch as the upstream client, the shared lifecycle.
 */
import { main } from './adapter/bun/entry.ts';

await main();
