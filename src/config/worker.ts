import { featureProblems } from './features.ts';
import { ConfigError, parseConfigText } from './load.ts';
import type { Config } from './schema.ts';

/**
 * Config for the Cloudflare Worker: the same JSON as the config file, given as the ROUTER_CONFIG
 * var or secret. Plain `listen` entries are accepted and ignored (Cloudflare picks the ports; one
 * file serves every runtime), as is `timeouts.shutdownGrace` (the platform drains deployments).
 * What a worker cannot offer is refused here, naming each field, before any request is forwarded:
 * TLS listeners, static folders and the CA file (config/features.ts), the admin listener, and
 * active health checks (a worker runs only while it answers a request: no timers in between).
 */
export function workerConfig(text: string | undefined): Config {
  if (text === undefined || text.trim() === '') {
    throw new ConfigError(
      'ROUTER_CONFIG is not set: give the router config JSON as a var or secret (wrangler.toml [vars], ' +
        "`wrangler secret put ROUTER_CONFIG`, or `wrangler dev --var ROUTER_CONFIG:'{…}'`)",
    );
  }
  const config = parseConfigText(text, 'ROUTER_CONFIG');
  const problems = workerProblems(config);
  if (problems.length) throw new ConfigError(`this config asks for what worker cannot do:\n${problems.map((line) => `  ${line}`).join('\n')}`, problems);
  return passiveHealth(config);
}

/**
 * Active checks default to on (upstream/health.ts), but a worker runs only while it answers a
 * request: where the config leaves `health.checks` unset, the worker's sites check passively only
 * (a failed server is skipped for `backoff` seconds), without an error.
 */
export function passiveHealth(config: Config): Config {
  return { ...config, sites: config.sites.map((site) => (site.health.checks === undefined ? { ...site, health: { ...site.health, checks: false } } : site)) };
}

/** Everything in `config` a worker cannot do, one line each naming the field (also `check --runtime worker`). */
export function workerProblems(config: Config): string[] {
  const problems = featureProblems('worker', config);
  if (config.sessions) {
    problems.push(
      'sessions: a worker keeps push sessions in Durable Objects (the PUSH_SESSIONS binding in wrangler.toml), ' +
        'not in Redis (no TCP client there); remove sessions',
    );
  }
  if (config.admin) problems.push("admin: a worker cannot open a listener of its own; remove admin (Cloudflare shows the worker's metrics)");
  config.sites.forEach((site, i) => {
    if (site.uploadsFromEdge) {
      problems.push(
        `sites[${i}].uploadsFromEdge: the origin side of direct uploads runs on a router beside the registry (a DNS-only name the ` +
          `platform does not proxy), not at the edge; give the worker's site "directUploads" instead`,
      );
    }
    // Only when asked for: the default (on elsewhere) is off here, see passiveHealth.
    if (site.health.checks === true) {
      problems.push(
        `sites[${i}].health: active checks need a process that runs between requests, which a worker is not; set "health": ` +
          `{ "checks": false } (failed servers are still skipped for "backoff" seconds)`,
      );
    }
  });
  return problems;
}
