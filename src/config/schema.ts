import { z } from 'zod';
import { parseSize } from './size.ts';

const upstreamUrl = z
  .string()
  .refine((value) => {
    try {
      const url = new URL(value);
      return (url.protocol === 'http:' || url.protocol === 'https:') && !url.search && !url.hash;
    } catch {
      return false;
    }
  }, 'must be an absolute http(s) URL without query or fragment, e.g. "http://nexus:8081/repository/docker-group/"');

const size = z
  .union([z.number(), z.string()])
  .transform((value, ctx) => {
    const bytes = parseSize(value);
    if (bytes === undefined) {
      ctx.addIssue({ code: 'custom', message: 'must be 0 (no cap), a byte count or a size like "512m"' });
      return z.NEVER;
    }
    return bytes;
  });

const seconds = z.number().positive('must be a positive number of seconds');

const hostPattern = z
  .string()
  .min(1)
  .regex(/^(\*\.)?[a-z0-9.-]+(:\d{1,5})?$|^\[[0-9a-f:.]+\](:\d{1,5})?$/i, 'must be a host name, "*.domain", or host:port');

export const HTTP_METHOD = /^[A-Z]+$/;

/** A rule sends matching requests to a role. Roles resolve to upstreams per site (see site/site.ts). */
export const ruleSchema = z.strictObject({
  methods: z.array(z.string().regex(HTTP_METHOD, 'must be an upper-case HTTP method')).min(1).optional(),
  path: z.string().startsWith('/', 'must start with "/"').optional(),
  query: z.record(z.string(), z.union([z.string(), z.literal(true)])).optional(),
  to: z.string().min(1),
});

export const upstreamsSchema = z.strictObject({ read: upstreamUrl, write: upstreamUrl });

const siteSchema = z
  .strictObject({
    name: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/i, 'must be a short identifier'),
    hosts: z.array(hostPattern).min(1, 'must list at least one host'),
    preset: z.enum(['docker', 'generic']).default('generic'),
    upstream: upstreamUrl.optional(),
    upstreams: upstreamsSchema.optional(),
    rules: z.array(ruleSchema).default([]),
    /** Which role answers the docker `/v2/` ping: "write" makes clients log in before a push. */
    ping: z.enum(['read', 'write']).default('read'),
    /** Which role issues bearer tokens (the realm path is routed there). */
    token: z.enum(['read', 'write']).default('read'),
    maxBodySize: size.default(0),
    /** Keep the client's Host (with its port) on the way out; false sends the upstream's own host. */
    preserveHost: z.boolean().default(true),
  })
  .superRefine((site, ctx) => {
    if (!site.upstream === !site.upstreams) {
      ctx.addIssue({ code: 'custom', path: ['upstreams'], message: 'give exactly one of "upstream" (one URL) or "upstreams" ({ read, write })' });
    }
  });

export const configSchema = z.strictObject({
  listen: z
    .strictObject({
      host: z.string().default('0.0.0.0'),
      port: z.number().int().min(0).max(65535).default(8080),
    })
    .default({ host: '0.0.0.0', port: 8080 }),
  sites: z.array(siteSchema).min(1, 'must list at least one site'),
  timeouts: z
    .strictObject({
      /** Idle time without a byte moving, not a cap on the whole transfer (docker layers take long). */
      idle: seconds.default(3600),
      connect: seconds.default(10),
      /** How long a stopping server lets transfers in flight finish. */
      shutdownGrace: seconds.default(30),
    })
    .default({ idle: 3600, connect: 10, shutdownGrace: 30 }),
  accessLog: z.boolean().default(true),
});

export type ConfigInput = z.input<typeof configSchema>;
export type Config = z.output<typeof configSchema>;
export type SiteConfig = Config['sites'][number];
export type RuleConfig = z.output<typeof ruleSchema>;
