import { parseConfig } from '../../src/config/load.ts';
import type { SiteConfig } from '../../src/config/schema.ts';
import type { Exchange } from '../../src/exchange.ts';
import { compileSite } from '../../src/site/site.ts';

/** A decided exchange for pass unit tests: the site is compiled from real config data. */
export function makeExchange(
  target: string,
  init: RequestInit & { site?: Partial<SiteConfig> & Record<string, unknown>; clientAddress?: string } = {},
): Exchange {
  const { site: siteOverrides, clientAddress = '192.0.2.7', ...requestInit } = init;
  const config = parseConfig({
    sites: [
      {
        name: 'docker',
        hosts: ['idocker.io'],
        preset: 'docker',
        upstreams: { read: 'http://group.internal:8082', write: 'http://hosted.internal:8083' },
        ...siteOverrides,
      },
    ],
  });
  const site = compileSite(config.sites[0]!);
  const request = new Request(target, { duplex: 'half', ...requestInit } as RequestInit);
  const url = new URL(request.url);
  const rule = site.rule(request.method, url.pathname, url.searchParams);
  const role = rule?.target ?? 'write';
  if (role === 'deny') throw new Error(`${target} is denied by the site's rules`);
  return {
    request,
    url,
    clientAddress,
    site,
    role,
    upstream: site.upstreams[role]!,
    startedAt: Date.now(),
    tally: { bytesIn: 0, bytesOut: 0, bodyTooLarge: false },
    subject: rule?.subject(url.pathname),
    pinned: rule?.pin,
    mapUrls: rule?.mapUrls,
    upstreamPath: rule?.upstreamPath(url.pathname),
  };
}
