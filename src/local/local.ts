import type { Config, SiteConfig } from '../config/schema.ts';
import { isTls } from '../config/serving.ts';
import { isScriptableHost, registryName, renderBootstrapScript } from './bootstrap.ts';
import { readSmallFile, type FileAccess } from './files.ts';
import { staticHandler, type StaticHandler } from './static.ts';

/** What the router answered itself instead of proxying, for the access log's `role`. */
export type LocalRole = 'bootstrap' | 'ca' | 'redirect' | 'static';

export interface LocalAnswer {
  role: LocalRole;
  response: Response;
}

/** Runs before the proxy rules; undefined lets the request go on to the upstream. */
export type LocalHandler = (request: Request, url: URL) => Promise<LocalAnswer | undefined>;

export const DEFAULT_BOOTSTRAP = { path: '/download/scripts/docker-init.sh', caPath: '/download/ca.crt' } as const;

/** The public HTTPS port of a site: the number in `httpsRedirect`, else the first TLS listener's port, else 443. */
export function httpsPortOf(site: SiteConfig, config: Config): number {
  if (typeof site.httpsRedirect === 'number') return site.httpsRedirect;
  return config.listen.find(isTls)?.port ?? 443;
}

/**
 * Per site, in this order: the bootstrap script and the CA (served over plain HTTP too, since
 * they are how a client comes to trust the TLS port), the HTTP → HTTPS redirect, then the
 * static folders (longest prefix first).
 */
export function compileLocal(site: SiteConfig, config: Config, files: FileAccess | undefined): LocalHandler | undefined {
  if (site.static.length && !files) throw new Error(`site ${site.name}: "static" needs file access, which this runtime did not provide`);
  const bootstrap =
    site.preset === 'docker' && site.bootstrap !== false && config.caCert !== undefined && files
      ? { ...DEFAULT_BOOTSTRAP, ...site.bootstrap, caFile: config.caCert, files }
      : undefined;
  const mounts: StaticHandler[] = [...site.static]
    .sort((a, b) => b.prefix.length - a.prefix.length)
    .map((mount) => staticHandler(mount, files!));
  const redirectPort = site.httpsRedirect === false ? undefined : httpsPortOf(site, config);
  const httpsPort = httpsPortOf(site, config);
  if (!bootstrap && !mounts.length && redirectPort === undefined) return undefined;

  return async (request, url) => {
    if (bootstrap && (url.pathname === bootstrap.path || url.pathname === bootstrap.caPath)) {
      const isScript = url.pathname === bootstrap.path;
      const role: LocalRole = isScript ? 'bootstrap' : 'ca';
      if (request.method !== 'GET' && request.method !== 'HEAD') return { role, response: plain(405, 'method not allowed\n', { allow: 'GET, HEAD' }) };
      let ca: Uint8Array<ArrayBuffer> | undefined;
      try {
        ca = await readSmallFile(bootstrap.files, bootstrap.caFile);
      } catch {
        ca = undefined;
      }
      if (!ca) return { role, response: plain(503, `the CA certificate (caCert) cannot be read on this server\n`) };
      if (!isScript) return { role, response: body(request, ca, 'application/x-x509-ca-cert') };
      if (!isScriptableHost(url.hostname)) {
        return { role, response: plain(400, `address the registry by host name or IPv4 address to get its script, not "${url.hostname}"\n`) };
      }
      // Over TLS the client already uses the registry's port; over plain HTTP, point it at the HTTPS one.
      const port = url.protocol === 'https:' ? Number(url.port || 443) : httpsPort;
      const origin = `${url.protocol}//${url.host}`;
      const script = renderBootstrapScript({
        site: site.name,
        host: url.hostname,
        port,
        caPem: new TextDecoder().decode(ca),
        scriptUrl: origin + bootstrap.path,
        caUrl: origin + bootstrap.caPath,
      });
      const headers = { 'content-disposition': `inline; filename="${bootstrap.path.split('/').pop() || 'docker-init.sh'}"`, 'x-registry': registryName(url.hostname, port) };
      return { role, response: body(request, new TextEncoder().encode(script), 'text/x-shellscript; charset=utf-8', headers) };
    }
    if (redirectPort !== undefined && url.protocol === 'http:') {
      const location = `https://${url.hostname}${redirectPort === 443 ? '' : `:${redirectPort}`}${url.pathname}${url.search}`;
      // 308 keeps the method and body of a push; GET/HEAD get the classic 301.
      const status = request.method === 'GET' || request.method === 'HEAD' ? 301 : 308;
      return { role: 'redirect', response: new Response(null, { status, headers: { location } }) };
    }
    for (const mount of mounts) {
      const response = await mount(request, url);
      if (response) return { role: 'static', response };
    }
    return undefined;
  };
}

function body(request: Request, bytes: Uint8Array<ArrayBuffer>, contentType: string, extra: Record<string, string> = {}): Response {
  return new Response(request.method === 'HEAD' ? null : bytes, {
    status: 200,
    headers: { 'content-type': contentType, 'content-length': String(bytes.byteLength), 'cache-control': 'no-cache', ...extra },
  });
}

function plain(status: number, text: string, extra: Record<string, string> = {}): Response {
  // The declared length is what the access log counts as bytesOut.
  const bytes = new TextEncoder().encode(text);
  return new Response(bytes, { status, headers: { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(bytes.byteLength), ...extra } });
}

/**
 * The bootstrap script and CA for clients that address the router by IP (they cannot resolve the
 * registry name yet: `curl http://10.0.0.5/download/scripts/docker-init.sh | sudo sh -s -- --hosts
 * 10.0.0.5`). No site serves an IP-literal Host, so the first docker site with a bootstrap answers
 * these two paths, rendered for its first host name (with the port the client used). Returns the
 * index of that site in `config.sites` and the handler, or undefined when no site has one.
 */
export function compileAddressBootstrap(config: Config, files: FileAccess | undefined): { index: number; handler: LocalHandler } | undefined {
  const index = config.sites.findIndex((site) => site.preset === 'docker' && site.bootstrap !== false && site.hosts.some((host) => !host.startsWith('*.')));
  if (index < 0 || config.caCert === undefined || !files) return undefined;
  const site = config.sites[index]!;
  const name = site.hosts.find((host) => !host.startsWith('*.'))!;
  const paths = { ...DEFAULT_BOOTSTRAP, ...(site.bootstrap || {}) };
  const local = compileLocal(site, config, files);
  if (!local) return undefined;
  return {
    index,
    handler: async (request, url) => {
      if (url.pathname !== paths.path && url.pathname !== paths.caPath) return undefined;
      const named = new URL(url);
      named.host = name.includes(':') || !url.port ? name : `${name}:${url.port}`;
      return local(request, named);
    },
  };
}

/** `10.0.0.5`, `[2001:db8::1]`: a Host that names an address, not a name. */
export const isAddress = (hostname: string): boolean => /^\d{1,3}(\.\d{1,3}){3}$/.test(hostname) || hostname.startsWith('[');
