import { z } from 'zod';

/**
 * Config pieces for what the router serves itself: listeners (plain or TLS), static folders, the
 * generated client bootstrap script and the CA certificate. Kept apart from schema.ts, which
 * composes them.
 */

/** A certificate chain and its private key, as PEM file paths (relative to the config file). */
export const certPairSchema = z.strictObject({
  cert: z.string().min(1, 'must be the path of a PEM certificate (chain) file'),
  key: z.string().min(1, 'must be the path of a PEM private key file'),
});
export type CertPair = z.output<typeof certPairSchema>;

const listenEntryInput = z
  .strictObject({
    host: z.string().min(1).default('0.0.0.0'),
    /** Default 8080, or 8443 for a TLS entry. */
    port: z.number().int().min(0).max(65535).optional(),
    /** TLS with one certificate: PEM file paths. */
    cert: z.string().min(1).optional(),
    key: z.string().min(1).optional(),
    /** TLS with one certificate per site, chosen by the name the client asks for (SNI); the first is the default. */
    certs: z.array(certPairSchema).min(1).optional(),
    /** Every connection starts with a PROXY protocol header (v1 or v2) from a balancer: its address is the client's (src/adapter/proxy-protocol.ts). */
    proxyProtocol: z.boolean().optional(),
  })
  .superRefine((entry, ctx) => {
    if (!entry.cert !== !entry.key) {
      ctx.addIssue({ code: 'custom', path: [entry.cert ? 'key' : 'cert'], message: 'a TLS listener needs both "cert" and "key"' });
    }
    if (entry.cert && entry.certs) {
      ctx.addIssue({ code: 'custom', path: ['certs'], message: 'give either "cert"/"key" or "certs", not both' });
    }
  })
  .transform(({ cert, key, certs, port, ...rest }) => {
    const pairs = certs ?? (cert && key ? [{ cert, key }] : []);
    return { ...rest, port: port ?? (pairs.length ? 8443 : 8080), certs: pairs };
  });

/**
 * `listen`: one entry (the old form) or several; always an array once parsed. An entry with
 * `cert`/`key` (or `certs`) is TLS, one without is plain HTTP. Adapters: see `isTls`.
 */
export const listenSchema = z
  .union([listenEntryInput, z.array(listenEntryInput).min(1, 'must list at least one listener')])
  .prefault({})
  .transform((value) => (Array.isArray(value) ? value : [value]))
  .superRefine((entries, ctx) => {
    entries.forEach((entry, i) => {
      const earlier = entries.findIndex((other, j) => j < i && addressesClash(other, entry));
      if (earlier >= 0) ctx.addIssue({ code: 'custom', path: [i, 'port'], message: clashText(entry, `listen[${i}]`, entries[earlier]!, `listen[${earlier}]`) });
    });
  });
export type ListenEntry = z.output<typeof listenSchema>[number];

/** `[::1]:8080`, `0.0.0.0:8080`, as a listener's address is written. */
export const addressText = (entry: { host: string; port: number }): string =>
  `${entry.host.includes(':') && !entry.host.startsWith('[') ? `[${entry.host}]` : entry.host}:${entry.port}`;

const bare = (host: string): string => host.toLowerCase().replace(/^\[(.*)\]$/, '$1');

/**
 * Whether two listeners want one socket, so the second to start fails with EADDRINUSE: the same
 * port (0 picks a free one) on the same address, or where one is a wildcard that takes the other's
 * address too: `0.0.0.0` takes every IPv4 address, `::` every address (Linux binds it dual-stack).
 * A host name clashes with a wildcard (it names some address of the machine).
 */
export function addressesClash(a: { host: string; port: number }, b: { host: string; port: number }): boolean {
  if (a.port === 0 || a.port !== b.port) return false;
  const [x, y] = [bare(a.host), bare(b.host)];
  if (x === y || x === '::' || y === '::') return true;
  const anyV4 = (wild: string, other: string) => wild === '0.0.0.0' && !other.includes(':');
  return anyV4(x, y) || anyV4(y, x);
}

/**
 * Why `entry` (called `label`: `listen[1]`, `admin`) cannot listen beside `other` (`otherField`),
 * for two listeners that clash.
 */
export function clashText(entry: { host: string; port: number }, label: string, other: { host: string; port: number }, otherField: string): string {
  const wild = [entry.host, other.host].map(bare).find((host) => host === '::' || host === '0.0.0.0');
  const every = `${wild} listens on port ${entry.port} of every ${wild === '::' ? '' : 'IPv4 '}address`;
  const why =
    bare(entry.host) === bare(other.host)
      ? `${addressText(entry)} is listed twice (${label} and ${otherField})`
      : `${label} (${addressText(entry)}) and ${otherField} (${addressText(other)}) overlap: ${every}`;
  return `${why}; the second to start would fail (EADDRINUSE): give one of them another port`;
}

export const isTls = (entry: ListenEntry): boolean => entry.certs.length > 0;

const urlPath = z
  .string()
  .regex(/^\/[^?#\\\s]*$/, 'must be a URL path starting with "/" (no query, no backslash, no spaces)')
  .refine((path) => !path.split('/').some((segment) => segment === '.' || segment === '..'), 'must not contain "." or ".." segments');

/** `static`: URL prefix → folder, served before the proxy rules (GET/HEAD only). */
export const staticMountSchema = z.strictObject({
  prefix: urlPath.transform((path) => path.replace(/\/+$/, '')),
  /** The folder (relative to the config file). Nothing outside it is ever served, symlinks included. */
  dir: z.string().min(1),
  /** An HTML index for folders; off by default. */
  listing: z.boolean().default(false),
});
export type StaticMount = z.output<typeof staticMountSchema>;

/**
 * The generated client bootstrap script of a docker site, and where the CA certificate is served.
 * On by default for docker sites when the top-level `caCert` is set; `false` turns it off.
 */
export const bootstrapSchema = z.union([
  z.literal(false),
  z.strictObject({
    path: urlPath.default('/download/scripts/docker-init.sh'),
    caPath: urlPath.default('/download/ca.crt'),
  }),
]);

/**
 * Plain HTTP → HTTPS redirect for a site: false (default: docker clients on a trusted LAN may use
 * http), true (to the first TLS listener's port, 443 if none), or the public HTTPS port to name.
 */
export const httpsRedirectSchema = z
  .union([z.boolean(), z.number().int().min(1).max(65535)], { error: 'must be true, false, or the public HTTPS port (e.g. 443)' })
  .default(false);
