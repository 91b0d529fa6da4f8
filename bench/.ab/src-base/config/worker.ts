import { checkFeaturesFor } from './features.ts';
import { ConfigError, parseConfigText } from './load.ts';
import type { Config } from './schema.ts';

/**
 * Config for the Cloudflare Worker: the same JSON as the config file, given as the ROUTER_CONFIG
 * var or secret. Plain `listen` entries are accepted and ignored (Cloudflare picks the ports; one
 * file serves every runtime), as is `timeouts.shutdownGrace` (the platform drains deployments).
 * What a worker cannot offer (TLS listeners, static folders, the CA file) is refused here, naming
 * each field, before any request is forwarded.
 */
export function workerConfig(text: string | undefined): Config {
  if (text === undefined || text.trim() === '') {
    throw new ConfigError(
      "ROUTER_CONFIG is not set: give the router config JSON as a var or secret (wrangler.toml [vars], `wrangler secret put ROUTER_CONFIG`, or `wrangler dev --var ROUTER_CONFIG:'{…}'`)",
    );
  }
  const config = parseConfigText(text, 'ROUTER_CONFIG');
  checkFeaturesFor('worker', config);
  return config;
}
