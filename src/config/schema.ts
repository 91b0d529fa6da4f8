import { z } from 'zod';
import { parseSize, SIZE_FORMS } from './size.ts';
import { addressesClash, bootstrapSchema, clashText, httpsRedirectSchema, listenSchema, staticMountSchema } from './serving.ts';
import { adminSchema, healthSchema, upstreamPoolSchema } from './ha.ts';
import { realIpSchema } from './real-ip.ts';
import { FORMAT_NAMES, FORMATS } from '../formats/index.ts';
import { directUploadsSchema, uploadsFromEdgeSchema } from './edge.ts';
import { sessionsSchema } from './sessions.ts';
import { dockerV2Issues, hostEntryProblem, MISSING_ROLE, sitesIssues, unroutedRoleIssues } from './site-checks.ts';
import { WORKERS_FORM, workersTypeError } from './workers.ts';

const URL_FORM = 'must be an absolute http(s) URL without query or fragment, e.g. "http://nexus:8081/repository/docker-group/"';

/** The value echoed, and the likely fix when it is a host (and port, path) without a scheme: `nexus:8082` → `http://nexus:8082`. */
function upstreamUrlProblem(value: string): string {
  // `nexus:8082` parses as a URL of scheme "nexus:"; a bare host does not parse at all.
  const schemeless = /^[a-z0-9.-]+(:\d{1,5})?(\/.*)?$/i.test(value) && !/^https?:/i.test(value);
  return `${URL_FORM}; got ${JSON.stringify(value)}${schemeless ? ` (add the scheme: "http://${value}")` : ''}`;
}

const upstreamUrl = z.string().superRefine((value, ctx) => {
  try {
    const url = new URL(value);
    if ((url.protocol === 'http:' || url.protocol === 'https:') && !url.search && !url.hash) return;
  } catch {}
  ctx.addIssue({ code: 'custom', message: upstreamUrlProblem(value) });
});

const size = z.union([z.number(), z.string()], { error: `must be ${SIZE_FORMS}` }).transform((value, ctx) => {
  const bytes = parseSize(value);
  if (bytes === undefined) {
    ctx.addIssue({ code: 'custom', message: `must be ${SIZE_FORMS}; got ${JSON.stringify(value)}` });
    return z.NEVER;
  }
  return bytes;
});

const seconds = z.number().positive('must be a positive number of seconds');

const hostPattern = z.string().superRefine((value, ctx) => {
  const problem = hostEntryProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

export const HTTP_METHOD = /^[A-Z]+$/;

/** A rule sends matching requests to a role. Roles resolve to upstreams per site (see site/site.ts). */
export const ruleSchema = z.strictObject({
  methods: z.array(z.string().regex(HTTP_METHOD, 'must be an upper-case HTTP method')).min(1).optional(),
  path: z
    .string()
    .startsWith('/', {
      error: (issue) =>
        String(issue.input).startsWith('^')
          ? `must start with "/", got ${JSON.stringify(issue.input)}: ` +
            'rule paths are globs, not regular expressions (no "^" or "$"; * is one path segment, ** any run)'
          : 'must start with "/"',
    })
    .optional(),
  query: z.record(z.string(), z.union([z.string(), z.literal(true)], { error: 'must be a string to match, or true (the parameter is present)' })).optional(),
  /**
   * `list`: the request's Accept names two or more media types and `*\/*`, as a client asks that reads whatever
   * the answer turns out to be (containerd's resolver on a pull), not one that asks for the one type it is about to
   * write (containerd's pusher: `<type>, *\/*`). See src/rules/accept.ts.
   */
  accept: z.literal('list', { error: 'must be "list" (the Accept header names several media types and */*)' }).optional(),
  /** `read`, `write`, `deny`, or a preset alias (`ping`, `token`). */
  to: z.string().min(1),
  /** Requests of one subject (the path's first `**`, e.g. the repository) go to one server of the pool. */
  pin: z.boolean().optional(),
  /** `open` starts or renews the client's push session for the subject; `follow` goes where that session writes. */
  session: z.enum(['open', 'follow']).optional(),
  /** With `session: "follow"`: the role to use inside a session instead of the session's own. */
  followTo: z.string().min(1).optional(),
  /** Map URLs in the JSON answer that point into an upstream to the public name (npm packuments). */
  mapUrls: z.boolean().optional(),
  /**
   * A leading part of the path taken off on the way to the upstream (`/api/v2/package`: NuGet's push URL of a
   * bare-host source, `PUT /api/v2/package/` → the hosted repository's root `/`). Matched on whole segments.
   */
  stripPrefix: z
    .string()
    .regex(/^\/.*[^/]$/, 'must start with "/" and not end with one, e.g. "/api/v2/package" (the path without it is sent upstream)')
    .optional(),
});

const NATIVE_PIPE = 'must be true, false, or { "minSize": "1m", "floorRate": "256k" } (sizes as in maxBodySize; floorRate in bytes per second)';
const nativePipeSchema = z
  .union(
    [
      z.boolean(),
      z.strictObject({
        /** Answers declaring at least this many bytes are piped natively; smaller ones stay exact. */
        minSize: size.default(1024 * 1024),
        /** The slowest a natively piped answer may go, bytes per second: a body of n bytes is cut n / floorRate s plus timeouts.idle after its headers. */
        floorRate: size.default(256 * 1024).refine((rate) => rate > 0, 'must be more than 0 bytes per second'),
      }),
    ],
    { error: NATIVE_PIPE },
  )
  .default(false)
  .transform((value) => (value === false ? undefined : value === true ? { minSize: 1024 * 1024, floorRate: 256 * 1024 } : value));

/** Push sessions (see site/push-sessions.ts): how long one lasts without a request, and how many are kept. */
const pushSessionsSchema = z
  .strictObject({
    /** Seconds after the last request of a push that the session ends; 0 turns push sessions off. */
    idle: z.number().min(0, 'must be 0 (off) or a number of seconds').default(60),
    /** Sessions kept at most; the least recently used one is dropped beyond that. */
    max: z.number().int().positive().default(10_000),
  })
  .prefault({});

/** One URL or a pool `{ servers, backup }` (see config/ha.ts). */
const upstreamPool = upstreamPoolSchema(upstreamUrl);

/** `read` and `write`, plus any named roles a preset or the site's rules route to (Maven's `snapshots`). */
export const upstreamsSchema = z
  .object({ read: upstreamPoolSchema(upstreamUrl, MISSING_ROLE.read), write: upstreamPoolSchema(upstreamUrl, MISSING_ROLE.write) })
  .catchall(upstreamPool)
  .superRefine((roles, ctx) => {
    for (const role of Object.keys(roles)) {
      if (!/^[a-z][a-z0-9_-]*$/i.test(role) || ['deny', 'ping', 'token'].includes(role)) {
        ctx.addIssue({ code: 'custom', path: [role], message: 'a role name is a short identifier other than deny, ping or token' });
      }
    }
  });

const siteSchema = z
  .strictObject({
    name: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/i, 'must be a short identifier'),
    hosts: z.array(hostPattern).min(1, 'must list at least one host'),
    /** The site's format (src/formats/index.ts): its rules, roles, errors, health check. */
    preset: z.enum(FORMAT_NAMES).default('generic'),
    upstream: upstreamPool.optional(),
    upstreams: upstreamsSchema.optional(),
    rules: z.array(ruleSchema).default([]),
    /** Which role answers the docker `/v2/` ping: "write" makes clients log in before a push. */
    ping: z.enum(['read', 'write']).default('read'),
    /** Which role issues bearer tokens (the realm path is routed there). */
    token: z.enum(['read', 'write']).default('read'),
    maxBodySize: size.default(0),
    /** Keep the client's Host (with its port) on the way out; false sends the upstream's own host. */
    preserveHost: z.boolean().default(true),
    /** Send `X-Forwarded-Host` (one value: the Host the client used). */
    forwardedHost: z.boolean().default(true),
    /** Folders served by the router itself, before the proxy rules (see config/serving.ts). */
    static: z.array(staticMountSchema).default([]),
    /** Client bootstrap script and CA download of a docker site (on when `caCert` is set). */
    bootstrap: bootstrapSchema.optional(),
    /** Redirect plain-HTTP requests to HTTPS (off by default). */
    httpsRedirect: httpsRedirectSchema,
    /** Passive and active health checks of the site's servers (see config/ha.ts). */
    health: healthSchema,
    /** Let writes go to backup servers when no primary is healthy (only where backups are safe to write). */
    writeToBackup: z.boolean().default(false),
    /** Reads of a repository a client is pushing go where the push writes (containerd's manifest HEAD). */
    pushSessions: pushSessionsSchema,
    /** On an edge worker's docker site: upload bodies go to `url` with a sealed capability (src/edge/). */
    directUploads: directUploadsSchema.optional(),
    /** On an edge worker's docker site: blobs by digest served from the Workers Cache API after Nexus authorizes a HEAD (src/edge/blob-cache.ts). */
    blobCache: z.boolean().default(false),
    /** On the router beside the registry: this site answers only uploads sealed by an edge's `directUploads`. */
    uploadsFromEdge: uploadsFromEdgeSchema.optional(),
  })
  .superRefine((site, ctx) => {
    if (!site.upstream === !site.upstreams) {
      ctx.addIssue({ code: 'custom', path: ['upstreams'], message: 'give exactly one of "upstream" (one URL or pool) or "upstreams" ({ read, write })' });
    }
    if (site.directUploads && site.uploadsFromEdge) {
      ctx.addIssue({
        code: 'custom',
        path: ['uploadsFromEdge'],
        message: 'a site is either the edge (directUploads) or the origin side (uploadsFromEdge), not both',
      });
    }
    if ((site.directUploads || site.uploadsFromEdge) && !FORMATS[site.preset].directUploads) {
      const formats = FORMAT_NAMES.filter((name) => FORMATS[name].directUploads).map((name) => `"preset": "${name}"`);
      const field = site.directUploads ? 'directUploads' : 'uploadsFromEdge';
      ctx.addIssue({ code: 'custom', path: [field], message: `direct uploads are for docker sites (${formats.join(', ')})` });
    }
    const known = ['read', 'write', 'deny', 'ping', 'token', ...Object.keys(site.upstreams ?? {}), ...Object.keys(FORMATS[site.preset].optionalRoles)];
    site.rules.forEach((rule, i) => {
      if (!known.includes(rule.to)) {
        ctx.addIssue({
          code: 'custom',
          path: ['rules', i, 'to'],
          message: `must be one of ${[...new Set(known)].map((name) => `"${name}"`).join(', ')} (a role the site's upstreams name)`,
        });
      }
    });
  })
  // Also when other fields of the site are wrong, so that one check names every problem: `{ "group", "hosted" }`
  // says both that read and write are missing and which roles were meant.
  .superRefine(
    (site, ctx) => {
      for (const issue of [...unroutedRoleIssues(site), ...dockerV2Issues(site)]) ctx.addIssue({ code: 'custom', ...issue });
    },
    { when: (payload) => typeof payload.value === 'object' && payload.value !== null },
  );

/** What `workers` takes, said whenever it is wrong. */
const WORKERS = WORKERS_FORM;

export const configSchema = z
  .strictObject({
    /** One listener or several, each plain or TLS; an array once parsed (see config/serving.ts). */
    listen: listenSchema,
    /** The CA certificate (PEM) that signed the TLS certificates, as the `certs` command wrote it. */
    caCert: z.string().min(1).optional(),
    sites: z.array(siteSchema).min(1, 'must list at least one site'),
    timeouts: z
      .strictObject({
        /** Idle time without a byte moving, not a cap on the whole transfer (docker layers take long). */
        idle: seconds.default(3600),
        connect: seconds.default(10),
        /** How long a stopping server lets transfers in flight finish. */
        shutdownGrace: seconds.default(30),
        /** How long a client may take to send its request headers before its connection is closed (slow clients). */
        header: seconds.default(30),
      })
      .default({ idle: 3600, connect: 10, shutdownGrace: 30, header: 30 }),
    accessLog: z.boolean().default(true),
    /** The admin listener (`/metrics`, `/healthz`, `/readyz`); none unless configured. */
    admin: adminSchema.optional(),
    /** Serving processes on the same listeners: a count, or "auto" (one per CPU); see config/workers.ts. */
    workers: z.union([z.number().int(WORKERS).min(1, WORKERS).max(1024, WORKERS), z.literal('auto')], { error: workersTypeError }).default(1),
    /** Whose X-Forwarded-For names the client (nginx's real_ip module); off unless configured (config/real-ip.ts). */
    realIp: realIpSchema.optional(),
    /** Push and deploy sessions shared by every router process (config/sessions.ts); none: each process keeps its own. */
    sessions: sessionsSchema.optional(),
    /**
     * Bun.serve only: large fixed-length upstream answers handed to Bun untouched (forward/native-pipe.ts), for
     * less CPU per GiB; their access-log line is written as the headers go out. Off unless set.
     */
    nativePipe: nativePipeSchema,
  })
  .superRefine((config, ctx) => {
    for (const issue of sitesIssues(config.sites)) ctx.addIssue({ code: 'custom', ...issue, path: ['sites', ...issue.path] });
    for (const problem of adminClashes(config)) ctx.addIssue({ code: 'custom', path: ['admin', 'port'], message: problem });
  });

/** The admin listener on a site listener's socket: one of them could not start (EADDRINUSE). Also run after `PORT` is applied. */
export function adminClashes(config: { listen: ReadonlyArray<{ host: string; port: number }>; admin?: { host: string; port: number } | undefined }): string[] {
  const { admin } = config;
  if (!admin) return [];
  return config.listen.flatMap((entry, i) => (addressesClash(entry, admin) ? [clashText(admin, 'admin', entry, `listen[${i}]`)] : []));
}

export type ConfigInput = z.input<typeof configSchema>;
export type Config = z.output<typeof configSchema>;
export type SiteConfig = Config['sites'][number];
export type RuleConfig = z.output<typeof ruleSchema>;
