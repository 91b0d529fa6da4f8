/**
 * What `serve` says on stderr before it listens, and the `HOST` variable. The first request of a
 * new user goes to whatever address they started it on (`curl http://127.0.0.1:8080/v2/`), while a
 * site answers only the Host names it lists: the start lines name them, so a 421 is no surprise.
 */
import { ConfigError } from '../config/load.ts';
import type { StartOptions } from '../config/cli.ts';
import type { Config } from '../config/schema.ts';

/** `registry-router sites: docker → idocker.io, idocker.io:5000; web → repo.example.com (…)`. */
export function sitesLine(config: Config): string {
  const sites = config.sites.map((site) => `${site.name} (${site.preset}) → ${site.hosts.join(', ')}`).join('; ');
  return `registry-router sites: ${sites} (requests are routed by their Host; a Host no site lists gets 421)`;
}

/** Said when no config file was given: what runs, and where a newcomer goes next (`demo`: how to start the demo). */
export function defaultConfigLine(demo: string): string {
  return (
    `registry-router: no --config FILE (or REGISTRY_ROUTER_CONFIG): the built-in default config runs (its sites below); ` +
    `to try the router without Nexus: ${demo}`
  );
}

/**
 * `HOST` replaces the first listener's address, as `PORT` replaces its port: a bind address without
 * a config file (`HOST=127.0.0.1 npm start`). An IP address (IPv6 with or without brackets) or a
 * host name; anything else is refused naming the variable.
 */
export function withBindHost(start: StartOptions, value: string | undefined): StartOptions {
  if (value === undefined || value === '') return start;
  const host = value.replace(/^\[(.*)\]$/, '$1');
  const ipv4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  const valid = ipv4
    ? ipv4.slice(1).every((part) => Number(part) <= 255)
    : /^[0-9a-f:.]+$/i.test(host)
      ? host.includes(':')
      : /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/i.test(host);
  if (!valid) throw new ConfigError(`HOST must be an address to listen on (0.0.0.0, 127.0.0.1, ::, or a host name), got "${value}"`);
  const listen = start.config.listen.map((entry, i) => (i === 0 ? { ...entry, host } : entry));
  return { ...start, config: { ...start.config, listen } };
}
