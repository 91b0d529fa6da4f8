/**
 * A Nexus-like, path-based docker origin built from real parts, for end-to-end tests of the
 * router against upstreams such as `http://nexus:8081/repository/docker-hosted/`.
 *
 * One in-process node:http server on one port serves `/repository/<repo-name>/...` by forwarding
 * (streamed, nothing buffered) to real docker-registry processes: the prefix is stripped going in,
 * and coming out — like Nexus — every URL the registry built is made absolute again with the
 * `/repository/<repo-name>/` prefix and, by default, THIS server's own `127.0.0.1:PORT` (not the
 * Host header it received): the worst case for a router, since every URL names the internal host.
 *
 * - `Location` / `Content-Location`: registry-relative or registry-absolute URLs become
 *   `<base>/repository/<name>/<path+query as sent>`; anything else passes unchanged.
 * - `WWW-Authenticate: Bearer realm=...`: the realm becomes `<base>/repository/<name>/v2/token`
 *   (Nexus serves the token endpoint itself). Basic challenges pass unchanged.
 * - `<base>/v2/token` and `<base>/repository/<name>/v2/token` are answered by a TokenIssuer (below)
 *   when one is configured. Registries with `auth: token` are given `tokenRealm` (the root one).
 * - The registry never sees X-Forwarded-* / Forwarded / the client's Host: it gets its own host, so
 *   it builds `http://127.0.0.1:<registry port>/v2/...` URLs, which this server rewrites.
 * - `urlBase: 'request'` builds the base from X-Forwarded-Proto/X-Forwarded-Host/Host instead, as a
 *   real Nexus behind a proxy does (so a router sees its own Host back, plus the prefix).
 * - `blobRedirect` answers blob GETs with a 307 to another host (a CDN / S3-style redirect).
 * - Every request is recorded in `seen` (method, raw URL, repository, headers as received).
 *
 * Also here: `startMemberLink` (the internal group → hosted path, with credentials injected, for
 * htpasswd set-ups a Distribution proxy cannot log in to), `startWiretap` (records every response
 * header a real client such as skopeo receives) and `leakingHeaders` (finds internal names in them).
 *
 * Token issuer: JWTs signed with WebCrypto (ES256) by a key + self-signed certificate made with the
 * openssl CLI. Distribution 2.8 verifies them for real against `rootcertbundle` (the cert PEM).
 * The JWT header names the key either by `x5c` (certificate chain, base64 DER) or by `kid` (the
 * libtrust key ID of the certificate's public key): 2.8 accepts both (checked in nexus.test.ts).
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomUUID, webcrypto, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import {
  Agent,
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// ───────────────────────────── token issuer ─────────────────────────────

export type JwtKeyHeader = 'x5c' | 'kid';

export interface TokenIssuerOptions {
  /** The registries' `auth.token.service`: tokens carry it as `aud`. */
  service: string;
  /** The registries' `auth.token.issuer`: tokens carry it as `iss`. */
  issuer: string;
  /** Accounts that may log in (Basic credentials on the token request). */
  users: Record<string, string>;
  /** How the JWT header names the signing key. Default 'x5c'. */
  keyHeader?: JwtKeyHeader;
  /** Token lifetime, default 300 s. */
  ttlSeconds?: number;
  /** Anonymous token requests get `pull` (default: no access at all). */
  anonymousPull?: boolean;
}

export interface AccessEntry {
  type: string;
  name: string;
  actions: string[];
}

export interface IssuedToken {
  account: string | null;
  service: string | null;
  access: AccessEntry[];
}

export interface TokenIssuer {
  readonly service: string;
  readonly issuer: string;
  /** PEM of the self-signed certificate: the registries' `rootcertbundle`. */
  readonly certPem: string;
  /** libtrust key ID of the certificate's public key (what a `kid` header must carry). */
  readonly keyId: string;
  keyHeader: JwtKeyHeader;
  /** Every token handed out, in order. */
  readonly issued: IssuedToken[];
  /** Signs a token for these claims (iss/aud/exp/... filled in unless given). */
  sign(access: AccessEntry[], opts?: { account?: string; keyHeader?: JwtKeyHeader; claims?: Record<string, unknown> }): Promise<string>;
  /** Answers a token request (`GET <realm>?service=&scope=&account=`) as a token server does. */
  answer(query: URLSearchParams, authorization: string | undefined): Promise<{ status: number; headers: Record<string, string>; body: string }>;
}

const b64url = (bytes: Uint8Array | string) => Buffer.from(bytes).toString('base64url');

/** libtrust's key ID: base32(sha256(SPKI DER)[:30]), in 12 groups of 4 joined with ':'. */
export function libtrustKeyId(spkiDer: Uint8Array): string {
  const hash = createHash('sha256').update(spkiDer).digest().subarray(0, 30);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of hash) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out.match(/.{4}/g)!.join(':');
}

/** Parses `scope` values `repository:team/app:pull,push` (the name may itself hold ':'). */
export function parseScope(scope: string): AccessEntry | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first < 0 || last <= first) return undefined;
  return {
    type: scope.slice(0, first),
    name: scope.slice(first + 1, last),
    actions: scope
      .slice(last + 1)
      .split(',')
      .filter(Boolean),
  };
}

export async function createTokenIssuer(opts: TokenIssuerOptions): Promise<TokenIssuer> {
  const dir = mkdtempSync(join(tmpdir(), 'rr-token-issuer-'));
  let keyPem: string;
  let certPem: string;
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '2',
        '-subj',
        '/CN=registry-router test token issuer',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    keyPem = readFileSync(join(dir, 'key.pem'), 'utf8');
    certPem = readFileSync(join(dir, 'cert.pem'), 'utf8');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const pkcs8 = Buffer.from(keyPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  const key = await webcrypto.subtle.importKey('pkcs8', pkcs8, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
  const cert = new X509Certificate(certPem);
  const spki = cert.publicKey.export({ type: 'spki', format: 'der' });
  const keyId = libtrustKeyId(spki);
  const x5c = [cert.raw.toString('base64')];
  const ttl = opts.ttlSeconds ?? 300;

  const issuer: TokenIssuer = {
    service: opts.service,
    issuer: opts.issuer,
    certPem,
    keyId,
    keyHeader: opts.keyHeader ?? 'x5c',
    issued: [],
    async sign(access, signOpts = {}) {
      const form = signOpts.keyHeader ?? issuer.keyHeader;
      const header = { typ: 'JWT', alg: 'ES256', ...(form === 'x5c' ? { x5c } : { kid: keyId }) };
      const now = Math.floor(Date.now() / 1000);
      const claims = {
        iss: opts.issuer,
        sub: signOpts.account ?? '',
        aud: opts.service,
        exp: now + ttl,
        nbf: now - 10,
        iat: now,
        jti: randomUUID(),
        access,
        ...signOpts.claims,
      };
      const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
      // WebCrypto's ECDSA signature is r‖s (IEEE P1363), exactly what JWS ES256 wants.
      const signature = new Uint8Array(await webcrypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, key, Buffer.from(input)));
      return `${input}.${b64url(signature)}`;
    },
    async answer(query, authorization) {
      const json = { 'content-type': 'application/json' };
      let account: string | null = null;
      if (authorization) {
        const match = /^Basic\s+(\S+)$/i.exec(authorization);
        const decoded = match ? Buffer.from(match[1]!, 'base64').toString('utf8') : '';
        const colon = decoded.indexOf(':');
        const user = decoded.slice(0, colon);
        if (colon < 0 || opts.users[user] === undefined || opts.users[user] !== decoded.slice(colon + 1)) {
          return {
            status: 401,
            headers: { ...json, 'www-authenticate': 'Basic realm="token"' },
            body: JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'bad username or password', detail: null }] }),
          };
        }
        account = user;
      }
      const access: AccessEntry[] = [];
      for (const scope of query.getAll('scope').flatMap((s) => s.split(' '))) {
        const entry = parseScope(scope);
        if (!entry) continue;
        const actions = account ? entry.actions : opts.anonymousPull ? entry.actions.filter((a) => a === 'pull') : [];
        if (actions.length) access.push({ ...entry, actions });
      }
      issuer.issued.push({ account, service: query.get('service'), access });
      const token = await issuer.sign(access, { account: account ?? '' });
      return {
        status: 200,
        headers: json,
        body: JSON.stringify({ token, access_token: token, expires_in: ttl, issued_at: new Date().toISOString() }),
      };
    },
  };
  return issuer;
}

// ───────────────────────────── the Nexus-like origin ─────────────────────────────

export interface NexusRequest {
  method: string;
  /** The request target as received (`/repository/docker-hosted/v2/...?...`). */
  url: string;
  /** Repository the request addressed, or null for the root (`/v2/token`) and unknown paths. */
  repo: string | null;
  /** Path + query after the repository prefix (what the registry received). */
  path: string;
  headers: IncomingHttpHeaders;
}

export interface NexusOptions {
  /**
   * 'self' (default): URLs name this server's 127.0.0.1:PORT. 'request': X-Forwarded-Proto/-Host or Host, like Nexus.
   * 'nexus-3.78': like Nexus 3.78+ (sonatype/nexus-public #611, #651): the forwarded host (or Host) as
   * given, then ':' and the port again (X-Forwarded-Port, else the port the host already carries),
   * so a forwarded `host:5001` becomes `host:5001:5001`.
   */
  urlBase?: 'self' | 'request' | 'nexus-3.78';
  tokens?: TokenIssuer;
  /** A URL to 307 blob GETs of that repository/name/digest to; undefined forwards as usual. */
  blobRedirect?: (repo: string, name: string, digest: string) => string | undefined;
}

export interface Nexus {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  /** 127.0.0.1:PORT */
  readonly host: string;
  readonly port: number;
  /** The realm registries with `auth: token` are configured with: this server's root `/v2/token`. */
  readonly tokenRealm: string;
  /** Mutable: tests switch them between cases. */
  options: NexusOptions;
  readonly seen: NexusRequest[];
  /** `http://127.0.0.1:PORT/repository/<name>/`: what the router's upstreams are set to. */
  repositoryUrl(name: string): string;
  /** Serves `/repository/<name>/` from that registry (`http://127.0.0.1:RPORT`). */
  addRepository(name: string, registryUrl: string): void;
  close(): Promise<void>;
}

/** Request headers the registry must not see: connection-level ones, and the client's view of the URL. */
const DROP_GOING_IN = new Set([
  'host',
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'te',
  'trailer',
  'upgrade',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-forwarded-port',
  'x-forwarded-prefix',
  'forwarded',
  'x-real-ip',
]);
const DROP_COMING_OUT = new Set(['connection', 'keep-alive', 'transfer-encoding', 'trailer', 'upgrade']);
const HOP_BY_HOP_IN = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade']);

const BLOB_GET = /^\/v2\/(.+)\/blobs\/([a-z0-9]+:[a-f0-9]+)$/;

function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Streams one request to `target` and its answer back (no buffering either way; backpressure by
 * pipe). `mapHeader` may rewrite each response header value (name, value) → value, or drop it (null).
 */
function relay(
  req: IncomingMessage,
  res: ServerResponse,
  target: { host: string; port: number; path: string; headers: OutgoingHttpHeaders; agent: Agent },
  label: string,
  mapHeader: (lowerName: string, value: string) => string | null = (_n, v) => v,
  onResponse?: (status: number, pairs: Array<[string, string]>) => void,
): void {
  const outgoing = httpRequest(
    { host: target.host, port: target.port, method: req.method, path: target.path, headers: target.headers, agent: target.agent },
    (upstream) => {
      const raw = upstream.rawHeaders;
      const received: Array<[string, string]> = [];
      const out: string[] = [];
      for (let i = 0; i < raw.length; i += 2) {
        const name = raw[i]!;
        received.push([name, raw[i + 1]!]);
        const lower = name.toLowerCase();
        if (DROP_COMING_OUT.has(lower)) continue;
        const value = mapHeader(lower, raw[i + 1]!);
        if (value !== null) out.push(name, value);
      }
      onResponse?.(upstream.statusCode!, received);
      res.writeHead(upstream.statusCode!, upstream.statusMessage, out);
      upstream.pipe(res);
      upstream.on('error', () => res.destroy());
    },
  );
  outgoing.on('error', (error) => {
    if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' }).end(`${label}: ${error.message}\n`);
    else res.destroy();
  });
  res.on('close', () => {
    if (!res.writableFinished) outgoing.destroy();
  });
  req.pipe(outgoing);
}

/** Copies request headers, leaving out `drop` (lower-case names). */
function copyHeaders(headers: IncomingHttpHeaders, drop: ReadonlySet<string>): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) if (!drop.has(name) && value !== undefined) out[name] = value;
  return out;
}

export async function startNexus(initial: NexusOptions = {}): Promise<Nexus> {
  const repos = new Map<string, URL>();
  const seen: NexusRequest[] = [];
  const agent = new Agent({ keepAlive: true, maxSockets: 32 });
  let port = 0;

  const nexus: Nexus = {
    get url() {
      return `http://127.0.0.1:${port}`;
    },
    get host() {
      return `127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    get tokenRealm() {
      return `http://127.0.0.1:${port}/v2/token`;
    },
    options: { ...initial },
    seen,
    repositoryUrl: (name) => `http://127.0.0.1:${port}/repository/${name}/`,
    addRepository(name, registryUrl) {
      repos.set(name, new URL(registryUrl));
    },
    close: () =>
      new Promise<void>((done) => {
        agent.destroy();
        server.closeAllConnections();
        server.close(() => done());
      }),
  };

  /** Where this request's absolute URLs point: our own host:port, or what the client says it used. */
  function baseFor(req: IncomingMessage): string {
    if (nexus.options.urlBase === 'self' || !nexus.options.urlBase) return nexus.url;
    const proto = firstHeader(req.headers['x-forwarded-proto'])?.split(',')[0]?.trim() || 'http';
    const host = firstHeader(req.headers['x-forwarded-host'])?.split(',')[0]?.trim() || req.headers.host || nexus.host;
    if (nexus.options.urlBase === 'request') return `${proto}://${host}`;
    const port = firstHeader(req.headers['x-forwarded-port'])?.split(',')[0]?.trim() || /:(\d+)$/.exec(host)?.[1];
    return `${proto}://${host}${port && port !== (proto === 'https' ? '443' : '80') ? `:${port}` : ''}`;
  }

  async function answerToken(req: IncomingMessage, res: ServerResponse, query: string): Promise<void> {
    const tokens = nexus.options.tokens;
    if (!tokens) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('no token service configured\n');
      return;
    }
    const answer = await tokens.answer(new URLSearchParams(query), req.headers.authorization);
    res.writeHead(answer.status, { ...answer.headers, 'content-length': Buffer.byteLength(answer.body) }).end(answer.body);
  }

  function forward(req: IncomingMessage, res: ServerResponse, repo: string, target: URL, pathAndQuery: string): void {
    const base = `${baseFor(req)}/repository/${repo}`;
    const headers = copyHeaders(req.headers, DROP_GOING_IN);
    headers.host = target.host;

    const mapUrl = (value: string): string => {
      if (value.startsWith('/')) return base + value;
      let parsed: URL;
      try {
        parsed = new URL(value);
      } catch {
        return value;
      }
      if (parsed.origin !== target.origin) return value;
      // Keep the path and query exactly as the registry wrote them.
      const start = value.indexOf('/', value.indexOf('//') + 2);
      return base + (start < 0 ? '/' : value.slice(start));
    };

    relay(req, res, { host: target.hostname, port: Number(target.port), path: pathAndQuery, headers, agent }, `nexus-like: ${repo}`, (name, value) => {
      if (name === 'location' || name === 'content-location') return mapUrl(value);
      if (name === 'www-authenticate' && /^bearer\s/i.test(value)) return value.replace(/realm="[^"]*"/i, `realm="${base}/v2/token"`);
      return value;
    });
  }

  const server = createServer((req, res) => {
    const rawUrl = req.url ?? '/';
    const q = rawUrl.indexOf('?');
    const pathname = q < 0 ? rawUrl : rawUrl.slice(0, q);
    const query = q < 0 ? '' : rawUrl.slice(q + 1);
    const match = /^\/repository\/([^/]+)(\/.*)?$/.exec(pathname);
    const repo = match && repos.has(match[1]!) ? match[1]! : null;
    const rest = match ? (match[2] ?? '/') : pathname;
    // The router's background health checks (on by default) are not requests a client caused.
    if (req.headers['user-agent'] !== 'registry-router-health-check') {
      seen.push({ method: req.method!, url: rawUrl, repo, path: rest + (q < 0 ? '' : rawUrl.slice(q)), headers: { ...req.headers } });
    }

    const fail = (error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' }).end(`nexus-like: ${String(error)}\n`);
      else res.destroy();
    };
    if (pathname === '/v2/token' || (repo && rest === '/v2/token')) {
      req.resume();
      return void answerToken(req, res, query).catch(fail);
    }
    if (!repo) {
      req.resume();
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`nexus-like: no repository at ${pathname}\n`);
      return;
    }
    const blob = req.method === 'GET' ? BLOB_GET.exec(rest) : null;
    const redirect = blob && nexus.options.blobRedirect?.(repo, blob[1]!, blob[2]!);
    if (redirect) {
      req.resume();
      res.writeHead(307, { location: redirect, 'content-length': 0, 'docker-distribution-api-version': 'registry/2.0' }).end();
      return;
    }
    forward(req, res, repo, repos.get(repo)!, rest + (q < 0 ? '' : rawUrl.slice(q)));
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  port = (server.address() as AddressInfo).port;
  return nexus;
}

// ───────────────────────────── member link ─────────────────────────────

export interface MemberLink {
  /** http://127.0.0.1:PORT — a group registry's `proxyRemote`. */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Nexus reads a group's members internally, with no HTTP authentication between them. A
 * Distribution 2.8 pull-through cache cannot stand in for that against an htpasswd registry: its
 * proxy looks Basic credentials up by the request URL, while they are stored under the challenge's
 * realm ("basic-realm"), so it never sends them and the hosted registry answers 401 (the group then
 * says MANIFEST_UNKNOWN). Token remotes work (credentials are keyed by the token realm URL). This
 * link is the internal path: it forwards everything to `registryUrl` with `authorization` set.
 */
export async function startMemberLink(registryUrl: string, authorization: string): Promise<MemberLink> {
  const target = new URL(registryUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  const server = createServer((req, res) => {
    const headers = copyHeaders(req.headers, HOP_BY_HOP_IN);
    headers.host = target.host;
    headers.authorization = authorization;
    relay(req, res, { host: target.hostname, port: Number(target.port), path: req.url!, headers, agent }, 'member link');
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((done) => {
        agent.destroy();
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}

// ───────────────────────────── wiretap ─────────────────────────────

export interface TappedExchange {
  method: string;
  url: string;
  status: number;
  /** Response headers exactly as the router sent them (name, value pairs; the client gets these minus hop-by-hop ones). */
  headers: Array<[string, string]>;
}

export interface Wiretap {
  /** http://127.0.0.1:PORT — point the client here. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly exchanges: TappedExchange[];
  close(): Promise<void>;
}

/**
 * A transparent recorder in front of the router (like a TCP load balancer that keeps Host): the
 * client (skopeo) talks to it, it forwards every request unchanged (Host included) to the router and
 * records each response's status and headers, so a test can check every header a real client saw.
 */
export async function startWiretap(targetPort: number): Promise<Wiretap> {
  const exchanges: TappedExchange[] = [];
  const agent = new Agent({ keepAlive: true, maxSockets: 32 });
  const server = createServer((req, res) => {
    const headers = copyHeaders(req.headers, HOP_BY_HOP_IN);
    relay(req, res, { host: '127.0.0.1', port: targetPort, path: req.url!, headers, agent }, 'wiretap', undefined, (status, pairs) =>
      exchanges.push({ method: req.method!, url: req.url!, status, headers: pairs }),
    );
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    port,
    exchanges,
    close: () =>
      new Promise<void>((done) => {
        agent.destroy();
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}

/**
 * Header lines (`name: value`) that name any of `needles` (an internal host:port, a bare `:port`,
 * the `/repository/` prefix …), case-insensitively. Empty when nothing leaks.
 */
export function leakingHeaders(headers: Iterable<[string, string]>, needles: readonly string[]): string[] {
  const lowered = needles.map((n) => n.toLowerCase());
  const found: string[] = [];
  for (const [name, value] of headers) {
    const v = value.toLowerCase();
    if (lowered.some((needle) => v.includes(needle))) found.push(`${name}: ${value}`);
  }
  return found;
}
