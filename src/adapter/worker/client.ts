/** The worker's upstream client. */
import type { ClientTimeouts, UpstreamClient } from '../../forward/client.ts';
import { fetchClient } from '../../forward/fetch-client.ts';

/** workerd's fetch; it decodes gzip/br bodies and re-encodes on the way out: 'manual' keeps the bytes. */
export const workerClient = (timeouts: ClientTimeouts): UpstreamClient =>
  fetchClient(timeouts, { init: { encodeResponseBody: 'manual' }, sweepPerRequest: true });
