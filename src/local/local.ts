import type { Config, SiteConfig } from '../config/schema.ts';
import { isTls, type StaticMount } from '../config/serving.ts';
import { FORMATS } from '../formats/index.ts';
import { isScriptableHost, registryName, renderBootstrapScript } from './bootstrap.ts';
import { readSmallFile, type FileAccess } from './files.ts';
import { staticHandler } from './static.ts';

/** What the router answered itself instead of proxying, for the access log's `role`. */
export type LocalRole = 'bootstrap' | 'ca' | 'redirect' | 'static';

export interface LocalAnswer {
  role: LocalRole;
  response: Response;
}

export const DEFAULT_BOOTSTRAP = { path: '/download/scripts/docker-init.sh', caPath: '/download/ca.crt' } as const;

/** The public HTTPS port of a site: the number in `httpsRedirect`, else the first TLS listener's port, else 443. */
export function httpsPortOf(site: SiteConfig, config: Config): number {
  if (typeof site.httpsRedirect === 'number') return site.httpsRedirect;
  return config.listen.find(isTls)?.port ?? 443;
}

/** What one site answers itself, compiled once from its config (no file is read here). */
export interface LocalPlan {
  readonly site: string;
  /** The bootstrap script and CA paths, and the CA file: a docker site with `caCert` set, where files can be read. */
  readonly bootstrap: { readonly path: string; readonly caPath: string; readonly caFile: string } | undefined;
  /** The HTTPS port plain HTTP requests are redirected to; undefined when `httpsRedirect` is off. */
  readonly redirectPort: number | undefined;
  /** The port the bootstrap script names for a client that fetched it over plain HTTP. */
  readonly httpsPort: number;
  /** Static folders, longest prefix first. */
  readonly mounts: readonly StaticMount[];
}

/** Which local answer applies (see chooseLocal); `mount`, `status` and `location` say which folder or where to. */
export type LocalChoice =
  | { readonly which: 'bootstrap' | 'ca' }
  | { readonly which: 'redirect'; readonly status: 301 | 308; readonly location: string }
  | { readonly which: 'static'; readonly mount: StaticMount };

/**
 * The site's local answers, or undefined when it has none. `files`: whether this runtime can read
 * files (the bootstrap script and CA need it; static folders without it are a config error here).
 */
export function localPlan(site: SiteConfig, config: Config, files: boolean): LocalPlan | undefined {
  if (site.static.length && !files) throw new Error(`site ${site.name}: "static" needs file access, which this runtime did not provide`);
  const bootstrap =
    FORMATS[site.preset].clientBootstrap && site.bootstrap !== false && config.caCert !== undefined && files
      ? { ...DEFAULT_BOOTSTRAP, ...site.bootstrap, caFile: config.caCert }
      : undefined;
  const mounts = [...site.static].sort((a, b) => b.prefix.length - a.prefix.length);
  const httpsPort = httpsPortOf(site, config);
  const redirectPort = site.httpsRedirect === false ? undefined : httpsPort;
  if (!bootstrap && !mounts.length && redirectPort === undefined) return undefined;
  return { site: site.name, bootstrap, redirectPort, httpsPort, mounts };
}

/**
 * Which local answer a request gets, in this order: the bootstrap script and the CA (served over
 * plain HTTP too, since they are how a client comes to trust the TLS port), the HTTP → HTTPS
 * redirect, then the first static folder whose prefix holds the path (longest first). A folder
 * that matches answers whatever it holds (404 for a missing file): nothing falls through to the
 * rules. Undefined lets the request go on to the upstream. Pure: no file is read.
 */
export function chooseLocal(plan: LocalPlan, method: string, url: URL): LocalChoice | undefined {
  const { bootstrap } = plan;
  if (bootstrap && url.pathname === bootstrap.path) return { which: 'bootstrap' };
  if (bootstrap && url.pathname === bootstrap.caPath) return { which: 'ca' };
  if (plan.redirectPort !== undefined && url.protocol === 'http:') {
    const location = `https://${url.hostname}${plan.redirectPort === 443 ? '' : `:${plan.redirectPort}`}${url.pathname}${url.search}`;
    // 308 keeps the method and body of a push; GET/HEAD get the classic 301.
    return { which: 'redirect', status: method === 'GET' || method === 'HEAD' ? 301 : 308, location };
  }
  const mount = plan.mounts.find(({ prefix }) => prefix === '' || url.pathname === prefix || url.pathname.startsWith(`${prefix}/`));
  return mount && { which: 'static', mount };
}

/** Answers the chosen local answer: reads the CA, renders the script, serves the file. `url` is the one the answer is made for. */
export async function answerLocal(plan: LocalPlan, choice: LocalChoice, request: Request, url: URL, files: FileAccess | undefined): Promise<LocalAnswer> {
  switch (choice.which) {
    case 'redirect':
      return { role: 'redirect', response: new Response(null, { status: choice.status, headers: { location: choice.location } }) };
    case 'static': {
      if (!files) throw new Error(`site ${plan.site}: "static" needs file access, which this runtime did not provide`);
      const response = await staticHandler(choice.mount, files)(request, url);
      // chooseLocal picked this mount for the path, so it answers.
      if (!response) throw new Error(`static "${choice.mount.prefix || '/'}" did not answer ${url.pathname}`);
      return { role: 'static', response };
    }
    default:
      return { role: choice.which, response: await bootstrapAnswer(plan, choice.which === 'bootstrap', request, url, files) };
  }
}

async function bootstrapAnswer(plan: LocalPlan, isScript: boolean, request: Request, url: URL, files: FileAccess | undefined): Promise<Response> {
  const bootstrap = plan.bootstrap;
  if (!bootstrap || !files) throw new Error(`site ${plan.site} has no bootstrap script here`);
  if (request.method !== 'GET' && request.method !== 'HEAD') return plain(405, 'method not allowed\n', { allow: 'GET, HEAD' });
  let ca: Uint8Array<ArrayBuffer> | undefined;
  try {
    ca = await readSmallFile(files, bootstrap.caFile);
  } catch {
    ca = undefined;
  }
  if (!ca) return plain(503, `the CA certificate (caCert) cannot be read on this server\n`);
  if (!isScript) return body(request, ca, 'application/x-x509-ca-cert');
  if (!isScriptableHost(url.hostname)) {
    return plain(400, `address the registry by host name or IPv4 address to get its script, not "${url.hostname}"\n`);
  }
  // Over TLS the client already uses the registry's port; over plain HTTP, point it at the HTTPS one.
  const port = url.protocol === 'https:' ? Number(url.port || 443) : plan.httpsPort;
  const origin = `${url.protocol}//${url.host}`;
  const script = renderBootstrapScript({
    site: plan.site,
    host: url.hostname,
    port,
    caPem: new TextDecoder().decode(ca),
    scriptUrl: origin + bootstrap.path,
    caUrl: origin + bootstrap.caPath,
  });
  const headers = {
    'content-disposition': `inline; filename="${bootstrap.path.split('/').pop() || 'docker-init.sh'}"`,
    'x-registry': registryName(url.hostname, port),
  };
  return body(request, new TextEncoder().encode(script), 'text/x-shellscript; charset=utf-8', headers);
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
 * For clients that address the router by IP (they cannot resolve the registry name yet: `curl
 * http://10.0.0.5/download/scripts/docker-init.sh | sudo sh -s -- --hosts 10.0.0.5`): no site
 * serves an IP-literal Host, so the first docker site with a bootstrap answers its script and CA
 * paths, rendered for its first host name (see addressUrl). Its index in `config.sites`, that name
 * and the paths; undefined when no site has one.
 */
export function addressBootstrap(config: Config, files: boolean): { index: number; name: string; path: string; caPath: string } | undefined {
  const index = config.sites.findIndex(
    (site) => FORMATS[site.preset].clientBootstrap && site.bootstrap !== false && site.hosts.some((host) => !host.startsWith('*.')),
  );
  if (index < 0 || config.caCert === undefined || !files) return undefined;
  const site = config.sites[index]!;
  const name = site.hosts.find((host) => !host.startsWith('*.'))!;
  return { index, name, ...DEFAULT_BOOTSTRAP, ...(site.bootstrap || {}) };
}

/** The URL a by-address bootstrap request is answered for: the site's host name, with the port the client used. */
export function addressUrl(url: URL, name: string): URL {
  const named = new URL(url);
  named.host = name.includes(':') || !url.port ? name : `${name}:${url.port}`;
  return named;
}

/** `10.0.0.5`, `[2001:db8::1]`: a Host that names an address, not a name. */
export const isAddress = (hostname: string): boolean => /^\d{1,3}(\.\d{1,3}){3}$/.test(hostname) || hostname.startsWith('[');
