/** The Bun adapter's upstream client (also the Node adapter's under Bun). */
import type { ClientTimeouts, UpstreamClient } from '../../forward/client.ts';
import { fetchClient } from '../../forward/fetch-client.ts';

/**
 * Bun's fetch, with `decompress: false` (it would decode gzip/br but keep Content-Encoding/Length);
 * `timeouts` in seconds as in the config; large bodies may be piped natively by Bun.serve
 * (forward/native-pipe.ts). Never throws.
 */
export const bunClient = (timeouts: ClientTimeouts): UpstreamClient => fetchClient(timeouts, { init: { decompress: false }, nativePipe: true });
