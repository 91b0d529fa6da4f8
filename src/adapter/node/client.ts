/**
 * The Node adapter's upstream client: undici (src/forward/undici-client.ts) on Node and under Deno;
 * under Bun, whose node:http emulation has no undici underneath, Bun's fetch, which passes bytes
 * through with `decompress: false` (src/adapter/bun/client.ts).
 */
import type { ClientTimeouts, UpstreamClient } from '../../forward/client.ts';
import { undiciClient } from '../../forward/undici-client.ts';
import { bunClient } from '../bun/client.ts';

/** `timeouts` in seconds as in the config. */
export const nodeClient = (timeouts: ClientTimeouts): UpstreamClient => (process.versions.bun ? bunClient(timeouts) : undiciClient(timeouts));
