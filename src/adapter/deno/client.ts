/**
 * The Deno adapter's upstream client: src/forward/deno-client.ts (request bodies through Deno's
 * node:http, the rest through fetch), not Deno's fetch alone, which sends every streamed upload
 * chunked, dropping its Content-Length.
 */
export { denoClient } from '../../forward/deno-client.ts';
