/**
 * `registry-router import-nginx FILE`: reads an nginx configuration of the kind ops teams run in
 * front of Nexus and writes the router config that does the same, listing what it could not carry
 * over (`untranslated`, each with file and line) and where the router behaves differently on
 * purpose (`changed`).
 *
 * **Parser.** A small tokenizer of nginx's own grammar (./nginx-syntax.ts), not an npm package.
 * Both candidates were tried on the fixtures in test/import/fixtures/:
 * - `nginx-conf` (2.1.0) builds a tree, but keeps no line numbers (only on a parse error), gives each
 *   directive's arguments as one raw string with the quotes still in it (`X-Forwarded-Proto "http"`),
 *   so they would need tokenizing again anyway, and accepts broken input silently: a missing `;`
 *   before `}` drops the directive (`server { listen 80 }` → a server with no `listen`), an unclosed
 *   `{` is not an error. It is also built for editing files in place (it syncs changes to disk).
 * - `@webantic/nginx-config-parser` (1.6.1) turns the config into a JSON object keyed by directive
 *   name: directive order is lost (`set` → `if` → `proxy_pass` order is the method split), repeated
 *   `if`s merge into one key, a `;` or `#` inside a quoted string cuts the directive
 *   (`add_header X "a; b"` swallowed the following `location`), `!~` came out as `.~`, and it has no
 *   line numbers either.
 * nginx's grammar is small (words, quoted strings, `;`, `{`, `}`, `#` comments) and its rules are
 * written down in `ngx_conf_read_token`; about 150 lines reproduce them with every directive's file
 * and line, and refuse what nginx refuses (a missing `;`, an unclosed block, text glued to a closing
 * quote). `include` is followed when the caller passes a reader (./node-include.ts for Node);
 * otherwise it is listed as untranslated. No dependency is added. The fixtures are checked with the
 * real `nginx -t` where nginx is installed (test/import/nginx.test.ts).
 *
 * **What is translated** (README "From the original nginx config"): `upstream` blocks → pools
 * (`backup` servers kept as backups), `set_real_ip_from`/`real_ip_header`/`real_ip_recursive` → `realIp`
 * (`real_ip_header proxy_protocol` and `listen … proxy_protocol` → the listener's `proxyProtocol`),
 * `listen`/`ssl_certificate*` → plain and TLS listeners (equal
 * ones across servers merged, certificates per SNI), each `server` → a site (`server_name` → hosts),
 * `client_max_body_size` → `maxBodySize` (nginx's default 1m made explicit), the proxy timeouts →
 * `timeouts` (idle: the largest read/send timeout; they are global in the router), the method split
 * (`set`/`if ($request_method …)`/`map $request_method …`/`if … { proxy_pass }`/`limit_except`) →
 * `upstreams: { read, write }` with the docker preset where the site is a docker registry (a method
 * split, a `/v2/` location, `Docker-Distribution-Api-Version`, "docker" in a name), else generic;
 * `root`/`alias` locations → `static` (nginx's default `index index.html` and `autoindex` carried over;
 * other index names and `try_files` fallbacks listed); other proxied or `deny all` locations → site rules; a
 * plain-HTTP server that only redirects to HTTPS (or `if ($scheme = http) { return 301 https://… }`)
 * → `httpsRedirect`.
 */
import type { ConfigInput } from '../config/schema.ts';
import type { UpstreamPoolConfig } from '../config/ha.ts';
import { parseSize } from '../config/size.ts';
import { FORMAT_NAMES, FORMATS, OTHER_NEXUS_FORMATS, type Format, type FormatName } from '../formats/index.ts';
import { compileRule, pickRole } from '../rules/rule.ts';
import { ALL_METHODS, METHODS, MethodRun, compileCondition, conditionArgs, parseMap, type MapDef, type Outcome, type Problem } from './nginx-eval.ts';
import { directiveText, parseNginx, type Directive } from './nginx-syntax.ts';
import { combineRealIp, type RealIpScope } from './nginx-real-ip.ts';
import { INDEX } from '../local/static.ts';

export { NginxSyntaxError } from './nginx-syntax.ts';

export interface Untranslated {
  file: string;
  line: number;
  /** The directive as written (a block as `name args { … }`). */
  directive: string;
  why: string;
}

export interface NginxImport {
  config: ConfigInput;
  untranslated: Untranslated[];
  changed: string[];
}

export interface ImportOptions {
  /**
   * Reads what an `include` names: the pattern as written (relative to the nginx prefix, `*`
   * allowed) → the files it matches, in order. Without it, `include`s are listed as untranslated
   * (except `mime.types`, which the router does not need).
   */
  include?: (pattern: string, from: { file: string; line: number }) => Array<{ file: string; text: string }>;
}

type SiteInput = ConfigInput['sites'][number];
type ListenInput = { host?: string; port?: number; cert?: string; key?: string; certs?: Array<{ cert: string; key: string }>; proxyProtocol?: boolean };
type RuleInput = NonNullable<SiteInput['rules']>[number];
type StaticInput = NonNullable<SiteInput['static']>[number];

/** Directives that change nothing the router needs to know. */
const QUIET = new Set([
  'user',
  'worker_processes',
  'worker_rlimit_nofile',
  'worker_cpu_affinity',
  'worker_shutdown_timeout',
  'pid',
  'daemon',
  'master_process',
  'load_module',
  'pcre_jit',
  'timer_resolution',
  'env',
  'working_directory',
  'lock_file',
  'thread_pool',
  'error_log',
  'log_format',
  'sendfile',
  'tcp_nopush',
  'tcp_nodelay',
  'keepalive_timeout',
  'keepalive_requests',
  'reset_timedout_connection',
  'server_tokens',
  'types_hash_max_size',
  'types_hash_bucket_size',
  'server_names_hash_bucket_size',
  'server_names_hash_max_size',
  'variables_hash_max_size',
  'variables_hash_bucket_size',
  'map_hash_bucket_size',
  'map_hash_max_size',
  'proxy_headers_hash_max_size',
  'proxy_headers_hash_bucket_size',
  'default_type',
  'types',
  'charset',
  'resolver',
  'resolver_timeout',
  'proxy_http_version',
  'proxy_buffer_size',
  'proxy_buffers',
  'proxy_busy_buffers_size',
  'proxy_max_temp_file_size',
  'proxy_temp_file_write_size',
  'proxy_temp_path',
  'client_body_temp_path',
  'client_body_buffer_size',
  'client_header_buffer_size',
  'large_client_header_buffers',
  'chunked_transfer_encoding',
  'ssl_session_cache',
  'ssl_session_timeout',
  'ssl_session_tickets',
  'ssl_buffer_size',
  'open_file_cache',
  'open_file_cache_valid',
  'open_file_cache_min_uses',
  'open_file_cache_errors',
  'server_name_in_redirect',
  'port_in_redirect',
  'absolute_redirect',
  'msie_padding',
  'log_not_found',
  'proxy_ignore_client_abort',
  'proxy_socket_keepalive',
  'autoindex_exact_size',
  'autoindex_localtime',
  'autoindex_format',
  'ssl_trusted_certificate',
  'ssl_stapling',
  'ssl_stapling_verify',
]);

/** Directives absorbed, where the router does it its own way on purpose: the note for `changed`. */
const NOTED: Record<string, string> = {
  proxy_buffering: 'proxy_buffering / proxy_request_buffering off: the router always streams both ways (no setting)',
  proxy_request_buffering: 'proxy_buffering / proxy_request_buffering off: the router always streams both ways (no setting)',
  access_log: 'access log: one JSON line per request on stdout ("accessLog"), not nginx\'s log files and formats',
  ssl_protocols: "TLS protocols and ciphers (ssl_protocols, ssl_ciphers, …): the runtime's defaults (Node: TLS 1.2 and 1.3)",
  ssl_ciphers: "TLS protocols and ciphers (ssl_protocols, ssl_ciphers, …): the runtime's defaults (Node: TLS 1.2 and 1.3)",
  ssl_prefer_server_ciphers: "TLS protocols and ciphers (ssl_protocols, ssl_ciphers, …): the runtime's defaults (Node: TLS 1.2 and 1.3)",
  ssl_ecdh_curve: "TLS protocols and ciphers (ssl_protocols, ssl_ciphers, …): the runtime's defaults (Node: TLS 1.2 and 1.3)",
  ssl_dhparam: "TLS protocols and ciphers (ssl_protocols, ssl_ciphers, …): the runtime's defaults (Node: TLS 1.2 and 1.3)",
  ssl_conf_command: "TLS protocols and ciphers (ssl_protocols, ssl_ciphers, …): the runtime's defaults (Node: TLS 1.2 and 1.3)",
  http2: 'HTTP/2 (http2 on, listen … http2): the router speaks HTTP/1.1 to clients; docker, containerd and skopeo use HTTP/1.1 to registries anyway',
  gzip: "gzip: the router does not compress answers; it passes the upstream's encoding through untouched",
  gzip_types: "gzip: the router does not compress answers; it passes the upstream's encoding through untouched",
  gzip_proxied: "gzip: the router does not compress answers; it passes the upstream's encoding through untouched",
  gzip_vary: "gzip: the router does not compress answers; it passes the upstream's encoding through untouched",
  gzip_comp_level: "gzip: the router does not compress answers; it passes the upstream's encoding through untouched",
  gzip_min_length: "gzip: the router does not compress answers; it passes the upstream's encoding through untouched",
  gzip_disable: "gzip: the router does not compress answers; it passes the upstream's encoding through untouched",
  proxy_redirect:
    'proxy_redirect: the router maps every Location, Content-Location and bearer realm that points into an upstream back to the public scheme, host and port',
  send_timeout: 'send_timeout / client_body_timeout: one idle timeout ("timeouts.idle") covers both sides of a transfer',
  client_body_timeout: 'send_timeout / client_body_timeout: one idle timeout ("timeouts.idle") covers both sides of a transfer',
  proxy_next_upstream:
    'proxy_next_upstream: a failed GET/HEAD without a body is retried on the next server before the client got anything; ' +
    'a request with a body is never sent twice',
  proxy_next_upstream_tries:
    'proxy_next_upstream: a failed GET/HEAD without a body is retried on the next server before the client got anything; ' +
    'a request with a body is never sent twice',
  proxy_next_upstream_timeout:
    'proxy_next_upstream: a failed GET/HEAD without a body is retried on the next server before the client got anything; ' +
    'a request with a body is never sent twice',
};

/** Why a directive the router has no counterpart for matters. */
const WHY: Record<string, string> = {
  auth_basic: 'the router does no authentication of its own: require login in Nexus (its realms and roles)',
  auth_basic_user_file: 'the router does no authentication of its own: require login in Nexus (its realms and roles)',
  auth_request: 'the router does no authentication of its own: require login in Nexus (its realms and roles)',
  allow: 'the router has no client address lists: use a firewall in front of it',
  deny: 'the router has no client address lists: use a firewall in front of it',
  satisfy: 'the router does no authentication of its own',
  rewrite: 'the router does not rewrite request paths (a path prefix on an upstream URL is added going out)',
  return: 'the router answers only with what the upstream or its own rules say',
  error_page: "the router writes its own error bodies in the client's format (registry JSON on docker sites)",
  try_files: 'not translated',
  limit_req: 'the router has no request rate limits',
  limit_req_zone: 'the router has no request rate limits',
  limit_conn: 'the router has no connection limits per client',
  limit_conn_zone: 'the router has no connection limits per client',
  limit_rate: 'the router does not throttle transfers',
  proxy_cache: "the router does not cache answers (Nexus' proxy repositories do)",
  proxy_cache_path: "the router does not cache answers (Nexus' proxy repositories do)",
  proxy_cache_valid: "the router does not cache answers (Nexus' proxy repositories do)",
  proxy_cache_key: "the router does not cache answers (Nexus' proxy repositories do)",
  proxy_hide_header: "the router passes the upstream's headers (hop-by-hop ones aside)",
  proxy_pass_header: "the router passes the upstream's headers (hop-by-hop ones aside)",
  proxy_intercept_errors: "the upstream's error answers reach the client as they are",
  sub_filter: 'the router changes no answer bodies (npm and PyPI index URLs aside)',
  more_set_headers: 'the router adds no response headers',
  more_clear_headers: 'the router removes no response headers beyond hop-by-hop ones',
  ssl_client_certificate: 'the router does not check client certificates',
  ssl_verify_client: 'the router does not check client certificates',
  proxy_ssl_verify: 'upstream TLS is verified against the system CAs; no per-upstream CA',
  proxy_ssl_trusted_certificate: 'upstream TLS is verified against the system CAs; no per-upstream CA',
  proxy_ssl_certificate: 'the router sends no client certificate to upstreams',
  proxy_ssl_certificate_key: 'the router sends no client certificate to upstreams',
  proxy_set_body: 'the router passes request bodies as they are',
  proxy_method: "the router sends the client's method",
  stream: 'TCP/UDP proxying (stream) is not HTTP routing',
  mail: 'mail proxying is not HTTP routing',
  geo: 'the router routes by method, path and query only',
  split_clients: 'the router routes by method, path and query only',
  expires: 'the router adds no caching headers',
};

const DEFAULT_BODY = '1m';
/** nginx: proxy_connect_timeout "cannot usually exceed 75 seconds". */
const CONNECT_MAX = 75;

interface Level {
  maxBody?: Directive;
  /** proxy_set_header in force: a level's own list replaces the inherited one as a whole. */
  headers?: Directive[];
  ownHeaders?: boolean;
  cert?: Directive;
  ownCert?: boolean;
  ownKey?: boolean;
  key?: Directive;
  sslOn?: boolean;
  /** `index` and `autoindex` in force (nginx inherits both into locations that do not set them). */
  index?: Directive;
  autoindex?: Directive;
  /** set_real_ip_from in force: a level's own list replaces the inherited one (nginx's realip merge); header and recursive are inherited. */
  realIpFrom?: Directive[];
  ownRealIpFrom?: boolean;
  realIpHeader?: Directive;
  realIpRecursive?: Directive;
}

interface Listen {
  host: string;
  port: number;
  /** `listen … proxy_protocol`. */
  proxyProtocol?: boolean;
  ssl: boolean;
  directive?: Directive;
  defaultServer: boolean;
}

interface ProxiedUpstream {
  /** Equal targets have equal keys. */
  key: string;
  pool: UpstreamPoolConfig;
  /** The nginx upstream block, if any. */
  upstream?: UpstreamDef;
}

interface UpstreamDef {
  name: string;
  directive: Directive;
  servers: Array<{ address: string; backup: boolean; directive: Directive; failTimeout?: number; maxFails?: number; weight?: number }>;
}

interface LocationInfo {
  directive: Directive;
  kind: 'prefix' | 'exact' | 'regex' | 'named';
  path: string;
  /** The location's effective level (its own settings, falling back to the server's and http's). */
  level: Level;
  outcomes: Map<string, Outcome>;
  targets: Map<string, ProxiedUpstream | undefined>;
  /** A location for a path only a format's writes use (NuGet's `/api/v2/package`): its format and that path. */
  writePath?: WritePath;
}

/** A format's write-only path that an nginx location covers (`Format.nginx.writePaths`). */
interface WritePath {
  format: Format;
  path: string;
  strip: boolean;
}

interface Deny {
  rule: RuleInput;
  order: number;
  directive: Directive;
  /** The location's prefix; undefined for an exact location. */
  prefix: string | undefined;
  /** What nginx answered. */
  status: string;
}

interface ServerPlan {
  directive: Directive;
  names: string[];
  nameDirective: Directive | undefined;
  listens: Listen[];
  level: Level;
  cert?: { cert: string; key: string };
  redirect?: { port: number; directive: Directive };
  site?: SiteInput;
  docker: boolean;
  /** The real_ip settings of the server and its translated locations (src/import/nginx-real-ip.ts). */
  realIp?: Array<{ where: string; level: Level }>;
}

export function importNginx(text: string, file: string, options: ImportOptions = {}): NginxImport {
  return new Importer(options).run(text, file);
}

class Importer {
  private readonly untranslated: Untranslated[] = [];
  private readonly reported = new Set<string>();
  /** Note → where in the nginx config it comes from (file:line, in order). */
  private readonly changed = new Map<string, string[]>();
  private readonly upstreams = new Map<string, UpstreamDef>();
  private readonly maps = new Map<string, MapDef>();
  private readonly timeouts: { read: Directive[]; send: Directive[]; connect: Directive[]; header: Directive[] } = {
    read: [],
    send: [],
    connect: [],
    header: [],
  };
  private readonly accessLogs: Directive[] = [];
  private roleCount = 0;

  constructor(private readonly options: ImportOptions) {}

  run(text: string, file: string): NginxImport {
    const top = this.expandIncludes(parseNginx(text, file), 0);
    const http = top.filter((d) => d.name === 'http');
    let httpBody: Directive[];
    if (http.length) {
      for (const d of top) {
        if (d.name === 'http') continue;
        if (d.name === 'events' || QUIET.has(d.name)) continue;
        this.other(d);
      }
      httpBody = http.flatMap((d) => d.block ?? []);
    } else {
      httpBody = top;
    }
    const root: Level = emptyLevel();
    // First pass: upstreams and maps (referenced from anywhere), http-level settings.
    for (const d of httpBody) {
      if (d.name === 'upstream') this.upstream(d);
      else if (d.name === 'map') {
        const parsed = parseMap(d);
        if (parsed) this.maps.set(parsed.target, parsed.map);
        else this.report(d, 'a map without source, variable or block');
      }
    }
    const servers: Directive[] = [];
    for (const d of httpBody) {
      if (d.name === 'upstream' || d.name === 'map') continue;
      if (d.name === 'server') servers.push(d);
      else if (d.name === 'set' || d.name === 'if' || d.name === 'location') this.report(d, 'not valid at http level');
      else if (!this.setting(d, root)) this.other(d);
    }
    const plans = servers.map((d) => this.server(d, root));
    return this.assemble(plans);
  }

  // ── the client's address ───────────────────────────────────────────────────

  /**
   * nginx's real_ip module → `realIp`, from the settings in force in each site's server and
   * locations (combined without widening trust: nginx-real-ip.ts). `real_ip_header proxy_protocol`
   * needs no `realIp`: the listeners with `proxy_protocol` carry `proxyProtocol`.
   */
  private realIpConfig(plans: readonly ServerPlan[], listen: readonly ListenInput[]): ConfigInput['realIp'] {
    // nginx sets listen parameters once per address: a server on a proxy_protocol address reads the header too.
    const proxied = (l: Listen) => l.proxyProtocol || listen.some((e) => e.proxyProtocol && e.port === l.port && (e.host === l.host || e.host === '::'));
    const scopes: RealIpScope[] = plans.flatMap((plan) =>
      (plan.site ? (plan.realIp ?? []) : []).map(({ where, level }) => ({
        where,
        from: level.realIpFrom ?? [],
        ...(level.realIpHeader && { header: level.realIpHeader }),
        ...(level.realIpRecursive && { recursive: level.realIpRecursive }),
        proxyProtocol: plan.listens.some(proxied),
      })),
    );
    const sink = { report: (d: Directive, why: string) => this.report(d, why), note: (text: string, d?: Directive) => this.note(text, d) };
    return combineRealIp(
      scopes,
      listen.some((entry) => entry.proxyProtocol),
      sink,
    );
  }

  // ── reports ────────────────────────────────────────────────────────────────

  private report(directive: Directive, why: string): void {
    const key = `${directive.file}:${directive.line}:${directive.name}`;
    if (this.reported.has(key)) return;
    this.reported.add(key);
    this.untranslated.push({ file: directive.file, line: directive.line, directive: directiveText(directive), why });
  }

  private note(text: string, where?: Directive): void {
    const list = this.changed.get(text) ?? [];
    if (where && !list.includes(this.at(where))) list.push(this.at(where));
    this.changed.set(text, list);
  }

  private at(directive: Directive): string {
    return `${directive.file}:${directive.line}`;
  }

  /** A directive with no special meaning where it stands: quiet, noted, or untranslated. */
  private other(d: Directive): void {
    if (QUIET.has(d.name)) return;
    if (d.name in NOTED) {
      this.note(NOTED[d.name]!, d);
      return;
    }
    this.report(d, WHY[d.name] ?? `not known to the importer`);
  }

  // ── includes ───────────────────────────────────────────────────────────────

  private expandIncludes(list: readonly Directive[], depth: number): Directive[] {
    const out: Directive[] = [];
    for (const d of list) {
      if (d.name !== 'include') {
        out.push(d.block ? { ...d, block: this.expandIncludes(d.block, depth) } : d);
        continue;
      }
      const pattern = d.args[0]?.value ?? '';
      if (/(^|\/)mime\.types$/.test(pattern)) continue;
      if (!this.options.include) {
        this.report(d, 'included files were not read: run the import with include reading on, or paste them in');
        continue;
      }
      if (depth > 16) {
        this.report(d, 'includes nested more than 16 deep (a loop?)');
        continue;
      }
      let files: Array<{ file: string; text: string }>;
      try {
        files = this.options.include(pattern, { file: d.file, line: d.line });
      } catch (error) {
        this.report(d, `cannot read it: ${(error as Error).message}`);
        continue;
      }
      for (const included of files) out.push(...this.expandIncludes(parseNginx(included.text, included.file), depth + 1));
    }
    return out;
  }

  // ── upstream blocks ────────────────────────────────────────────────────────

  private upstream(d: Directive): void {
    const name = d.args[0]?.value ?? '';
    const def: UpstreamDef = { name, directive: d, servers: [] };
    for (const inner of d.block ?? []) {
      if (inner.name === 'server') {
        const address = inner.args[0]?.value ?? '';
        if (address.startsWith('unix:')) {
          this.report(inner, 'Unix socket upstreams are not supported: give the upstream an HTTP address');
          continue;
        }
        const server: UpstreamDef['servers'][number] = { address, backup: false, directive: inner };
        let down = false;
        for (const { value } of inner.args.slice(1)) {
          const [param, arg] = value.split('=', 2) as [string, string | undefined];
          if (param === 'backup') server.backup = true;
          else if (param === 'down') down = true;
          else if (param === 'fail_timeout') server.failTimeout = seconds(arg ?? '');
          else if (param === 'max_fails') server.maxFails = Number(arg);
          else if (param === 'weight') server.weight = Number(arg);
          else this.report(inner, `server parameter ${value} is not translated`);
        }
        if (down) {
          this.note(`${name}: server ${address} is marked "down" in nginx; it is left out`, inner);
          continue;
        }
        def.servers.push(server);
      } else if (['keepalive', 'keepalive_timeout', 'keepalive_requests', 'keepalive_time', 'zone', 'least_conn'].includes(inner.name)) {
        // What the router does anyway (kept connections, least connections): nothing to say.
      } else if (['ip_hash', 'hash', 'random'].includes(inner.name)) {
        this.note(`${inner.name}: the router balances by least connections, and pins each repository's push to one server (rendezvous hashing)`, inner);
      } else {
        this.report(inner, WHY[inner.name] ?? 'not translated in an upstream block');
      }
    }
    this.upstreams.set(name.toLowerCase(), def);
  }

  // ── settings shared by http, server and location levels ─────────────────

  /** Handles a level setting; returns false when `d` is not one (the caller decides). */
  private setting(d: Directive, level: Level): boolean {
    switch (d.name) {
      case 'client_max_body_size':
        level.maxBody = d;
        return true;
      case 'proxy_set_header':
        if (!level.ownHeaders) {
          level.headers = [];
          level.ownHeaders = true;
        }
        level.headers!.push(d);
        return true;
      case 'ssl_certificate':
        if (level.cert && level.ownCert) this.report(d, 'a second certificate (RSA and ECDSA side by side): the router takes one per name; the first is used');
        else {
          level.cert = d;
          level.ownCert = true;
        }
        return true;
      case 'ssl_certificate_key':
        if (!level.key || !level.ownKey) {
          level.key = d;
          level.ownKey = true;
        }
        return true;
      case 'ssl':
        level.sslOn = d.args[0]?.value === 'on';
        return true;
      case 'index':
        level.index = d;
        return true;
      case 'autoindex':
        level.autoindex = d;
        return true;
      case 'set_real_ip_from':
        if (!level.ownRealIpFrom) {
          level.realIpFrom = [];
          level.ownRealIpFrom = true;
        }
        level.realIpFrom!.push(d);
        return true;
      case 'real_ip_header':
        level.realIpHeader = d;
        return true;
      case 'real_ip_recursive':
        level.realIpRecursive = d;
        return true;
      case 'proxy_read_timeout':
        this.timeouts.read.push(d);
        return true;
      case 'proxy_send_timeout':
        this.timeouts.send.push(d);
        return true;
      case 'proxy_connect_timeout':
        this.timeouts.connect.push(d);
        return true;
      case 'client_header_timeout':
        this.timeouts.header.push(d);
        return true;
      case 'access_log':
        this.accessLogs.push(d);
        if (d.args[0]?.value !== 'off') this.note(NOTED.access_log!, d);
        return true;
      case 'add_header': {
        const [name] = d.args.map((a) => a.value);
        if (name?.toLowerCase() === 'docker-distribution-api-version') {
          this.note("add_header Docker-Distribution-Api-Version: the registry's own header is passed through (Nexus and Distribution send it)", d);
        } else this.report(d, 'the router adds no response headers');
        return true;
      }
      default:
        return false;
    }
  }

  // ── server blocks ──────────────────────────────────────────────────────────

  private server(d: Directive, parent: Level): ServerPlan {
    const level = inherit(parent);
    const names: string[] = [];
    let nameDirective: Directive | undefined;
    const listenDirectives: Directive[] = [];
    const rewrite: Directive[] = [];
    const locations: Directive[] = [];
    let redirect: ServerPlan['redirect'];
    const body = d.block ?? [];
    for (const inner of body) {
      if (inner.name === 'server_name') {
        nameDirective ??= inner;
        names.push(...inner.args.map((a) => a.value));
      } else if (inner.name === 'listen') listenDirectives.push(inner);
      else if (inner.name === 'location') locations.push(inner);
      else if (inner.name === 'if' && isSchemeRedirect(inner)) {
        const port = redirectPort(inner.block?.find((x) => x.name === 'return'));
        if (port !== undefined) redirect = { port, directive: inner };
        else this.report(inner, 'a redirect the router cannot express');
      } else if (['set', 'if', 'break', 'return', 'rewrite'].includes(inner.name)) {
        if (inner.name === 'rewrite') this.report(inner, WHY.rewrite!);
        rewrite.push(inner);
      } else if (inner.name === 'root') {
        // Applies to locations without their own root.
      } else if (!this.setting(inner, level)) {
        this.other(inner);
      }
    }
    const serverRoot = body.find((x) => x.name === 'root');
    const listens = this.listens(listenDirectives, level);
    const plan: ServerPlan = { directive: d, names, nameDirective, listens, level, docker: false };
    if (level.cert && level.key) plan.cert = { cert: level.cert.args[0]?.value ?? '', key: level.key.args[0]?.value ?? '' };
    if (redirect) plan.redirect = redirect;

    // A server that only redirects to HTTPS: merged into the TLS site of the same names later.
    const returnOnly = rewrite.length === 1 && rewrite[0]!.name === 'return' ? rewrite[0]! : onlyLocationReturn(locations);
    if (returnOnly && !locations.some((loc) => loc.block?.some((x) => x.name === 'proxy_pass'))) {
      const port = redirectPort(returnOnly);
      if (port !== undefined) {
        plan.redirect = { port, directive: returnOnly };
        return plan;
      }
    }

    const infos: LocationInfo[] = [];
    const statics: StaticInput[] = [];
    const rules: Deny[] = [];
    for (const loc of locations) {
      const info = this.location(loc, level, rewrite, serverRoot);
      if (!info) continue;
      if ('static' in info) statics.push(info.static);
      else if ('deny' in info)
        rules.push({ rule: { path: info.deny, to: 'deny' }, order: info.order, directive: loc, prefix: info.prefix, status: info.status });
      else infos.push(info);
    }
    if (!infos.length) {
      this.report(
        d,
        statics.length
          ? 'a server that only serves files: the router serves folders ("static") only on a site that also proxies'
          : 'a server that proxies nothing',
      );
      return plan;
    }
    plan.site = this.site(plan, infos, statics, rules);
    const where = `server ${names[0] ?? `at ${this.at(d)}`}`;
    // A location with real_ip settings of its own is a block of its own (nginx reads them after finding the location).
    const own = (l: Level) => l.realIpFrom !== level.realIpFrom || l.realIpHeader !== level.realIpHeader || l.realIpRecursive !== level.realIpRecursive;
    const locationsOwn = infos.filter((info) => own(info.level)).map((info) => ({ where: `${where} location ${info.path}`, level: info.level }));
    plan.realIp = [{ where, level }, ...locationsOwn];
    return plan;
  }

  private listens(directives: Directive[], level: Level): Listen[] {
    // nginx's default: *:80.
    if (!directives.length) return [{ host: '0.0.0.0', port: 80, ssl: Boolean(level.sslOn), defaultServer: false }];
    const out: Listen[] = [];
    for (const d of directives) {
      const [address = '', ...params] = d.args.map((a) => a.value);
      if (address.startsWith('unix:')) {
        this.report(d, 'the router listens on TCP ports only');
        continue;
      }
      let host = '0.0.0.0';
      let port = 80;
      const v6 = /^\[([^\]]*)\](?::(\d+))?$/.exec(address);
      if (v6) {
        host = v6[1] || '::';
        if (v6[2]) port = Number(v6[2]);
      } else if (/^\d+$/.test(address)) port = Number(address);
      else {
        const [h, p] = address.split(':');
        host = h === '*' ? '0.0.0.0' : h!;
        if (p) port = Number(p);
      }
      let ssl = Boolean(level.sslOn);
      let defaultServer = false;
      let proxyProtocol = false;
      for (const param of params) {
        if (param === 'ssl') ssl = true;
        else if (param === 'http2') this.note(NOTED.http2!, d);
        else if (param === 'default_server' || param === 'default') defaultServer = true;
        else if (param === 'proxy_protocol') proxyProtocol = true;
        else if (param === 'quic' || param === 'http3') this.report(d, 'the router does not speak HTTP/3');
        else if (/^(reuseport|deferred|backlog=|rcvbuf=|sndbuf=|so_keepalive=|fastopen=|bind$|ipv6only=)/.test(param)) continue;
        else this.report(d, `listen parameter ${param} is not translated`);
      }
      out.push({ host, port, ssl, directive: d, defaultServer, ...(proxyProtocol && { proxyProtocol }) });
    }
    return out;
  }

  /** One location: static folder, deny, or proxy (with its per-method outcomes). */
  private location(
    d: Directive,
    server: Level,
    serverRewrite: Directive[],
    serverRoot: Directive | undefined,
  ): LocationInfo | { static: StaticInput } | { deny: string; order: number; prefix: string | undefined; status: string } | undefined {
    const args = d.args.map((a) => a.value);
    let kind: LocationInfo['kind'] = 'prefix';
    let path = args[0] ?? '';
    if (args.length === 2) {
      if (args[0] === '=') kind = 'exact';
      else if (args[0] === '^~') kind = 'prefix';
      else if (args[0] === '~' || args[0] === '~*') kind = 'regex';
      path = args[1]!;
    } else if (path.startsWith('@')) kind = 'named';
    else if (path.startsWith('=')) {
      kind = 'exact';
      path = path.slice(1);
    }
    // A regex for a format's write path (`~ ^/api/v2/package/?(.*)$`) stands for that path.
    const writePath = writePathOf(kind, path, args[0] === '~*');
    if (writePath && kind === 'regex') {
      kind = 'prefix';
      path = writePath.path;
    }
    if (kind === 'regex') {
      // `~ ^/v2/` is a prefix in disguise; anything else cannot be expressed.
      const literal = /^\^(\/[\w./-]*)$/.exec(path);
      if (literal) {
        kind = 'prefix';
        path = literal[1]!;
      } else {
        this.report(d, 'regular-expression locations are not translated (rules match path segments with * and **)');
        return undefined;
      }
    }
    if (kind === 'named') {
      this.report(d, 'named locations (error_page / try_files targets) are not translated');
      return undefined;
    }
    const level = inherit(server);
    const body = d.block ?? [];
    let proxy: Directive | undefined;
    let root: Directive | undefined;
    let alias: Directive | undefined;
    let tryFiles: Directive | undefined;
    let limitExcept: Directive | undefined;
    let denyAll: Directive | undefined;
    let returned: Directive | undefined;
    let writeRewrite: Directive | undefined;
    for (const inner of body) {
      switch (inner.name) {
        case 'proxy_pass':
          proxy = inner;
          break;
        case 'root':
          root = inner;
          break;
        case 'alias':
          alias = inner;
          break;
        case 'limit_except':
          limitExcept = inner;
          break;
        case 'deny':
          if (inner.args[0]?.value === 'all') denyAll = inner;
          else this.report(inner, WHY.deny!);
          break;
        case 'return':
          returned = inner;
          break;
        case 'location':
          this.report(inner, 'nested locations are not translated');
          break;
        case 'set':
        case 'if':
        case 'break':
          break;
        case 'rewrite':
          // `rewrite ^/api/v2/package/?(.*)$ /repository/nuget-hosted/$1 break;` in a write-path location: the hosted root.
          if (writePath && /^\/[^$]*\/(\$\{?\d\}?)?$/.test(inner.args[1]?.value ?? '') && inner.args[2]?.value === 'break') writeRewrite = inner;
          else this.report(inner, WHY.rewrite!);
          break;
        case 'try_files':
          // Weighed below where the location serves a folder.
          if (serverRoot || body.some((x) => x.name === 'root' || x.name === 'alias')) tryFiles = inner;
          else this.other(inner);
          break;
        default:
          if (!this.setting(inner, level)) this.other(inner);
      }
    }
    const rulePath = kind === 'exact' ? path : `${path}**`;
    if (!proxy && !body.some((x) => x.name === 'if' && x.block?.some((y) => y.name === 'proxy_pass')) && !limitExcept) {
      if (denyAll || (returned && /^4\d\d$/.test(returned.args[0]?.value ?? ''))) {
        if (/\*/.test(path)) {
          this.report(d, 'a path with "*" cannot be a rule pattern');
          return undefined;
        }
        const status = denyAll ? '403' : returned!.args[0]!.value;
        return { deny: rulePath, order: kind === 'exact' ? Infinity : path.length, prefix: kind === 'exact' ? undefined : path, status };
      }
      if (returned) {
        this.report(returned, WHY.return!);
        return undefined;
      }
      const folder = alias ?? root ?? serverRoot;
      if (folder) return this.staticMount(d, kind, path, folder, alias === folder, level, tryFiles);
      this.report(d, 'a location that neither proxies nor serves files');
      return undefined;
    }
    if (denyAll) this.report(denyAll, WHY.deny!);
    if (returned && proxy) this.report(returned, WHY.return!);
    if (root || alias) this.report((root ?? alias)!, 'a location that both proxies and names a folder: the folder is ignored');

    // Per method: what nginx does (set/if/map/proxy_pass, limit_except), and the target it names.
    const outcomes = new Map<string, Outcome>();
    const targets = new Map<string, ProxiedUpstream | undefined>();
    const report = (problem: Problem) => this.report(problem.directive, problem.why);
    for (const method of METHODS) {
      const run = new MethodRun(method, this.maps, report);
      let outcome = run.run([serverRewrite, body], proxy);
      if (limitExcept && !limitAllows(limitExcept, method)) {
        const inner = limitExcept.block ?? [];
        const innerProxy = inner.find((x) => x.name === 'proxy_pass');
        if (innerProxy)
          outcome = {
            kind: 'proxy',
            value: run.expand(innerProxy.args[0]?.value ?? ''),
            directive: innerProxy,
            viaVariables: /\$/.test(innerProxy.args[0]?.value ?? ''),
          };
        else if (inner.some((x) => x.name === 'deny' && x.args[0]?.value === 'all')) outcome = { kind: 'deny', directive: limitExcept };
        else this.report(limitExcept, 'limit_except without proxy_pass or "deny all" (authentication per method) is not translated');
      }
      // A write-path regex passes the rest of the path on in a capture (`proxy_pass http://nexus/repository/nuget-hosted/$1;`):
      // the upstream is the part before it, the hosted repository's root.
      if (writePath && outcome.kind === 'proxy' && /\$\{?\d/.test(outcome.value)) {
        const base = outcome.value.slice(0, outcome.value.search(/\$\{?\d/));
        outcome = { ...outcome, value: base.replace(/\/?$/, '/'), viaVariables: false };
      }
      // Or a rewrite to that root in front of a proxy_pass without a URI.
      if (writeRewrite && outcome.kind === 'proxy' && /^https?:\/\/[^/$]+$/.test(outcome.value)) {
        const root = writeRewrite.args[1]!.value.replace(/\$\{?\d\}?$/, '');
        outcome = { ...outcome, value: `${outcome.value}${root}`, viaVariables: false };
      } else if (writeRewrite && method === 'GET') this.report(writeRewrite, WHY.rewrite!);
      outcomes.set(method, outcome);
      if (outcome.kind !== 'proxy') continue;
      const value = outcome.value;
      const unknown = [...run.unknownVars].find(([name]) => value.includes(`$${name}`));
      if (unknown) this.report(outcome.directive, `proxy_pass cannot be resolved: ${unknown[1]}`);
      else targets.set(method, this.target(outcome, kind === 'prefix' ? path : '/', writePath?.strip));
    }
    return { directive: d, kind, path, level, outcomes, targets, ...(writePath ? { writePath } : {}) };
  }

  private staticMount(
    d: Directive,
    kind: LocationInfo['kind'],
    path: string,
    folder: Directive,
    isAlias: boolean,
    level: Level,
    tryFiles: Directive | undefined,
  ): { static: StaticInput } | undefined {
    const dir = folder.args[0]?.value ?? '';
    if (kind === 'exact' || /[$*]/.test(dir + path)) {
      this.report(d, kind === 'exact' ? 'a single file: "static" serves folders' : 'a folder named with variables or a wildcard');
      return undefined;
    }
    const prefix = path.replace(/\/+$/, '') || '/';
    // root: the URL path is appended to the folder; alias: the folder replaces the location's prefix.
    const joined = isAlias ? dir.replace(/\/+$/, '') || '/' : `${dir.replace(/\/+$/, '')}${prefix === '/' ? '' : prefix}`;
    if (!path.endsWith('/') && prefix !== '/')
      this.note(`location ${path} → static prefix ${prefix}: it serves ${prefix} and ${prefix}/…, not other names starting with ${prefix}`, d);
    const mount: StaticInput = { prefix, dir: joined };
    if (level.autoindex?.args[0]?.value === 'on') mount.listing = true;
    this.indexNames(level.index);
    // `$uri`, `$uri/` and `=404` are what a static folder does anyway; a fallback file or location is not.
    if (tryFiles && !/^(\$uri )(\$uri\/ )?=404$/.test(`${tryFiles.args.map((a) => a.value).join(' ')}`)) {
      this.report(tryFiles, "a static folder serves the file the path names, a folder's index.html, or 404: no fallback to another file or location");
    }
    return { static: mount };
  }

  /** A static folder serves index.html for a folder's URL (nginx's default `index`); other names are reported. */
  private indexNames(index: Directive | undefined): void {
    const names = index?.args.map((a) => a.value) ?? [INDEX];
    const others = names.filter((name) => name !== INDEX);
    if (!index || !others.length) return;
    const missing = names.includes(INDEX) ? '' : `, and serves ${INDEX} where nginx would not`;
    this.report(index, `a static folder serves ${INDEX} for a folder's URL; it does not look for ${others.join(', ')}${missing}`);
  }

  /**
   * A `proxy_pass` value → an upstream URL or pool; undefined (reported) when it cannot be one. `writeRoot`: the
   * location is a format's write path that its rules take off (NuGet's), so a URI replacing it names the upstream's root.
   */
  private target(outcome: Extract<Outcome, { kind: 'proxy' }>, locationPrefix: string, writeRoot = false): ProxiedUpstream | undefined {
    let value = outcome.value;
    // With variables nginx sends exactly the URI given: only "…$request_uri" keeps the request's path and query.
    const passthrough = outcome.viaVariables ? /(\$request_uri|\$uri\$is_args\$args)$/.exec(value) : null;
    if (passthrough) value = value.slice(0, -passthrough[1]!.length);
    if (/\$/.test(value)) {
      this.report(outcome.directive, 'proxy_pass names a variable the importer cannot resolve from the request method');
      return undefined;
    }
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      this.report(outcome.directive, 'proxy_pass is not an http(s) URL');
      return undefined;
    }
    if (outcome.viaVariables && !passthrough && /^https?:\/\/[^/]+\/./.test(value)) {
      this.report(outcome.directive, 'with variables nginx sends every request to exactly this path; end it with $request_uri to keep the request path');
      return undefined;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      this.report(outcome.directive, `${url.protocol} upstreams are not supported`);
      return undefined;
    }
    if (url.search || url.hash) {
      this.report(outcome.directive, 'an upstream URL with a query or fragment');
      return undefined;
    }
    // nginx: a URI part replaces the location prefix. The router adds an upstream's path in front of
    // the whole request path, so `location /v2/ { proxy_pass http://x/repo/v2/; }` is prefix /repo/.
    let prefix = '';
    const hasUri = /^https?:\/\/[^/]+\//.test(value);
    if (hasUri && !outcome.viaVariables) {
      const uri = url.pathname;
      if (uri.endsWith(locationPrefix)) prefix = uri.slice(0, uri.length - locationPrefix.length);
      else if (writeRoot && uri.endsWith('/')) prefix = uri.slice(0, -1);
      else {
        this.report(
          outcome.directive,
          `nginx replaces the location prefix ${locationPrefix} with ${uri}; the router only adds a prefix in front of the request path`,
        );
        return undefined;
      }
    } else if (hasUri) prefix = url.pathname.replace(/\/$/, '');
    const suffix = prefix ? `${prefix.replace(/\/?$/, '/')}` : '';
    // An upstream block is named without a port; nginx refuses "upstream name:port".
    const def = url.port ? undefined : this.upstreams.get(url.hostname);
    if (def) {
      const servers = def.servers.filter((s) => !s.backup).map((s) => serverUrl(url.protocol, s.address, suffix));
      const backup = def.servers.filter((s) => s.backup).map((s) => serverUrl(url.protocol, s.address, suffix));
      if (!servers.length) {
        this.report(def.directive, 'an upstream with no primary server');
        return undefined;
      }
      const pool: UpstreamPoolConfig = servers.length === 1 && !backup.length ? servers[0]! : { servers, backup };
      return { key: JSON.stringify(pool), pool, upstream: def };
    }
    const href = `${url.protocol}//${url.host}${suffix}`;
    return { key: JSON.stringify(href), pool: href };
  }

  // ── sites ──────────────────────────────────────────────────────────────────

  private site(plan: ServerPlan, locations: LocationInfo[], statics: StaticInput[], denies: Deny[]): SiteInput | undefined {
    const split = (info: LocationInfo) => new Set([...info.targets.values()].filter(Boolean).map((t) => t!.key)).size > 1;
    // Locations whose proxy_pass could not be resolved were reported; the site is made of the others.
    const usable = locations.filter((l) => l.targets.get('GET') ?? l.targets.get('PUT') ?? l.targets.get('POST'));
    if (!usable.length) {
      this.report(plan.directive, 'no location of this server reaches an upstream the importer can name: the server is left out');
      return undefined;
    }
    locations = usable;
    const primary =
      locations.find(split) ?? locations.find((l) => l.kind === 'prefix' && l.path === '/') ?? [...locations].sort((a, b) => a.path.length - b.path.length)[0]!;
    const get = primary.targets.get('GET');
    const put = primary.targets.get('PUT') ?? primary.targets.get('POST');
    const read = get ?? put;
    let write = put ?? get;
    // `location / { … nuget-group/; }` beside `location /api/v2/package { … nuget-hosted/; }`: no method split, but the
    // location of the format's write path names the write upstream (Format.nginx.writePaths).
    const targetOf = (l: LocationInfo) => {
      const keys = new Set([...l.targets.values()].map((t) => t?.key));
      return keys.size === 1 ? [...l.targets.values()][0] : undefined;
    };
    const writeLocation =
      read && read.key === write?.key ? locations.find((l) => l !== primary && l.writePath && targetOf(l) && targetOf(l)!.key !== read.key) : undefined;
    if (writeLocation) write = targetOf(writeLocation);
    const names = plan.names.filter((n) => n !== '');
    const hasV2 = locations.some((l) => l.path.startsWith('/v2'));
    const dockerName =
      names.some((n) => /docker/i.test(n)) || [...primary.targets.values()].some((t) => t && /docker/i.test(JSON.stringify(t.pool) + (t.upstream?.name ?? '')));
    const dockerHeader = someDirective(plan.directive, (x) => x.name === 'add_header' && x.args[0]?.value.toLowerCase() === 'docker-distribution-api-version');
    const isSplit = Boolean(read && write && read.key !== write.key);
    // Another format named in the upstream URLs or host names: a split alone does not make it docker.
    const otherFormat = OTHER_FORMAT.test(
      [...names, ...[...primary.targets.values()].map((t) => (t ? JSON.stringify(t.pool).replace(/https?:\/\/[^/"]+/g, '') : ''))].join(' '),
    );
    plan.docker = hasV2 || dockerName || dockerHeader || (isSplit && !otherFormat && !writeLocation);
    // A format whose module says the import may set it (raw): recognised by its write path, or the Nexus repository names.
    const recognised = plan.docker ? undefined : (writeLocation?.writePath?.format ?? recogniseFormat(read?.pool, write?.pool));
    const preset: FormatName = plan.docker ? 'docker' : recognised?.nginx?.adopt ? (recognised.name as FormatName) : 'generic';

    if (!read || !write) return undefined;
    const site: SiteInput = { name: '', hosts: this.hosts(plan), preset };
    if (read.key === write.key) site.upstream = read.pool;
    else site.upstreams = { read: read.pool, write: write.pool };
    const roles: Record<string, ProxiedUpstream> = { read, write };

    // Request methods that nginx answered itself in the primary location.
    const methodDeny = this.methodOutcomes(primary, roles);

    // client_max_body_size: the primary location's, or nginx's default 1m.
    const body = primary.level.maxBody;
    site.maxBodySize = sizeValue(body?.args[0]?.value ?? DEFAULT_BODY);
    if (body && parseSize(body.args[0]?.value ?? '') === undefined) {
      this.report(body, 'not a size the router reads');
      site.maxBodySize = DEFAULT_BODY;
    }
    for (const loc of locations) {
      if (loc !== primary && loc.level.maxBody !== primary.level.maxBody) {
        this.report(
          loc.level.maxBody ?? loc.directive,
          `client_max_body_size differs by location; the site's limit is ${site.maxBodySize} (from the location at ${this.at(primary.directive)})`,
        );
      }
    }

    // Host and forwarding headers.
    this.headers(primary, site, read, plan);
    for (const loc of locations) if (loc !== primary) this.headers(loc, undefined, undefined, plan);

    // Other proxied locations: rules in front of the preset's.
    // A refused prefix around the proxied one (`location / { return 404; }` beside `location /v2/`)
    // cannot be a rule: it would refuse the proxied paths too.
    const rules: Array<{ rule: RuleInput; order: number }> = denies.filter((deny) => {
      if (deny.prefix === undefined || primary.path === '/' || deny.prefix.startsWith(primary.path)) {
        this.note(
          `location ${deny.directive.args.map((a) => a.value).join(' ')} → a deny rule: the router answers 405 with its own error body (nginx: ${deny.status})`,
          deny.directive,
        );
        return true;
      }
      this.report(deny.directive, `nginx refused requests outside ${primary.path} here; the router proxies them`);
      return false;
    });
    for (const loc of locations) {
      if (loc === primary) continue;
      // The location of the adopted format's write path, to the write upstream: what the preset's rules do.
      if (recognised?.nginx?.adopt && loc.writePath?.format === recognised && targetOf(loc)?.key === write.key) {
        const how = loc.writePath.strip ? `${loc.writePath.path} is taken off on the way to the write upstream's root` : 'to the write upstream';
        this.note(`location ${loc.directive.args.map((a) => a.value).join(' ')} → the ${recognised.name} preset's own rule: ${how}`, loc.directive);
        continue;
      }
      this.secondary(loc, primary, site, roles, rules);
    }
    if (primary.path !== '/' || primary.kind !== 'prefix') {
      this.note(
        `${names[0] ?? 'a site'}: nginx proxied only ${primary.kind === 'exact' ? '= ' : ''}${primary.path}; the router proxies every path of the site`,
        primary.directive,
      );
    }
    // Longest location first, as nginx picks them; a method refused in the main location after those.
    rules.sort((a, b) => b.order - a.order);
    if (methodDeny) rules.push({ rule: methodDeny, order: 0 });
    if (rules.length) site.rules = rules.map((r) => r.rule);
    if (statics.length) site.static = statics;

    if (recognised?.nginx?.adopt) {
      const more = recognised.nginx.adoptNote ? `: ${recognised.nginx.adoptNote}` : '';
      const site = names[0] ?? 'a site';
      this.note(
        `${site} proxies Nexus ${recognised.title} repositories: "preset": "${recognised.name}" (README, "The ${recognised.title} preset")${more}`,
        primary.directive,
      );
    } else if (recognised) {
      this.note(
        `${names[0] ?? 'a site'} looks like ${recognised.name}: "preset": "${recognised.name}" routes what the generic split gets wrong ` +
          `(README, "The ${recognised.title} preset"); the import keeps "generic"`,
        primary.directive,
      );
    }
    // With a write location, nginx's `/` sent every method to the group: the preset's adoptNote says what changes.
    if (!writeLocation) this.compareRouting(primary, site, read, write);
    this.haNotes(site, Object.values(roles));
    return site;
  }

  /** `return 4xx` / `deny` for some methods in the primary location → deny rules; anything else reported. */
  private methodOutcomes(primary: LocationInfo, roles: Record<string, ProxiedUpstream>): RuleInput | undefined {
    const deny: string[] = [];
    for (const [method, outcome] of primary.outcomes) {
      const target = primary.targets.get(method);
      if (outcome.kind === 'proxy' && target && ![roles.read?.key, roles.write?.key].includes(target.key)) {
        this.report(
          outcome.directive,
          `${method} goes to a third upstream (${JSON.stringify(target.pool)}); the router's roles here are read (GET) and write (PUT)`,
        );
      }
      if (outcome.kind === 'deny' || (outcome.kind === 'return' && outcome.status >= 400 && outcome.status < 500)) {
        const directive = outcome.directive;
        const conditional = findEnclosingIf(primary.directive, directive);
        const cond = conditional ? compileCondition(conditionArgs(conditional)) : undefined;
        if (outcome.kind === 'return' && (!cond || cond.negated || cond.variable !== 'request_method')) {
          this.report(
            conditional ?? directive,
            cond?.negated
              ? "refuses the methods it does not name; the router's rules list the methods they refuse"
              : 'refuses requests on a condition the importer cannot turn into a rule',
          );
          continue;
        }
        if (outcome.kind === 'deny') {
          this.report(directive, "limit_except … { deny all; } refuses every method not listed; the router's rules list methods");
          continue;
        }
        deny.push(...ALL_METHODS.filter((m) => cond!.test(m)));
        this.note(
          `${conditional ? directiveText(conditional).replace(/ \{ … \}$/, '') : ''} ` +
            `{ return ${outcome.kind === 'return' ? outcome.status : 403}; } → a deny rule for those methods: the router answers 405 with its own error body`,
          directive,
        );
      } else if (outcome.kind === 'return') {
        this.report(outcome.directive, WHY.return!);
      } else if (outcome.kind === 'none') {
        this.report(primary.directive, `${method} reaches no proxy_pass here (nginx would look for a file); the router sends it by the preset`);
      }
    }
    return deny.length ? { methods: [...new Set(deny)], to: 'deny' } : undefined;
  }

  private secondary(
    loc: LocationInfo,
    primary: LocationInfo,
    site: SiteInput,
    roles: Record<string, ProxiedUpstream>,
    rules: Array<{ rule: RuleInput; order: number }>,
  ): void {
    const keys = new Set<string>();
    for (const method of METHODS) {
      const t = loc.targets.get(method);
      if (t) keys.add(t.key);
    }
    const same = METHODS.every((m) => loc.targets.get(m)?.key === primary.targets.get(m)?.key);
    if (same) return;
    if (keys.size !== 1) {
      this.report(loc.directive, 'a second location with its own method split: the router has one split per site');
      return;
    }
    const target = [...loc.targets.values()].find(Boolean)!;
    const inside = primary.path === '/' || loc.path.startsWith(primary.path);
    if (!inside) {
      this.report(
        loc.directive,
        `requests outside ${primary.path} went here; the router sends them by the ${site.preset} preset (GET/HEAD → read, others → write)`,
      );
      return;
    }
    if (/\*/.test(loc.path)) {
      this.report(loc.directive, 'a path with "*" cannot be a rule pattern');
      return;
    }
    let role = Object.entries(roles).find(([, t]) => t.key === target.key)?.[0];
    if (!role) {
      role = (target.upstream?.name ?? `loc${++this.roleCount}`).replace(/[^a-z0-9_-]/gi, '_').replace(/^[^a-z]+/i, '') || `loc${++this.roleCount}`;
      if (['read', 'write', 'deny', 'ping', 'token'].includes(role) || roles[role]) role = `${role}_${++this.roleCount}`;
      roles[role] = target;
      if (!site.upstreams) {
        site.upstreams = { read: site.upstream!, write: site.upstream! };
        delete site.upstream;
      }
      (site.upstreams as Record<string, UpstreamPoolConfig>)[role] = target.pool;
    }
    const path = loc.kind === 'exact' ? loc.path : `${loc.path}**`;
    rules.push({ rule: { path, to: role }, order: loc.kind === 'exact' ? Infinity : loc.path.length });
    const ahead = site.preset === 'docker' && loc.path.startsWith('/v2') ? ' (ahead of the docker preset, so without its pinning and push sessions)' : '';
    this.note(`location ${loc.path} → a rule: every method of ${path} to "${role}"${ahead}`, loc.directive);
  }

  private headers(loc: LocationInfo, site: SiteInput | undefined, read: ProxiedUpstream | undefined, plan: ServerPlan): void {
    const list = loc.level.headers ?? [];
    let host: Directive | undefined;
    let forwardedHost = false;
    for (const d of list) {
      const [name = '', value = ''] = d.args.map((a) => a.value);
      switch (name.toLowerCase()) {
        case 'host':
          host = d;
          break;
        case 'x-real-ip':
          if (value !== '$remote_addr') this.note(`X-Real-IP is the client's address (nginx: ${value})`, d);
          break;
        case 'x-forwarded-for':
          if (value !== '$proxy_add_x_forwarded_for')
            this.note(`X-Forwarded-For: the router appends the client's address to what the client sent (nginx: ${value})`, d);
          break;
        case 'x-forwarded-proto':
          if (value !== '$scheme') {
            this.note(`X-Forwarded-Proto is the scheme the client used (nginx sent "${value}" always), so Nexus builds URLs with the right scheme`, d);
          }
          break;
        case 'x-forwarded-host':
          forwardedHost = true;
          this.note(
            `X-Forwarded-Host is one value without the port, and the port goes in X-Forwarded-Port (nginx: ${value}), so Nexus 3.78+ cannot double it`,
            d,
          );
          break;
        case 'x-forwarded-port':
        case 'x-forwarded-server':
          break;
        case 'connection':
          if (value === '' || value.toLowerCase() === 'keep-alive') break;
          this.report(d, 'WebSocket upgrades are not proxied');
          break;
        case 'upgrade':
          this.report(d, 'WebSocket upgrades are not proxied');
          break;
        default:
          this.report(d, 'the router sets no custom request headers (Host and X-Forwarded-* aside)');
      }
    }
    if (!site) return;
    const sent: Record<string, string> = {
      'X-Real-IP': "the client's address",
      'X-Forwarded-For': "the client's address, appended to what the client sent",
      'X-Forwarded-Proto': 'the scheme the client used',
    };
    for (const [name, what] of Object.entries(sent)) {
      if (!list.some((d) => d.args[0]?.value.toLowerCase() === name.toLowerCase()))
        this.note(`the router sends ${name} (${what}), which nginx did not set`, loc.directive);
    }
    if (!forwardedHost) {
      this.note(
        'the router sends X-Forwarded-Host (the public name without the port) and X-Forwarded-Port, which nginx did not; ' +
          'Nexus builds its URLs from them ("forwardedHost": false turns that off)',
      );
    }
    const value = host?.args[1]?.value;
    if (value === '$host' || value === '$server_name') {
      this.note(
        `Host keeps the client's port (nginx's Host ${value} dropped it: on a non-default port, URLs Nexus built, ` +
          `such as upload Locations, pointed at the wrong port)`,
        host,
      );
    } else if (value === '$http_host' || value === '$host:$server_port') {
      // The router's default.
    } else if (!host || value === '$proxy_host') {
      site.preserveHost = false;
      this.note(
        `${plan.names[0] ?? 'a site'}: nginx sent the upstream's own name as Host ` +
          `(${host ? 'Host $proxy_host' : 'its default without proxy_set_header Host'}): kept as "preserveHost": ` +
          `false (the router's default passes the client's Host with its port)`,
        host ?? loc.directive,
      );
    } else {
      const readHost = read && typeof read.pool === 'string' ? new URL(read.pool).host : undefined;
      if (readHost && value === readHost) site.preserveHost = false;
      else this.report(host, 'a fixed Host the router cannot send ("preserveHost": false sends the upstream\'s own)');
    }
  }

  /** Compares the router's routing with nginx's per method (docker: per request kind) and notes or reports each difference. */
  private compareRouting(primary: LocationInfo, site: SiteInput, read: ProxiedUpstream, write: ProxiedUpstream): void {
    if (read.key === write.key) return;
    const roleOf = (method: string): string | undefined => {
      const t = primary.targets.get(method);
      return t?.key === read.key ? 'read' : t?.key === write.key ? 'write' : undefined;
    };
    const preset = FORMATS[site.preset ?? 'generic'];
    // The preset alone: the site's own rules replay other nginx locations, not the split.
    const rules = preset.rules.map((r) => compileRule(r, { ping: 'read', token: 'read', ...preset.optionalRoles }));
    const requests = site.preset === 'docker' ? DOCKER_REQUESTS : METHODS.map((m) => ({ method: m, path: '/some/path', kind: `${m} requests` }));
    for (const request of requests) {
      const nginx = roleOf(request.method);
      const router = pickRole(rules, request.method, request.path, new URLSearchParams());
      if (nginx === undefined || router === 'deny' || nginx === router) continue;
      const why = ON_PURPOSE[`${request.kind}:${router}`];
      if (why) this.note(`${why} (nginx: ${nginx})`, primary.directive);
      // The format's adoptNote already says where its other methods go.
      else if (!preset.nginx?.otherMethodsNoted) {
        this.report(primary.directive, `${request.kind} went to ${nginx} in nginx; the ${site.preset} preset sends it to ${router}`);
      }
    }
    if (site.preset === 'docker') {
      this.note(
        'push sessions: while a client pushes a repository, its manifest HEADs of that repository go to hosted ' +
          '(containerd checks the tag there before the manifest PUT)',
      );
    }
  }

  private haNotes(site: SiteInput, targets: ProxiedUpstream[]): void {
    const defs = [...new Set(targets.filter((t) => t.upstream).map((t) => t.upstream!))];
    if (!defs.length) return;
    const servers = defs.flatMap((d) => d.servers);
    if (servers.some((s) => s.backup)) {
      this.note(
        'backup servers: reads fail over to them when no primary is healthy; writes pause (503 "pushes … are paused") ' +
          'instead of going to a backup that the next sync would overwrite ("writeToBackup": true restores nginx\'s behaviour)',
      );
    }
    if (servers.length > 1) {
      this.note(
        'health: the router checks every server actively (GET /v2/ on docker sites, / otherwise, every 5 s) ' +
          'besides taking a failing one out for "health.backoff" seconds; nginx only noticed failures on real requests',
      );
    }
    if (defs.some((d) => d.servers.filter((s) => !s.backup).length > 1)) {
      this.note('several primary servers share the load by least connections; list several only if they share storage (a Nexus HA cluster)');
    }
    const timeouts = [...new Set(servers.map((s) => s.failTimeout).filter((t) => t !== undefined))];
    if (timeouts.length === 1 && timeouts[0] !== 10) site.health = { backoff: timeouts[0]! };
    if (servers.some((s) => s.maxFails !== undefined && s.maxFails !== 1)) {
      this.note('max_fails: one failed request takes a server out for "health.backoff" seconds (fail_timeout is copied there when all servers agree)');
    }
    if (servers.some((s) => s.weight !== undefined && s.weight !== 1)) this.note('weight: the router balances by least connections, without weights');
  }

  private hosts(plan: ServerPlan): string[] {
    const out: string[] = [];
    for (const name of plan.names) {
      if (name === '' || name === '_' || name === '$hostname') continue;
      if (name.startsWith('~')) {
        this.report(plan.nameDirective!, `a regular-expression server name (${name}) is not translated`);
        continue;
      }
      if (name.startsWith('.')) out.push(name.slice(1), `*${name}`);
      else if (/\*$/.test(name) || /.\*/.test(name)) this.report(plan.nameDirective!, `${name}: only leading wildcards (*.example.com) are translated`);
      else out.push(name.toLowerCase());
    }
    if (!out.length) {
      this.report(
        plan.nameDirective ?? plan.directive,
        'a catch-all server: the router answers only the names it lists (421 for others); "localhost" stands in, replace it with the names clients use',
      );
      out.push('localhost');
    }
    return [...new Set(out)];
  }

  // ── the whole config ───────────────────────────────────────────────────────

  private assemble(plans: ServerPlan[]): NginxImport {
    const sitePlans = plans.filter((p) => p.site);
    // Plain-HTTP servers that only redirect to HTTPS: the TLS site of the same names redirects itself.
    for (const plan of plans) {
      if (!plan.redirect) continue;
      const names = this.hostsQuiet(plan);
      const target = plan.site ? plan : sitePlans.find((p) => p.listens.some((l) => l.ssl) && names.every((n) => p.site!.hosts.includes(n)));
      if (!target?.site) {
        this.report(plan.redirect.directive, 'a redirect to HTTPS with no TLS server of the same names to merge it into');
        continue;
      }
      const tlsPort = target.listens.find((l) => l.ssl)?.port;
      target.site.httpsRedirect = plan.redirect.port === 443 && (tlsPort === 443 || tlsPort === undefined) ? true : plan.redirect.port;
      this.note(
        'redirect to HTTPS → "httpsRedirect": 301 for GET/HEAD, 308 for other methods (the body is kept), ' +
          'and the bootstrap script and CA stay reachable over plain HTTP',
        plan.redirect.directive,
      );
      if (!plan.site) {
        for (const l of plan.listens) target.listens.push(l);
      }
    }

    // Listeners: one per address, TLS ones with every certificate of the servers that use them.
    const byAddress = new Map<
      string,
      { host: string; port: number; ssl: boolean; certs: Array<{ cert: string; key: string }>; directive: Directive | undefined; proxyProtocol?: boolean }
    >();
    for (const plan of plans) {
      // A redirect-only server's listeners were handed to the site it was merged into.
      if (!plan.site) continue;
      for (const l of plan.listens) {
        const address = `${l.host}:${l.port}`;
        let entry = byAddress.get(address);
        if (!entry) {
          entry = { host: l.host, port: l.port, ssl: l.ssl, certs: [], directive: l.directive };
          byAddress.set(address, entry);
        } else if (entry.ssl !== l.ssl) {
          this.report(l.directive ?? plan.directive, `${address} is plain HTTP in one server and TLS in another`);
          continue;
        }
        // nginx sets listen parameters once per address, for every server on it.
        if (l.proxyProtocol) entry.proxyProtocol = true;
        if (l.ssl) {
          if (!plan.cert) {
            if (plan.site) this.report(l.directive ?? plan.directive, 'a TLS listener without ssl_certificate / ssl_certificate_key');
            continue;
          }
          const pair = plan.cert;
          if (!entry.certs.some((c) => c.cert === pair.cert && c.key === pair.key)) {
            if (l.defaultServer) entry.certs.unshift(pair);
            else entry.certs.push(pair);
          }
          if (!pair.cert.startsWith('/') || !pair.key.startsWith('/')) {
            this.note("certificate paths: relative ones are now relative to the router's config file (nginx: to its prefix, e.g. /etc/nginx)");
          }
        }
      }
    }
    // nginx's `listen 443` + `listen [::]:443`: one dual-stack listener on "::".
    for (const [address, entry] of byAddress) {
      if (entry.host !== '0.0.0.0') continue;
      const v6 = byAddress.get(`:::${entry.port}`);
      if (v6 && v6.ssl === entry.ssl) {
        byAddress.delete(address);
        for (const c of entry.certs) if (!v6.certs.some((x) => x.cert === c.cert)) v6.certs.push(c);
        if (entry.proxyProtocol) v6.proxyProtocol = true;
        this.note(`listen ${entry.port} and [::]:${entry.port} → one listener on "::" (IPv6 and IPv4 on one socket)`, v6.directive);
      }
    }
    const listen: ListenInput[] = [];
    const inFileOrder = [...byAddress.values()].sort((a, b) =>
      a.directive?.file === b.directive?.file ? (a.directive?.line ?? 0) - (b.directive?.line ?? 0) : 0,
    );
    for (const entry of inFileOrder) {
      if (entry.ssl && !entry.certs.length) continue;
      const out: ListenInput = { host: entry.host, port: entry.port };
      if (entry.certs.length === 1) Object.assign(out, entry.certs[0]);
      else if (entry.certs.length > 1) out.certs = entry.certs;
      if (entry.proxyProtocol) out.proxyProtocol = true;
      listen.push(out);
    }

    // Sites: names, and hosts shared by several server blocks told apart by port.
    const used = new Set<string>();
    for (const plan of sitePlans) {
      const site = plan.site!;
      const base = plan.docker
        ? 'docker'
        : (site.hosts[0] ?? 'site')
            .replace(/^\*\./, '')
            .split(/[.:]/)[0]!
            .replace(/[^a-z0-9_-]/gi, '') || 'site';
      let name = /^[a-z0-9]/i.test(base) ? base.toLowerCase() : `site-${base}`;
      for (let i = 2; used.has(name); i++) name = `${base}-${i}`;
      used.add(name);
      site.name = name;
    }
    const sites = this.uniqueHosts(sitePlans);

    const config: ConfigInput = { listen: listen.length === 1 ? listen[0]! : listen.length ? listen : { port: 80 }, sites: sites.map((s) => orderSite(s)) };
    const realIp = this.realIpConfig(plans, listen);
    if (realIp) config.realIp = realIp;

    // Timeouts are global in the router: the largest of all.
    const timeouts: NonNullable<ConfigInput['timeouts']> = {};
    const idleFrom = [...this.timeouts.read, ...this.timeouts.send];
    const idle = this.largest(idleFrom);
    if (idle !== undefined) timeouts.idle = idle;
    else
      this.note(
        "timeouts: nginx read/send timeouts were its default 60 s; the router's idle timeout defaults to 3600 s " +
          '("timeouts.idle"), never a cap on a long transfer',
      );
    const connect = this.largest(this.timeouts.connect);
    if (connect !== undefined) timeouts.connect = Math.min(connect, CONNECT_MAX);
    for (const d of this.timeouts.connect) {
      const value = seconds(d.args[0]?.value ?? '') ?? 0;
      if (value > CONNECT_MAX) {
        this.note(
          `proxy_connect_timeout ${d.args[0]!.value} → "connect": ${CONNECT_MAX}: ` +
            `nginx documents that this timeout "cannot usually exceed ${CONNECT_MAX} seconds" ` +
            `(the system gives up on a connection attempt first); a longer one only delays the failover to another server`,
          d,
        );
      }
    }
    const header = this.largest(this.timeouts.header);
    if (header !== undefined) timeouts.header = header;
    if (Object.keys(timeouts).length) config.timeouts = timeouts;
    const idleValues = new Set(idleFrom.map((d) => seconds(d.args[0]?.value ?? '')));
    if (idleValues.size > 1) {
      this.note(
        `timeouts are global in the router: "idle" is the largest proxy_read_timeout / proxy_send_timeout (${idle} s; ` +
          `nginx had ${[...idleValues].join(', ')} s per server), and it is time without a byte moving, not a cap on a transfer`,
      );
    }
    if (this.accessLogs.length && this.accessLogs.every((d) => d.args[0]?.value === 'off')) config.accessLog = false;
    this.untranslated.sort((a, b) => (a.file === b.file ? a.line - b.line : a.file < b.file ? -1 : 1));
    const changed = [...this.changed].map(([text, where]) => (where.length ? `${text} (${joinPlaces(where)})` : text));
    return { config, untranslated: this.untranslated, changed };
  }

  private largest(list: Directive[]): number | undefined {
    let max: number | undefined;
    for (const d of list) {
      const value = seconds(d.args[0]?.value ?? '');
      if (value === undefined || value <= 0) {
        this.report(d, 'not a time nginx or the router reads');
        continue;
      }
      max = Math.max(max ?? 0, value);
    }
    return max;
  }

  private hostsQuiet(plan: ServerPlan): string[] {
    return plan.names.filter((n) => n && n !== '_').map((n) => (n.startsWith('.') ? n.slice(1) : n.toLowerCase()));
  }

  /** Two server blocks with one name (on different ports): hosts with the port, those sites first. */
  private uniqueHosts(plans: ServerPlan[]): SiteInput[] {
    const count = new Map<string, number>();
    for (const plan of plans) for (const h of plan.site!.hosts) count.set(h, (count.get(h) ?? 0) + 1);
    const seen = new Set<string>();
    for (const plan of plans) {
      const site = plan.site!;
      const hosts: string[] = [];
      for (const h of site.hosts) {
        if ((count.get(h) ?? 0) < 2) hosts.push(h);
        else {
          for (const l of plan.listens) hosts.push((l.ssl && l.port === 443) || (!l.ssl && l.port === 80) ? h : `${h}:${l.port}`);
        }
      }
      site.hosts = [...new Set(hosts)].filter((h) => {
        if (!seen.has(h)) {
          seen.add(h);
          return true;
        }
        this.report(plan.nameDirective ?? plan.directive, `${h} is served by an earlier server block on the same port; the router sends it there`);
        return false;
      });
    }
    // A host with a port must be matched before the same name without one.
    return plans
      .map((p) => p.site!)
      .filter((site) => site.hosts.length)
      .sort((a, b) => Number(b.hosts.some((h) => /:\d+$/.test(h))) - Number(a.hosts.some((h) => /:\d+$/.test(h))));
  }
}

// ── helpers ──────────────────────────────────────────────────────────────────

/** Another format named in upstream URLs or host names (a registered one or one Nexus has that no module covers yet). */
const OTHER_FORMAT = new RegExp(`\\b(${[...FORMAT_NAMES.filter((name) => name !== 'docker' && name !== 'generic'), ...OTHER_NEXUS_FORMATS].join('|')})`, 'i');

/**
 * The format whose module recognises the Nexus repository named in the read or write upstream
 * (`…/repository/<name>/`, its `nginx.repository`), if one does.
 */
function recogniseFormat(...pools: unknown[]): Format | undefined {
  const names = [...JSON.stringify(pools).matchAll(/\/repository\/([^/"]+)\//g)].map((m) => m[1]!);
  return Object.values(FORMATS).find((format) => format.nginx && names.some((name) => format.nginx!.repository.test(name)));
}

/**
 * The format's write-only path (`Format.nginx.writePaths`) a location covers: a prefix or `=` location for the path,
 * with or without a trailing slash, or a regex that matches the path and the paths under it but neither `/` nor a sibling (nginx's
 * PCRE read as a JavaScript RegExp; `~*` ignores case). Undefined for any other location.
 */
function writePathOf(kind: LocationInfo['kind'], path: string, caseless: boolean): WritePath | undefined {
  let matches: (candidate: string) => boolean;
  if (kind === 'regex') {
    let re: RegExp;
    try {
      re = new RegExp(path, caseless ? 'i' : '');
    } catch {
      return undefined;
    }
    if (re.test('/')) return undefined;
    // Not a wider regex (`~ ^/api/`): one that also matches a sibling of the path (`/api/v1/dependencies`, a read) is no write location.
    const sibling = (candidate: string) => candidate.replace(/[^/]+$/, 'some-other-path');
    matches = (candidate) => re.test(candidate) && re.test(`${candidate}/`) && re.test(`${candidate}/Some.Package/1.0.0`) && !re.test(sibling(candidate));
  } else if (kind === 'prefix' || kind === 'exact') matches = (candidate) => path.replace(/\/$/, '') === candidate;
  else return undefined;
  for (const format of Object.values(FORMATS)) {
    const found = format.nginx?.writePaths?.find((w) => matches(w.path));
    if (found) return { format, path: found.path, strip: found.strip };
  }
  return undefined;
}

/** Requests docker, containerd and skopeo send, with what the README says about each. */
const DOCKER_REQUESTS: ReadonlyArray<{ method: string; path: string; kind: string }> = [
  { method: 'GET', path: '/v2/', kind: 'GET /v2/ (ping)' },
  { method: 'HEAD', path: '/v2/', kind: 'HEAD /v2/ (ping)' },
  { method: 'GET', path: '/v2/token', kind: 'GET /v2/token' },
  { method: 'GET', path: '/v2/team/app/manifests/1.0', kind: 'GET of a manifest' },
  { method: 'HEAD', path: '/v2/team/app/manifests/1.0', kind: 'HEAD of a manifest' },
  { method: 'PUT', path: '/v2/team/app/manifests/1.0', kind: 'PUT of a manifest' },
  { method: 'DELETE', path: '/v2/team/app/manifests/sha256:0', kind: 'DELETE of a manifest' },
  { method: 'GET', path: '/v2/team/app/blobs/sha256:0', kind: 'GET of a blob' },
  { method: 'HEAD', path: '/v2/team/app/blobs/sha256:0', kind: 'HEAD of a blob' },
  { method: 'DELETE', path: '/v2/team/app/blobs/sha256:0', kind: 'DELETE of a blob' },
  { method: 'POST', path: '/v2/team/app/blobs/uploads/', kind: 'POST of an upload' },
  { method: 'GET', path: '/v2/team/app/blobs/uploads/u-1', kind: 'GET of an upload in progress' },
  { method: 'HEAD', path: '/v2/team/app/blobs/uploads/u-1', kind: 'HEAD of an upload in progress' },
  { method: 'PATCH', path: '/v2/team/app/blobs/uploads/u-1', kind: 'PATCH of an upload' },
  { method: 'PUT', path: '/v2/team/app/blobs/uploads/u-1', kind: 'PUT of an upload' },
  { method: 'DELETE', path: '/v2/team/app/blobs/uploads/u-1', kind: 'DELETE of an upload' },
  { method: 'GET', path: '/v2/team/app/tags/list', kind: 'GET of a tags list' },
  { method: 'GET', path: '/v2/_catalog', kind: 'GET of the catalog' },
];

/** Differences the README documents as improvements (request kind : router role) → the `changed` note. */
const ON_PURPOSE: Record<string, string> = {
  'HEAD of a manifest:read':
    'HEAD of a manifest goes to the group (read) now, like GET: a tag only the group holds (pulled through a proxy) no longer answers 404 to containerd',
  'HEAD /v2/ (ping):read': 'HEAD /v2/ (the ping) goes where GET /v2/ goes ("ping": read)',
  'HEAD of a blob:write':
    'HEAD of a blob goes to hosted (write) now: it is a push asking "do you have this layer?", and the group may have it while hosted does not',
  'GET of an upload in progress:write': 'GET of an upload in progress (/blobs/uploads/<id>) goes to hosted now: the group knows no such upload',
  'HEAD of an upload in progress:write': 'GET of an upload in progress (/blobs/uploads/<id>) goes to hosted now: the group knows no such upload',
  'HEAD requests:read': 'HEAD goes where GET goes (read) on a generic site',
};

function emptyLevel(): Level {
  return {};
}

/** A child level: nginx inherits a setting when the child does not set it (proxy_set_header as a whole list). */
function inherit(parent: Level): Level {
  const level: Level = { ...parent, ownHeaders: false, ownCert: false, ownKey: false, ownRealIpFrom: false };
  return level;
}

/** nginx times: `3600`, `3600s`, `60m`, `1h30m`, `500ms` → seconds. */
export function seconds(text: string): number | undefined {
  if (/^\d+$/.test(text)) return Number(text);
  const units: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800, M: 2592000, y: 31536000 };
  let total = 0;
  let rest = text;
  while (rest) {
    const match = /^(\d+)(ms|s|m|h|d|w|M|y)/.exec(rest);
    if (!match) return undefined;
    total += Number(match[1]) * units[match[2]!]!;
    rest = rest.slice(match[0].length);
  }
  return text ? total : undefined;
}

function sizeValue(text: string): number | string {
  return /^\d+$/.test(text) ? Number(text) : text.toLowerCase();
}

/** An upstream block's `server` address → URL; nginx's port there defaults to 80 whatever the scheme. */
function serverUrl(protocol: string, address: string, suffix: string): string {
  const host = /:\d+$/.test(address) || protocol === 'http:' ? address : `${address}:80`;
  return `${protocol}//${host}${suffix}`;
}

function limitAllows(d: Directive, method: string): boolean {
  const listed = d.args.map((a) => a.value.toUpperCase());
  return listed.includes(method) || (method === 'HEAD' && listed.includes('GET'));
}

function isSchemeRedirect(d: Directive): boolean {
  const args = conditionArgs(d);
  const cond = compileCondition(args);
  if (!cond) return false;
  const plain = (cond.variable === 'scheme' && cond.test('http') && !cond.test('https')) || (cond.variable === 'https' && cond.test('') && !cond.test('on'));
  return plain && (d.block ?? []).length === 1 && d.block![0]!.name === 'return';
}

/** `return 301 https://$host$request_uri` (or $server_name, $http_host, a port) → the HTTPS port. */
function redirectPort(d: Directive | undefined): number | undefined {
  if (d?.name !== 'return') return undefined;
  const [status, url] = d.args.map((a) => a.value);
  if (!/^30[1278]$/.test(status ?? '') || !url) return undefined;
  const match = /^https:\/\/(?:\$host|\$server_name|\$http_host|[\w.-]+)(?::(\d+))?(?:\$request_uri|\$uri(?:\$is_args\$args)?)$/.exec(url);
  if (!match) return undefined;
  return match[1] ? Number(match[1]) : 443;
}

function onlyLocationReturn(locations: Directive[]): Directive | undefined {
  if (locations.length !== 1) return undefined;
  const loc = locations[0]!;
  if (loc.args.map((a) => a.value).join(' ') !== '/') return undefined;
  const body = loc.block ?? [];
  return body.length === 1 && body[0]!.name === 'return' ? body[0] : undefined;
}

function findEnclosingIf(location: Directive, target: Directive): Directive | undefined {
  for (const d of location.block ?? []) {
    if (d.name === 'if' && d.block?.includes(target)) return d;
  }
  return undefined;
}

/** Site fields in the order a person reads them. */
function orderSite(site: SiteInput): SiteInput {
  const order = ['name', 'hosts', 'preset', 'upstream', 'upstreams', 'maxBodySize', 'preserveHost', 'httpsRedirect', 'static', 'rules', 'health'];
  const out: Record<string, unknown> = {};
  for (const key of order) if ((site as Record<string, unknown>)[key] !== undefined) out[key] = (site as Record<string, unknown>)[key];
  for (const [key, value] of Object.entries(site)) if (!(key in out) && value !== undefined) out[key] = value;
  return out as SiteInput;
}

function someDirective(root: Directive, test: (d: Directive) => boolean): boolean {
  return (root.block ?? []).some((d) => test(d) || someDirective(d, test));
}

/** `a.conf:3`, `a.conf:9`, `b.conf:2` → `a.conf:3, 9; b.conf:2`. */
function joinPlaces(places: readonly string[]): string {
  const byFile = new Map<string, string[]>();
  for (const place of places) {
    const at = place.lastIndexOf(':');
    const file = place.slice(0, at);
    byFile.set(file, [...(byFile.get(file) ?? []), place.slice(at + 1)]);
  }
  return [...byFile].map(([file, lines]) => `${file}:${lines.join(', ')}`).join('; ');
}
