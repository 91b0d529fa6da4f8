/**
 * Cloudflare Worker entry (wrangler.toml's `main`): `wrangler dev` / `wrangler deploy`. The
 * adapter is src/adapter/worker/.
 */
export { default, PushSessionObject, type Env } from './adapter/worker/entry.ts';
